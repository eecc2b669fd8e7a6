/**
 * Ceremonies (SPEC §2): opening a proposal, recording approvals, cancelling, expiring, and
 * handing approved ceremonies to the executor (the rotation service).
 *
 * Opening fills in what approvers must see to approve a change knowingly: for a rotation, the
 * outgoing key and the incoming key (generated now in the key store, activated only if the
 * ceremony executes); for a revocation of the active key, its successor likewise; for an
 * approver enrolment, the approver id. The proposal is then fixed: approvals sign its DSSE PAE.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { decodeBase64Strict } from '../../crypto/dsse.ts';
import { isEd25519Spki, keyIdOf } from '../../crypto/ed25519.ts';
import { assertApproverKey } from '../../domain/approvers.ts';
import {
  approvalProgress,
  CEREMONY_ACTION_TYPES,
  ceremonyDecider,
  ceremonyStream,
  isCeremonyActionType,
  thresholdFor,
  type CeremonyAction,
  type CeremonyActionType,
  type CeremonyCommand,
  type CeremonyEvent,
  type CeremonyProposal,
  type CeremonyState,
} from '../../domain/ceremony.ts';
import { fold } from '../../domain/decider.ts';
import { isKeyId } from '../../domain/keyring.ts';
import { LedgerError } from '../../errors.ts';
import { ceremoniesProjection } from '../../projections/ceremonies.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import type { KeyStore } from '../../store/key-store.ts';
import type { AnchorsService } from '../trust/anchors-service.ts';
import type { ApproversService } from '../trust/approvers-service.ts';
import { handleCommand, type CommandContext } from '../shared/command-handler.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { Logger } from '../shared/logger.ts';

export const CEREMONY_ID_RE = /^cer-[A-Za-z0-9-]{1,64}$/;
export const isCeremonyId = (v: unknown): v is string => typeof v === 'string' && CEREMONY_ID_RE.test(v);
const APPROVER_ID_RE = /^[0-9a-f]{64}$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const MAX_REASON = 1024;

export interface CeremonyView {
  readonly ceremonyId: string;
  readonly proposal: CeremonyProposal;
  readonly proposalDigest: string;
  readonly threshold: number;
  readonly approvers: readonly string[];
  readonly state: NonNullable<CeremonyState['state']>;
  readonly expiresAt: string;
  readonly approvals: readonly { approverId: string; approvedAt: string }[];
  readonly progress: string;
  readonly executedAt: string | null;
  readonly result: unknown;
}

export interface CeremonyServiceDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly keyring: KeyringService;
  readonly keyStore: KeyStore;
  readonly approvers: ApproversService;
  readonly anchors: AnchorsService;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly ttlSeconds: number;
  /** Called (not awaited) when a ceremony reaches `approved`. */
  readonly onApproved: (ceremonyId: string) => void;
}

export interface OpenOptions {
  readonly actor: string;
  /** Deterministic ids (the scheduler derives them from the period); default random. */
  readonly ceremonyId?: string;
  readonly rotationId?: string;
}

const invalid = (message: string, reason: string, field?: string) => new LedgerError('invalid_request', message, { reason, ...(field ? { field } : {}) });
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw invalid(`${where} has an unknown field "${k.slice(0, 40)}"`, 'unknown_field', `${where}.${k.slice(0, 40)}`);
}

/** A ceremony's (or rotation's) reason: a non-empty string of at most MAX_REASON characters. */
export function parseReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > MAX_REASON) throw invalid(`reason must be a non-empty string of at most ${MAX_REASON} characters`, 'invalid_reason', 'reason');
  return reason;
}

/** Validates a `{reason}` body (POST /api/v1/rotations). */
export function parseRotationRequest(body: unknown): string {
  if (!isPlainObject(body)) throw invalid('request body must be a JSON object', 'not_an_object');
  onlyKeys(body, ['reason'], 'body');
  return parseReason(body.reason);
}

