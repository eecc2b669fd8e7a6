/**
 * Ceremonies (SPEC §2): opening a proposal, recording approvals, cancelling, expiring, and
 * telling listeners (the executor) when a ceremony is approved.
 *
 * Opening fills in what approvers must see to approve a change knowingly: for a rotation, the
 * outgoing key and the incoming key (generated now in the key store, activated only if the
 * ceremony executes); for a revocation of the active key, its successor likewise; for an
 * approver enrolment, the approver id. The proposal is then fixed: approvals sign its DSSE PAE.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  approvalProgress,
  ceremonyDecider,
  ceremonyStream,
  thresholdFor,
  type CeremonyActionType,
  type CeremonyCommand,
  type CeremonyProposal,
  type CeremonyState,
} from '../../domain/ceremony.ts';
import { parseRfc3339 } from '../../domain/instant.ts';
import { LedgerError } from '../../errors.ts';
import { ceremoniesProjection } from '../../projections/ceremonies.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import type { KeyStore } from '../../store/key-store.ts';
import type { AnchorsService } from '../trust/anchors-service.ts';
import type { ApproversService } from '../trust/approvers-service.ts';
import { handleCommand, type CommandContext } from '../common/command-handler.ts';
import { loadState } from '../common/load-state.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { Logger } from '../common/logger.ts';
import { parseApprovalRequest, parseCancelReason, type CeremonyParams } from './ceremony-request.ts';
import { completeAction } from './complete-action.ts';

// The HTTP routes read request bodies with these parsers (they live in ceremony-request.ts).
export { parseOpenRequest, parseRotationRequest } from './ceremony-request.ts';

const CEREMONY_ID_RE = /^cer-[A-Za-z0-9-]{1,64}$/;
const isCeremonyId = (v: unknown): v is string => typeof v === 'string' && CEREMONY_ID_RE.test(v);

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
}

export interface OpenOptions {
  readonly actor: string;
  /** Deterministic ids (the scheduler derives them from the period); default random. */
  readonly ceremonyId?: string;
  readonly rotationId?: string;
}

const noSuchCeremony = () => new LedgerError('not_found', 'no such ceremony (ids look like cer-…)');

export class CeremonyService {
  private readonly approvedListeners: ((ceremonyId: string) => void)[] = [];

  constructor(private readonly deps: CeremonyServiceDeps) {}

  /** Calls `listener` (not awaited) each time a ceremony reaches `approved` on this instance. */
  onApproved(listener: (ceremonyId: string) => void): void {
    this.approvedListeners.push(listener);
  }

  private approved(ceremonyId: string): void {
    for (const listener of this.approvedListeners) {
      // One failing listener must not fail the approval that was already recorded, nor the others.
      try {
        listener(ceremonyId);
      } catch (err) {
        this.deps.logger.error({ ceremonyId, message: (err as Error)?.message }, 'a ceremony-approved listener failed');
      }
    }
  }

  state(ceremonyId: string): Promise<CeremonyState> {
    return loadState(this.deps.store, ceremonyStream(ceremonyId), ceremonyDecider);
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
    if (!isCeremonyId(ceremonyId)) throw noSuchCeremony();
    const state = await this.state(ceremonyId);
    if (!state.ceremonyId) throw new LedgerError('not_found', `no ceremony ${ceremonyId}`);
    return this.view(state);
  }

  /** Opens a ceremony. With deterministic ids, opening the same ceremony again answers the existing one. */
  async open<T extends CeremonyActionType>(type: T, params: CeremonyParams[T], reason: string, options: OpenOptions): Promise<CeremonyView> {
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
    const action = await completeAction(this.deps, type, params, rotationId);
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
    if (state.state === 'approved') this.approved(ceremonyId);
    return this.view(state);
  }

  /** Records an approval (authorised by the signature itself, not by a token). */
  async approve(ceremonyId: string, body: unknown): Promise<CeremonyView> {
    if (!isCeremonyId(ceremonyId)) throw noSuchCeremony();
    const { approverId, signature } = parseApprovalRequest(body);
    const before = await this.state(ceremonyId);
    if (!before.ceremonyId) throw new LedgerError('not_found', `no ceremony ${ceremonyId}`);
    const { state } = await this.run(ceremonyId, { type: 'Approve', approverId, signature, time: this.deps.now().toISOString() }, `approver:${approverId}`);
    this.deps.logger.info({ ceremonyId, approverId, progress: approvalProgress(state) }, 'approval recorded');
    if (state.state === 'approved' && before.state !== 'approved') this.approved(ceremonyId);
    return this.view(state);
  }

  async cancel(ceremonyId: string, body: unknown, actor: string): Promise<CeremonyView> {
    if (!isCeremonyId(ceremonyId)) throw noSuchCeremony();
    const reason = parseCancelReason(body);
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
      // An expiry that does not read is left to the decider, which refuses it.
      if ((c.state !== 'pending' && c.state !== 'partially-approved') || (parseRfc3339(c.expiresAt) ?? -Infinity) > now.getTime()) continue;
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
