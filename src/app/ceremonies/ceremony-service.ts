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
import type { CeremonyAction } from '../../domain/ceremony-action.ts';
import {
  approvalProgress,
  ceremonyDecider,
  ceremonyStream,
  isOpened,
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
import { incomingKeyOf, PendingKeys } from './pending-keys.ts';

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
  /** The anchors version it was last decided under (null for ceremonies from before this was recorded). */
  readonly anchorsVersion: number | null;
  /** Why its standing last changed when the anchors changed while it was open; null when it never did. */
  readonly reevaluation: { readonly at: string; readonly anchorsVersion: number; readonly reason: string; readonly dropped: readonly string[] } | null;
  /** Who cancelled it and why (`system:governance` when new anchors voided it). */
  readonly cancelled: { readonly at: string; readonly by: string; readonly reason: string } | null;
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
  /** Incoming keys of ceremonies that end without executing are destroyed through this. */
  readonly keys: PendingKeys;

  constructor(private readonly deps: CeremonyServiceDeps) {
    this.keys = new PendingKeys(deps);
  }

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
      anchorsVersion: state.anchorsVersion,
      reevaluation: state.reevaluation,
      cancelled: state.cancelledAt !== null ? { at: state.cancelledAt, by: state.cancelledBy ?? '', reason: state.cancelReason ?? '' } : null,
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
    const governance = await this.deps.anchors.governanceInForce();
    const now = this.deps.now();
    const proposalOf = (action: CeremonyAction): CeremonyProposal => ({
      action,
      reason,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.deps.ttlSeconds * 1000).toISOString(),
      nonce,
    });
    const nonce = randomBytes(16).toString('hex');
    // Decide on a draft first (an incoming key stands in as a placeholder), so a request the
    // decider refuses never generates a key.
    const draft = await completeAction(this.deps, type, params, rotationId, 'draft');
    ceremonyDecider.decide({ type: 'OpenCeremony', ceremonyId, proposal: proposalOf(draft), governance }, ceremonyDecider.initialState());
    const action = await completeAction(this.deps, type, params, rotationId, 'final');
    let state: CeremonyState;
    try {
      state = (await this.run(ceremonyId, { type: 'OpenCeremony', ceremonyId, proposal: proposalOf(action), governance }, options.actor)).state;
    } catch (err) {
      // Nothing was opened with the key generated for it: destroy it (a crash here leaves it, unreferenced by any event).
      await this.keys.discard(incomingKeyOf(action), 'the ceremony was not opened');
      // Another instance opened the same deterministic ceremony first: answer that one.
      if (err instanceof LedgerError && err.code === 'key_state_conflict' && options.ceremonyId) return this.view(await this.state(ceremonyId));
      throw err;
    }
    this.deps.logger.info({ ceremonyId, action: type, threshold: state.threshold, anchorsVersion: governance.version, actor: options.actor }, 'ceremony opened');
    if (state.state === 'approved') this.approved(ceremonyId);
    return this.view(state);
  }

  /** Records an approval (authorised by the signature itself, not by a token). */
  async approve(ceremonyId: string, body: unknown): Promise<CeremonyView> {
    if (!isCeremonyId(ceremonyId)) throw noSuchCeremony();
    const { approverId, signature } = parseApprovalRequest(body);
    const before = await this.state(ceremonyId);
    if (!before.ceremonyId) throw new LedgerError('not_found', `no ceremony ${ceremonyId}`);
    const governance = await this.deps.anchors.governanceInForce();
    const { state } = await this.run(ceremonyId, { type: 'Approve', approverId, signature, time: this.deps.now().toISOString(), governance }, `approver:${approverId}`);
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
    if (state.state === 'cancelled') await this.keys.discard(incomingKeyOf(state.proposal?.action), 'cancelled');
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
      if (result?.state.state === 'expired') await this.keys.discard(incomingKeyOf(result.state.proposal?.action), 'expired');
    }
    return expired;
  }

  /**
   * Re-decides every open ceremony under the anchors now in force (after a version changed
   * approvers or thresholds, and at start-up): approvals of approvers no longer enrolled stop
   * counting, thresholds become the current ones, ceremonies that can no longer be approved are
   * voided. Answers the ceremonies that became approved (the caller executes them).
   */
  async reevaluateOpen(): Promise<string[]> {
    const governance = await this.deps.anchors.governanceInForce();
    const approved: string[] = [];
    for (const c of ceremoniesProjection.ceremonies(this.deps.readModel, 10_000)) {
      if (c.state !== 'pending' && c.state !== 'partially-approved' && c.state !== 'approved') continue;
      const before = await this.state(c.ceremonyId);
      if (!isOpened(before)) continue;
      const result = await this.run(c.ceremonyId, { type: 'Reevaluate', time: this.deps.now().toISOString(), governance }, 'system:governance').catch((err: unknown) => {
        this.deps.logger.warn({ ceremonyId: c.ceremonyId, code: err instanceof LedgerError ? err.code : 'internal' }, 'could not re-evaluate an open ceremony');
        return undefined;
      });
      if (!result || result.position === undefined) continue;
      const after = result.state;
      this.deps.logger.info({ ceremonyId: c.ceremonyId, anchorsVersion: governance.version, state: after.state, reason: after.reevaluation?.reason ?? after.cancelReason }, 'ceremony re-evaluated under new anchors');
      // A voided ceremony that was never approved cannot be executing: its incoming key goes.
      if (after.state === 'cancelled' && before.state !== 'approved') await this.keys.discard(incomingKeyOf(after.proposal?.action), 'voided by new anchors');
      if (after.state === 'approved' && before.state !== 'approved') {
        approved.push(c.ceremonyId);
        this.approved(c.ceremonyId);
      }
    }
    return approved;
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