/** Validates a caller's `{action, reason}` (attacker input) into an action type, its caller-given parameters and a reason. */
export function parseOpenRequest(body: unknown): { type: CeremonyActionType; params: Record<string, unknown>; reason: string } {
  if (!isPlainObject(body)) throw invalid('request body must be a JSON object', 'not_an_object');
  onlyKeys(body, ['action', 'reason'], 'body');
  const { action } = body;
  const reason = parseReason(body.reason);
  if (!isPlainObject(action) || !isCeremonyActionType(action.type)) throw invalid(`action.type must be one of ${CEREMONY_ACTION_TYPES.join(', ')}`, 'invalid_action', 'action.type');
  const { type, ...params } = action;
  return { type, params, reason };
}

export class CeremonyService {
  constructor(private readonly deps: CeremonyServiceDeps) {}

  async state(ceremonyId: string): Promise<CeremonyState> {
    return fold(ceremonyDecider, (await this.deps.store.readStream(ceremonyStream(ceremonyId))) as unknown as CeremonyEvent[]);
  }

  view(state: CeremonyState): CeremonyView {
    if (!state.ceremonyId || !state.proposal || !state.state || !state.proposalDigest) throw new LedgerError('not_found', 'no such ceremony');
    return {
      ceremonyId: state.ceremonyId,
      proposal: state.proposal,
      proposalDigest: state.proposalDigest,
      threshold: state.threshold,
      approvers: state.approvers.map((a) => a.approverId),
      state: state.state,
      expiresAt: state.proposal.expiresAt,
      approvals: state.approvals.map((a) => ({ approverId: a.approverId, approvedAt: a.approvedAt })),
      progress: approvalProgress(state),
      executedAt: state.executedAt,
      result: state.result,
    };
  }

  async get(ceremonyId: string): Promise<CeremonyView> {
    if (!isCeremonyId(ceremonyId)) throw new LedgerError('not_found', 'no such ceremony (ids look like cer-…)');
    const state = await this.state(ceremonyId);
    if (!state.ceremonyId) throw new LedgerError('not_found', `no ceremony ${ceremonyId}`);
    return this.view(state);
  }

