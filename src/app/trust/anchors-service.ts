/**
 * Publishes trust-anchor versions (stream `anchors`) and tells subscribers (the SSE route) about
 * new ones. A version is derived from the authoritative streams — the key registry, the approver
 * set — plus the ceremony that caused it, whose approvals become the version's signatures (see
 * src/domain/anchors.ts for how a consumer checks version N+1 against N).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { ANCHORS_STREAM, anchorsDecider, governanceOf, type AnchorApprover, type AnchorKey, type AnchorsCeremony, type AnchorsDocument } from '../../domain/anchors.ts';
import { activeApprovers, APPROVERS_STREAM, approversDecider } from '../../domain/approvers.ts';
import type { CeremonyActionType } from '../../domain/ceremony.ts';
import type { Governance } from '../../domain/governance.ts';
import { LedgerError } from '../../errors.ts';
import { KEYRING_STREAM, keyringDecider } from '../../domain/keyring.ts';
import { anchorsProjection, type Anchors } from '../../projections/anchors.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import { handleCommand, type CommandContext } from '../common/command-handler.ts';
import { foldRecorded } from '../common/load-state.ts';
import type { Logger } from '../common/logger.ts';

export interface AnchorsServiceDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Thresholds recorded in the first version (later changed by update-anchors ceremonies only). */
  readonly initialThresholds: Partial<Record<CeremonyActionType, number>>;
}

export interface PublishInput {
  readonly ceremony: AnchorsCeremony | null;
  readonly signatures: { keyid: string; sig: string }[];
  /** New thresholds (update-anchors); default: keep the latest version's. */
  readonly thresholds?: Partial<Record<CeremonyActionType, number>>;
}

export class AnchorsService {
  private readonly events = new EventEmitter();
  private lastNotified = 0;

  constructor(private readonly deps: AnchorsServiceDeps) {
    this.events.setMaxListeners(0);
  }

  latest(): Anchors | undefined {
    return anchorsProjection.latest(this.deps.readModel);
  }

  /** Thresholds in force: the latest version's (or the initial ones before the first version). */
  thresholds(): Partial<Record<CeremonyActionType, number>> {
    return this.latest()?.thresholds ?? this.deps.initialThresholds;
  }

  /** The governance (approvers, thresholds) of the newest version the store holds: ceremonies are decided under it. */
  async governanceInForce(): Promise<Governance> {
    return governanceOf(await this.inForce());
  }

  /** The newest version as the store has it (not the read model): what an execution is checked against. */
  async inForce(): Promise<AnchorsDocument> {
    const [last] = await this.deps.store.readStream(ANCHORS_STREAM, { direction: 'backwards', maxCount: 1 });
    if (!last) throw new LedgerError('not_ready', 'no trust anchors are published yet');
    return last.data as unknown as AnchorsDocument;
  }

  /** The version a ceremony published, if any (versions are few: one per key or governance change). */
  publishedBy(ceremonyId: string): number | undefined {
    return this.since(0).find((v) => v.ceremony?.ceremonyId === ceremonyId)?.version;
  }

  /** Publishes the first version when there is none (initialisation). */
  async ensureInitial(): Promise<void> {
    const history = await this.deps.store.readStream(ANCHORS_STREAM, { maxCount: 1 });
    if (history.length === 0) await this.publish({ ceremony: null, signatures: [] });
  }

  /** Publishes the next version from the current keys and approvers; nothing when they are unchanged. */
  async publish(input: PublishInput): Promise<void> {
    const [keyringEvents, approverEvents, anchorEvents] = await Promise.all([
      this.deps.store.readStream(KEYRING_STREAM),
      this.deps.store.readStream(APPROVERS_STREAM),
      this.deps.store.readStream(ANCHORS_STREAM),
    ]);
    const keyring = foldRecorded(keyringDecider, keyringEvents);
    const latest = foldRecorded(anchorsDecider, anchorEvents).latest;
    if (input.ceremony && (latest?.ceremony?.ceremonyId === input.ceremony.ceremonyId || this.publishedBy(input.ceremony.ceremonyId) !== undefined)) return; // already published
    const keys: Record<string, AnchorKey> = {};
    for (const k of Object.values(keyring.keys).sort((a, b) => (a.keyId < b.keyId ? -1 : 1))) {
      if (k.status === 'generated' || k.validFor.start === undefined) continue;
      keys[k.keyId] = { rawBytes: k.publicKey, keyDetails: 'PKIX_ED25519', validFor: { start: k.validFor.start, ...(k.validFor.end !== undefined ? { end: k.validFor.end } : {}) } };
    }
    const approvers: Record<string, AnchorApprover> = {};
    for (const a of activeApprovers(foldRecorded(approversDecider, approverEvents))) approvers[a.approverId] = { rawBytes: a.publicKey, keyDetails: 'PKIX_ED25519' };
    const thresholds = input.thresholds ?? latest?.thresholds ?? this.deps.initialThresholds;
    const time = this.deps.now().toISOString();
    const result = await handleCommand(
      this.deps,
      ANCHORS_STREAM,
      anchorsDecider,
      { type: 'PublishAnchors', keys, approvers, thresholds: { ...thresholds }, ceremony: input.ceremony, signatures: input.signatures, time },
      { metadata: { time, correlationId: randomUUID(), actor: input.ceremony ? `ceremony:${input.ceremony.ceremonyId}` : 'system:init' }, waitForProjections: true },
    );
    if (result.position !== undefined) this.deps.logger.info({ version: result.state.latest?.version, ceremonyId: input.ceremony?.ceremonyId ?? null }, 'published trust anchors');
    this.notify();
  }

  /**
   * Called after each projection batch: emits the versions subscribers have not seen. Answers
   * whether a new version arrived (every key change publishes one, so the caller reloads its
   * active key only then).
   */
  notify(): boolean {
    const latest = this.latest();
    if (!latest || latest.version <= this.lastNotified) return false;
    const from = this.lastNotified;
    this.lastNotified = latest.version;
    if (from === 0) return true; // start-up: nothing was announced before
    for (const v of anchorsProjection.since(this.deps.readModel, from)) this.events.emit('version', v);
    return true;
  }

  /** Versions after `afterVersion` (for a subscriber resuming with Last-Event-ID). */
  since(afterVersion: number): Anchors[] {
    return anchorsProjection.since(this.deps.readModel, afterVersion);
  }

  subscribe(listener: (anchors: Anchors) => void): () => void {
    this.events.on('version', listener);
    return () => this.events.off('version', listener);
  }
}
