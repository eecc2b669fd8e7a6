/**
 * The enrolled approver set as one event-sourced aggregate (stream `approvers`). An approver is
 * an Ed25519 public key; its id is the key id (lowercase hex SHA-256 of the DER SPKI), so the id
 * and the key can never disagree. Ceremonies snapshot this set when they open; enrolling or
 * removing an approver is itself normally the outcome of a ceremony (`ceremonyId`), except for
 * the bootstrap enrolment (`ceremonyId: null`).
 *
 * Rules: commands are idempotent (enrolling the same key again, or removing an absent approver,
 * decides nothing); enrolling a known id with another key is a `key_state_conflict`; the last
 * approver cannot be removed (the ledger would be left without anyone able to approve).
 */
import { decodeBase64Strict } from '../crypto/dsse.ts';
import { isEd25519Spki, keyIdOf } from '../crypto/ed25519.ts';
import { LedgerError } from '../errors.ts';
import type { Decider, DomainEvent } from './decider.ts';

export const APPROVERS_STREAM = 'approvers';

export type Approver = {
  readonly approverId: string;
  /** base64 DER SubjectPublicKeyInfo (Ed25519). */
  readonly publicKey: string;
};

export type ApproverEnrolled = DomainEvent<'ApproverEnrolled', { approverId: string; publicKey: string; enrolledAt: string; ceremonyId: string | null }>;
export type ApproverRemoved = DomainEvent<'ApproverRemoved', { approverId: string; removedAt: string; ceremonyId: string }>;
export type ApproversEvent = ApproverEnrolled | ApproverRemoved;

export interface ApproversState {
  readonly approvers: Readonly<Record<string, Approver>>;
}

export type EnrollApprover = {
  readonly type: 'EnrollApprover';
  readonly approverId: string;
  readonly publicKey: string;
  readonly time: string;
  /** The ceremony that decided the enrolment; null (or absent) for the bootstrap enrolment. */
  readonly ceremonyId?: string | null;
};
export type RemoveApprover = { readonly type: 'RemoveApprover'; readonly approverId: string; readonly time: string; readonly ceremonyId: string };
export type ApproversCommand = EnrollApprover | RemoveApprover;

/**
 * Checks that `publicKey` is a base64 DER Ed25519 SPKI whose key id is `approverId`.
 * Throws `invalid_request` (details.reason `invalid_approver_key` / `approver_id_mismatch`).
 */
function assertApproverKey(approverId: string, publicKey: string): void {
  const spki = typeof publicKey === 'string' ? decodeBase64Strict(publicKey) : undefined;
  if (!spki || !isEd25519Spki(spki)) {
    throw new LedgerError('invalid_request', `approver ${String(approverId)}: public key is not a base64 DER Ed25519 SubjectPublicKeyInfo`, { reason: 'invalid_approver_key', approverId });
  }
  if (keyIdOf(spki) !== approverId) {
    throw new LedgerError('invalid_request', `approver id ${String(approverId)} is not the key id (SHA-256 of the SPKI) of its public key`, { reason: 'approver_id_mismatch', approverId });
  }
}

/** The enrolled approvers, ordered by id (deterministic snapshots). */
export function activeApprovers(state: ApproversState): Approver[] {
  return Object.values(state.approvers)
    .map((a) => ({ approverId: a.approverId, publicKey: a.publicKey }))
    .sort((a, b) => (a.approverId < b.approverId ? -1 : a.approverId > b.approverId ? 1 : 0));
}

function evolve(state: ApproversState, event: ApproversEvent): ApproversState {
  switch (event.type) {
    case 'ApproverEnrolled': {
      const { approverId, publicKey } = event.data;
      return { approvers: { ...state.approvers, [approverId]: { approverId, publicKey } } };
    }
    case 'ApproverRemoved': {
      if (!(event.data.approverId in state.approvers)) return state;
      const approvers = { ...state.approvers };
      delete approvers[event.data.approverId];
      return { approvers };
    }
  }
}

function decide(command: ApproversCommand, state: ApproversState): ApproversEvent[] {
  const existing = Object.hasOwn(state.approvers, command.approverId) ? state.approvers[command.approverId] : undefined;
  switch (command.type) {
    case 'EnrollApprover': {
      assertApproverKey(command.approverId, command.publicKey);
      if (existing) {
        if (existing.publicKey === command.publicKey) return [];
        throw new LedgerError('key_state_conflict', `approver ${command.approverId} is already enrolled with another key`, { reason: 'approver_key_conflict', approverId: command.approverId });
      }
      return [{ type: 'ApproverEnrolled', data: { approverId: command.approverId, publicKey: command.publicKey, enrolledAt: command.time, ceremonyId: command.ceremonyId ?? null } }];
    }
    case 'RemoveApprover': {
      if (!existing) return [];
      if (Object.keys(state.approvers).length <= 1) {
        throw new LedgerError('key_state_conflict', `approver ${command.approverId} is the last enrolled approver and cannot be removed`, { reason: 'last_approver', approverId: command.approverId });
      }
      return [{ type: 'ApproverRemoved', data: { approverId: command.approverId, removedAt: command.time, ceremonyId: command.ceremonyId } }];
    }
  }
}

export const approversDecider: Decider<ApproversState, ApproversCommand, ApproversEvent> = {
  initialState: () => ({ approvers: {} }),
  evolve,
  decide,
};