  /** Builds the full action (server-side parameters included) for a validated request. */
  private async completeAction(type: CeremonyActionType, params: Record<string, unknown>, rotationId: string): Promise<CeremonyAction> {
    const keyring = await this.deps.keyring.state();
    const newKey = async () => {
      const generated = await this.deps.keyStore.generate(`sigledger-signing-${rotationId}`);
      return { keyId: generated.keyId, publicKey: generated.publicKeySpki.toString('base64'), backend: this.deps.keyStore.backend, ref: generated.ref };
    };
    switch (type) {
      case 'rotate-key': {
        onlyKeys(params, [], 'action');
        if (keyring.activeKeyId === null) throw new LedgerError('no_active_key', 'no signing key is active');
        return { type, rotationId, keyId: keyring.activeKeyId, newKey: await newKey() };
      }
      case 'revoke-key': {
        onlyKeys(params, ['keyId', 'compromisedSince'], 'action');
        const { keyId, compromisedSince } = params;
        if (!isKeyId(keyId)) throw invalid('action.keyId must be a key id (64 lowercase hex characters)', 'invalid_key_id', 'action.keyId');
        const entry = keyring.keys[keyId];
        if (!entry || entry.status === 'generated') throw new LedgerError('key_not_found', `no published key ${keyId}`);
        if (entry.status === 'revoked') throw new LedgerError('key_state_conflict', `key ${keyId} is already revoked`, { reason: 'already_revoked' });
        let since: string | undefined;
        if (compromisedSince !== undefined) {
          const t = typeof compromisedSince === 'string' && RFC3339_RE.test(compromisedSince) ? Date.parse(compromisedSince) : NaN;
          if (!Number.isFinite(t) || t > this.deps.now().getTime()) throw invalid('action.compromisedSince must be an RFC 3339 instant in the past', 'invalid_compromised_since', 'action.compromisedSince');
          since = new Date(t).toISOString();
        }
        const action: Record<string, CeremonyAction[string]> = { type, rotationId, keyId };
        if (since !== undefined) action.compromisedSince = since;
        if (keyring.activeKeyId === keyId) action.newKey = await newKey();
        return action as CeremonyAction;
      }
      case 'update-anchors': {
        onlyKeys(params, ['thresholds'], 'action');
        if (params.thresholds === undefined) return { type };
        const t = params.thresholds;
        if (!isPlainObject(t)) throw invalid('action.thresholds must be an object', 'invalid_thresholds', 'action.thresholds');
        const thresholds: Record<string, number> = {};
        for (const [k, v] of Object.entries(t)) {
          if (!isCeremonyActionType(k) || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 1000) throw invalid('action.thresholds maps action types to integers 0..1000', 'invalid_thresholds', 'action.thresholds');
          thresholds[k] = v;
        }
        return { type, thresholds };
      }
      case 'enroll-approver': {
        onlyKeys(params, ['publicKey'], 'action');
        const spki = typeof params.publicKey === 'string' && params.publicKey.length <= 200 ? decodeBase64Strict(params.publicKey) : undefined;
        if (!spki || !isEd25519Spki(spki)) throw invalid('action.publicKey must be a base64 DER Ed25519 SubjectPublicKeyInfo', 'invalid_approver_key', 'action.publicKey');
        const approverId = keyIdOf(spki);
        assertApproverKey(approverId, params.publicKey as string);
        if ((await this.deps.approvers.list()).some((a) => a.approverId === approverId)) throw new LedgerError('key_state_conflict', `approver ${approverId} is already enrolled`, { reason: 'already_enrolled' });
        return { type, approverId, publicKey: params.publicKey as string };
      }
      case 'remove-approver': {
        onlyKeys(params, ['approverId'], 'action');
        const { approverId } = params;
        if (typeof approverId !== 'string' || !APPROVER_ID_RE.test(approverId)) throw invalid('action.approverId must be 64 lowercase hex characters', 'invalid_approver_id', 'action.approverId');
        if (!(await this.deps.approvers.list()).some((a) => a.approverId === approverId)) throw new LedgerError('not_found', `no enrolled approver ${approverId}`);
        return { type, approverId };
      }
    }
  }

  /** Opens a ceremony. With deterministic ids, opening the same ceremony again answers the existing one. */
  async open(type: CeremonyActionType, params: Record<string, unknown>, reason: string, options: OpenOptions): Promise<CeremonyView> {
    const suffix = randomUUID();
    const ceremonyId = options.ceremonyId ?? `cer-${suffix}`;
    const rotationId = options.rotationId ?? `rot-${suffix}`;
    if (options.ceremonyId) {
      const existing = await this.state(ceremonyId);
      if (existing.ceremonyId) return this.view(existing);
    }
    const approvers = await this.deps.approvers.list();
    const threshold = thresholdFor(type, approvers.length, this.deps.anchors.thresholds()[type]);
    // Refuse before a new key is generated for a ceremony that could never be approved.
    if (threshold > approvers.length) {
      throw new LedgerError('invalid_request', `threshold ${threshold} cannot be reached with ${approvers.length} enrolled approvers`, { reason: 'threshold_unreachable' });
    }
    const action = await this.completeAction(type, params, rotationId);
    const now = this.deps.now();
    const proposal: CeremonyProposal = {
      action,
      reason,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.deps.ttlSeconds * 1000).toISOString(),
      nonce: randomBytes(16).toString('hex'),
    };
    let state: CeremonyState;
    try {
      state = (await this.run(ceremonyId, { type: 'OpenCeremony', ceremonyId, proposal, threshold, approvers }, options.actor)).state;
    } catch (err) {
      // Another instance opened the same deterministic ceremony first: answer that one.
      if (err instanceof LedgerError && err.code === 'key_state_conflict' && options.ceremonyId) return this.view(await this.state(ceremonyId));
      throw err;
    }
    this.deps.logger.info({ ceremonyId, action: type, threshold, actor: options.actor }, 'ceremony opened');
    if (state.state === 'approved') this.deps.onApproved(ceremonyId);
    return this.view(state);
  }

  /** Records an approval (authorised by the signature itself, not by a token). */
  async approve(ceremonyId: string, body: unknown): Promise<CeremonyView> {
    if (!isCeremonyId(ceremonyId)) throw new LedgerError('not_found', 'no such ceremony (ids look like cer-…)');
    if (!isPlainObject(body)) throw invalid('request body must be a JSON object', 'not_an_object');
    onlyKeys(body, ['approverId', 'signature'], 'body');
    const { approverId, signature } = body;
    if (typeof approverId !== 'string' || !APPROVER_ID_RE.test(approverId)) throw invalid('approverId must be 64 lowercase hex characters', 'invalid_approver_id', 'approverId');
    if (typeof signature !== 'string' || signature.length > 200) throw invalid('signature must be a base64 Ed25519 signature', 'invalid_signature', 'signature');
    const before = await this.state(ceremonyId);
    if (!before.ceremonyId) throw new LedgerError('not_found', `no ceremony ${ceremonyId}`);
    const { state } = await this.run(ceremonyId, { type: 'Approve', approverId, signature, time: this.deps.now().toISOString() }, `approver:${approverId}`);
    this.deps.logger.info({ ceremonyId, approverId, progress: approvalProgress(state) }, 'approval recorded');
    if (state.state === 'approved' && before.state !== 'approved') this.deps.onApproved(ceremonyId);
    return this.view(state);
  }

  async cancel(ceremonyId: string, body: unknown, actor: string): Promise<CeremonyView> {
    if (!isCeremonyId(ceremonyId)) throw new LedgerError('not_found', 'no such ceremony (ids look like cer-…)');
    const reason = isPlainObject(body) && typeof body.reason === 'string' ? body.reason : 'cancelled';
    if (reason.length > MAX_REASON) throw invalid(`reason must be at most ${MAX_REASON} characters`, 'invalid_reason', 'reason');
    const before = await this.state(ceremonyId);
    if (!before.ceremonyId) throw new LedgerError('not_found', `no ceremony ${ceremonyId}`);
    if (before.state === 'approved') throw new LedgerError('key_state_conflict', `ceremony ${ceremonyId} is approved and executing: it can no longer be cancelled`, { reason: 'approved' });
    const { state } = await this.run(ceremonyId, { type: 'Cancel', reason, actor, time: this.deps.now().toISOString() }, actor);
    this.deps.logger.info({ ceremonyId, actor }, 'ceremony cancelled');
    return this.view(state);
  }

  /** Expires every open ceremony whose expiry has passed (run periodically). */
  async expireDue(): Promise<number> {
    const now = this.deps.now();
    let expired = 0;
    for (const c of ceremoniesProjection.ceremonies(this.deps.readModel, 10_000)) {
      if ((c.state !== 'pending' && c.state !== 'partially-approved') || Date.parse(c.expiresAt) > now.getTime()) continue;
      const result = await this.run(c.ceremonyId, { type: 'Expire', time: now.toISOString() }, 'system:expiry').catch(() => undefined);
      if (result?.position !== undefined) expired++;
    }
    return expired;
  }

  /** Ceremonies that are approved but not executed (to resume after a restart). */
  approvedPending(): string[] {
    return ceremoniesProjection
      .ceremonies(this.deps.readModel, 10_000)
      .filter((c) => c.state === 'approved')
      .map((c) => c.ceremonyId);
  }

  run(ceremonyId: string, command: CeremonyCommand, actor: string) {
    const time = this.deps.now().toISOString();
    return handleCommand(this.deps, ceremonyStream(ceremonyId), ceremonyDecider, command, {
      metadata: { time, correlationId: randomUUID(), actor },
      waitForProjections: true,
    });
  }
}
