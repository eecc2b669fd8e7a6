/**
 * Executes approved ceremonies, and runs rotations (a process manager over several streams).
 *
 * A rotate-key ceremony executes as:
 *   1. `RotationStarted` in `rotation-<id>` (the first instance to append wins);
 *   2. key registry: the incoming key (generated when the ceremony opened) is registered and
 *      activated, which retires the outgoing key at the transition instant T (whole second);
 *   3. the key transition attestation, signed by both keys and timestamped, `KeyTransitionAttested`;
 *   4. the next trust-anchors version, carrying the ceremony's approvals; the ceremony is marked
 *      executed;
 *   5. re-signing: every bundle whose latest version is by the outgoing key is verified with it
 *      (a failure is recorded, never re-signed), signed by the incoming key, and appended as the
 *      next version together with its re-signing attestation — one atomic append per bundle,
 *      with the bundle stream's revision as expected revision, so no bundle is re-signed twice;
 *   6. `RotationCompleted`.
 * Every step is idempotent and decided from the streams, so after a crash (or on another
 * instance) `resume()` continues from wherever it stopped. A revoke-key ceremony follows the same
 * path (rotating first when the revoked key is the active one) and re-signs only what the
 * revoked key signed at or after `compromisedSince`.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeBase64Strict, pae, signEnvelope, type DsseEnvelope } from '../../crypto/dsse.ts';
import { ed25519Verify, publicKeyFromSpki } from '../../crypto/ed25519.ts';
import { jcsBytes } from '../../crypto/jcs.ts';
import { APPROVERS_STREAM, approversDecider, type ApproversCommand } from '../../domain/approvers.ts';
import { ATTESTATION_PAYLOAD_TYPE, envelopeDigest, keyTransitionStatement, resignStatement } from '../../domain/attestations.ts';
import { awaitsResigning, bundleDecider, bundleStream, latestVersion, type BundleEvent } from '../../domain/bundle.ts';
import { envelopeJson } from '../../crypto/dsse.ts';
import type { CeremonyState } from '../../domain/ceremony.ts';
import { fold } from '../../domain/decider.ts';
import { KEYRING_STREAM, keyringDecider, type KeyringCommand } from '../../domain/keyring.ts';
import { rotationDecider, rotationStream, type RotationCommand, type RotationEvent, type RotationState } from '../../domain/rotation.ts';
import { ConcurrencyError, isLedgerError, LedgerError } from '../../errors.ts';
import { bundlesProjection } from '../../projections/bundles.ts';
import { ceremoniesProjection } from '../../projections/ceremonies.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import type { AnchorsService } from '../trust/anchors-service.ts';
import type { CeremonyService } from './ceremony-service.ts';
import { handleCommand, handleCommands, type CommandContext } from '../shared/command-handler.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { wholeSecond } from '../shared/time.ts';
import type { TsaService } from '../timestamping/tsa-service.ts';

export interface RotationServiceDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly keyring: KeyringService;
  readonly tsa: TsaService;
  readonly anchors: AnchorsService;
  readonly ceremonies: () => CeremonyService;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly now: () => Date;
  /** Bundles re-signed concurrently per batch (default 64). */
  readonly batchSize?: number;
  /** Pause between batches so live signing keeps the event loop (default 0: one macrotask turn). */
  readonly pauseMs?: number;
}

export interface RotationView {
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly kind: 'rotate' | 'revoke';
  readonly state: string;
  readonly reason: string;
  readonly oldKeyId: string | null;
  readonly newKeyId: string | null;
  readonly createdAt: string;
  readonly completedAt: string | null;
  readonly progress: { readonly resigned: number; readonly remaining: number; readonly failed: number };
}

interface Target {
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly oldKeyId: string;
  readonly newKeyId: string;
  readonly reason: string;
  readonly since: string | null;
}

type ResignOutcome = 'resigned' | 'failed' | 'skipped';

export class RotationService {
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly deps: RotationServiceDeps) {}

  stop(): void {
    this.stopped = true;
  }

  /** Waits for every execution in flight on this instance. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  // ---------------------------------------------------------------- views

  list(): RotationView[] {
    return ceremoniesProjection.rotations(this.deps.readModel).map((r) => this.view(r.rotationId)!);
  }

  view(rotationId: string): RotationView | undefined {
    const r = ceremoniesProjection.rotation(this.deps.readModel, rotationId);
    if (!r) return undefined;
    const resigning = r.state === 'rotating' || r.state === 'resigning';
    const remaining = resigning && r.oldKeyId ? this.remaining(r.rotationId, r.oldKeyId, r.resignSince) : 0;
    return {
      rotationId: r.rotationId,
      ceremonyId: r.ceremonyId,
      kind: r.kind,
      state: r.state,
      reason: r.reason,
      oldKeyId: r.oldKeyId,
      newKeyId: r.newKeyId,
      createdAt: r.createdAt,
      completedAt: r.completedAt,
      progress: { resigned: r.resigned, remaining, failed: r.failed },
    };
  }

  /** The view plus the key transition attestation (its DSSE envelope, signed by both keys). */
  async detail(rotationId: string): Promise<(RotationView & { transitionAttestation: { envelope: DsseEnvelope; transitionAt: string } | null }) | undefined> {
    const view = this.view(rotationId);
    if (!view) return undefined;
    const state = await this.rotationState(rotationId);
    return { ...view, transitionAttestation: state.transition ? { envelope: state.transition.envelope, transitionAt: state.transition.transitionAt } : null };
  }

  private readonly remainingCache = new Map<string, { at: number; value: number }>();

  /** Bundles still awaiting re-signing; counting is O(remaining), so a count is reused for a second. */
  private remaining(rotationId: string, keyId: string, since: string | null): number {
    const hit = this.remainingCache.get(rotationId);
    if (hit && Date.now() - hit.at < 1000) return hit.value;
    const value = bundlesProjection.countLatestByKey(this.deps.readModel, keyId, since ?? undefined);
    if (this.remainingCache.size > 64) this.remainingCache.clear();
    this.remainingCache.set(rotationId, { at: Date.now(), value });
    return value;
  }

  // ---------------------------------------------------------------- execution

  /** Executes an approved ceremony (single flight per ceremony on this instance); errors are logged. */
  execute(ceremonyId: string): Promise<void> {
    let p = this.running.get(ceremonyId);
    if (!p) {
      p = this.executeOnce(ceremonyId)
        .catch((err: unknown) => {
          this.deps.logger.error({ ceremonyId, code: isLedgerError(err) ? err.code : 'internal', message: (err as Error)?.message }, 'ceremony execution failed; it resumes at the next start or approval');
        })
        .finally(() => this.running.delete(ceremonyId));
      this.running.set(ceremonyId, p);
    }
    return p;
  }

  /** At start-up: executes approved ceremonies and finishes rotations that did not complete. */
  async resume(): Promise<void> {
    const ids = new Set(this.deps.ceremonies().approvedPending());
    for (const r of ceremoniesProjection.rotations(this.deps.readModel)) if (r.state === 'rotating' || r.state === 'resigning') ids.add(r.ceremonyId);
    for (const id of ids) void this.execute(id);
  }

  private async executeOnce(ceremonyId: string): Promise<void> {
    const ceremonies = this.deps.ceremonies();
    const ceremony = await ceremonies.state(ceremonyId);
    if (ceremony.state !== 'approved' && ceremony.state !== 'executed') return;
    const action = ceremony.proposal!.action as Record<string, unknown>;
    switch (action.type) {
      case 'rotate-key':
      case 'revoke-key':
        return this.rotate(ceremony);
      case 'update-anchors':
        await this.publishAnchors(ceremony, action.thresholds as Record<string, number> | undefined);
        await this.markExecuted(ceremony, { anchorsVersion: this.deps.anchors.latest()?.version ?? null });
        return;
      case 'enroll-approver':
      case 'remove-approver': {
        const time = this.time();
        const command: ApproversCommand =
          action.type === 'enroll-approver'
            ? { type: 'EnrollApprover', approverId: action.approverId as string, publicKey: action.publicKey as string, time, ceremonyId: ceremony.ceremonyId! }
            : { type: 'RemoveApprover', approverId: action.approverId as string, time, ceremonyId: ceremony.ceremonyId! };
        await handleCommand(this.deps, APPROVERS_STREAM, approversDecider, command, { metadata: this.metadata(ceremony), waitForProjections: true });
        await this.publishAnchors(ceremony);
        await this.markExecuted(ceremony, { approverId: action.approverId as string });
        return;
      }
    }
  }

  private time(): string {
    return this.deps.now().toISOString();
  }

  private metadata(ceremony: CeremonyState) {
    return { time: this.time(), correlationId: randomUUID(), actor: `ceremony:${ceremony.ceremonyId}` };
  }

  private async publishAnchors(ceremony: CeremonyState, thresholds?: Record<string, number>): Promise<void> {
    const approved = new Set(ceremony.approverIds);
    await this.deps.anchors.publish({
      ceremony: { ceremonyId: ceremony.ceremonyId!, proposal: ceremony.proposal!, proposalDigest: ceremony.proposalDigest! },
      signatures: ceremony.approvals.filter((a) => approved.has(a.approverId)).map((a) => ({ keyid: a.approverId, sig: a.signature })),
      ...(thresholds ? { thresholds } : {}),
    });
  }

  private async markExecuted(ceremony: CeremonyState, result: Record<string, string | number | null>): Promise<void> {
    if (ceremony.state === 'executed') return;
    await this.deps.ceremonies().run(ceremony.ceremonyId!, { type: 'MarkExecuted', time: this.time(), result }, `ceremony:${ceremony.ceremonyId}`);
    this.deps.logger.info({ ceremonyId: ceremony.ceremonyId, ...result }, 'ceremony executed');
  }

  private async rotationState(rotationId: string): Promise<RotationState> {
    return fold(rotationDecider, (await this.deps.store.readStream(rotationStream(rotationId))) as unknown as RotationEvent[]);
  }

  private runRotation(rotationId: string, command: RotationCommand, ceremony: CeremonyState) {
    return handleCommand(this.deps, rotationStream(rotationId), rotationDecider, command, { metadata: this.metadata(ceremony), waitForProjections: true });
  }

  private async rotate(ceremony: CeremonyState): Promise<void> {
    const action = ceremony.proposal!.action as {
      type: 'rotate-key' | 'revoke-key';
      rotationId: string;
      keyId: string;
      compromisedSince?: string;
      newKey?: { keyId: string; publicKey: string; backend: 'file' | 'pkcs11'; ref: string };
    };
    const { rotationId } = action;
    const ceremonyId = ceremony.ceremonyId!;
    let rotation = await this.rotationState(rotationId);

    // 1. start
    if (!rotation.started) {
      const keyring = await this.deps.keyring.state();
      const successor = action.newKey?.keyId ?? keyring.activeKeyId;
      if (successor === null) throw new LedgerError('no_active_key', 'no signing key is active');
      if (action.type === 'rotate-key' && keyring.activeKeyId !== action.keyId) {
        // Another rotation replaced the key this ceremony was about: nothing is left to rotate.
        this.deps.logger.warn({ ceremonyId, rotationId, keyId: action.keyId, active: keyring.activeKeyId }, 'rotation superseded: its outgoing key is no longer active');
        await this.markExecuted(ceremony, { rotationId, superseded: 1 });
        return;
      }
      const T = wholeSecond(this.deps.now()).toISOString();
      rotation = (
        await this.runRotation(
          rotationId,
          {
            type: 'StartRotation',
            rotationId,
            ceremonyId,
            kind: action.type === 'rotate-key' ? 'rotate' : 'revoke',
            oldKeyId: action.keyId,
            newKeyId: successor,
            reason: ceremony.proposal!.reason,
            resignSince: action.type === 'revoke-key' ? (action.compromisedSince ?? T) : null,
            startedAt: T,
          },
          ceremony,
        )
      ).state;
    }
    const started = rotation.started!;

    // 2. key registry
    const T = started.startedAt;
    const commands: KeyringCommand[] = [];
    const before = await this.deps.keyring.state();
    // Only a key still waiting for its ceremony is activated (a resumed rotation may find it done, or superseded).
    if (action.newKey && (before.keys[action.newKey.keyId] === undefined || before.keys[action.newKey.keyId]!.status === 'generated')) {
      const k = action.newKey;
      commands.push({ type: 'RegisterKey', keyId: k.keyId, publicKey: k.publicKey, backend: k.backend, ref: k.ref, label: 'signing', time: T });
      commands.push({ type: 'ActivateKey', keyId: k.keyId, reason: `${action.type}: ${ceremony.proposal!.reason}`.slice(0, 1100), time: T });
    }
    if (action.type === 'revoke-key') commands.push({ type: 'RevokeKey', keyId: action.keyId, reason: ceremony.proposal!.reason, time: T, ...(action.compromisedSince ? { compromisedSince: action.compromisedSince } : {}) });
    const keyring = (await handleCommands(this.deps, KEYRING_STREAM, keyringDecider, commands, { metadata: this.metadata(ceremony), waitForProjections: true })).state;
    await this.deps.keyring.refresh(keyring);

    // 3. key transition attestation (when a new key came in)
    if (action.newKey && !rotation.transition) {
      const oldEntry = keyring.keys[started.oldKeyId]!;
      const newEntry = keyring.keys[started.newKeyId]!;
      const transitionAt = newEntry.validFor.start ?? T;
      const byId = new Map(ceremony.approvers.map((a) => [a.approverId, a.publicKey]));
      const approved = new Set(ceremony.approverIds);
      const statement = keyTransitionStatement({
        oldKeyId: oldEntry.keyId,
        newKeyId: newEntry.keyId,
        oldPublicKey: oldEntry.publicKey,
        newPublicKey: newEntry.publicKey,
        transitionAt,
        reason: ceremony.proposal!.reason,
        rotationId,
        ceremonyId,
        proposal: ceremony.proposal!,
        proposalDigest: ceremony.proposalDigest!,
        threshold: ceremony.threshold,
        approvals: ceremony.approvals.filter((a) => approved.has(a.approverId)).map((a) => ({ approverId: a.approverId, publicKey: byId.get(a.approverId) ?? '', signature: a.signature })),
      });
      const [oldHandle, newHandle] = await Promise.all([this.deps.keyring.handle(oldEntry), this.deps.keyring.handle(newEntry)]);
      const envelope = await signEnvelope(ATTESTATION_PAYLOAD_TYPE, jcsBytes(statement), [
        { keyId: oldEntry.keyId, sign: (m) => oldHandle.sign(m) },
        { keyId: newEntry.keyId, sign: (m) => newHandle.sign(m) },
      ]);
      const timestamp = await this.deps.tsa.timestampSignature(Buffer.from(envelope.signatures[1]!.sig, 'base64'));
      rotation = (
        await this.runRotation(
          rotationId,
          { type: 'AttestTransition', rotationId, oldKeyId: oldEntry.keyId, newKeyId: newEntry.keyId, transitionAt, envelope: envelopeJson(envelope), timestamps: [timestamp] },
          ceremony,
        )
      ).state;
    }

    // 4. anchors and the ceremony's execution
    await this.publishAnchors(ceremony);
    await this.markExecuted(ceremony, { rotationId, oldKeyId: started.oldKeyId, newKeyId: started.newKeyId });
    this.deps.logger.info({ rotationId, oldKeyId: started.oldKeyId, newKeyId: started.newKeyId }, 'key transition done; re-signing');

    // 5. re-signing
    if (!rotation.completed) {
      const totals = await this.resignAll({ rotationId, ceremonyId, oldKeyId: started.oldKeyId, newKeyId: started.newKeyId, reason: ceremony.proposal!.reason, since: started.resignSince });
      if (this.stopped) return;
      // 6. done
      const summary = ceremoniesProjection.rotation(this.deps.readModel, rotationId);
      await this.runRotation(
        rotationId,
        { type: 'CompleteRotation', rotationId, resigned: summary?.resigned ?? totals.resigned, failed: summary?.failed ?? totals.failed, completedAt: this.time() },
        ceremony,
      );
      this.deps.metrics?.rotationRemaining.set({ rotation: rotationId }, 0);
      this.deps.logger.info({ rotationId, resigned: summary?.resigned, failed: summary?.failed }, 'rotation completed');
    }
  }

  /** Re-signs, batch after batch, until no bundle awaits the outgoing key (or three rounds make no progress). */
  private async resignAll(target: Target): Promise<{ resigned: number; failed: number }> {
    const keyring = await this.deps.keyring.state();
    const oldEntry = keyring.keys[target.oldKeyId];
    const newEntry = keyring.keys[target.newKeyId];
    if (!oldEntry || !newEntry) throw new LedgerError('key_not_found', `rotation ${target.rotationId} names an unknown key`);
    const oldKey = publicKeyFromSpki(Buffer.from(oldEntry.publicKey, 'base64'));
    const signer = await this.deps.keyring.handle(newEntry);
    const batchSize = this.deps.batchSize ?? 64;
    const totals = { resigned: 0, failed: 0 };
    let stalls = 0;
    let settled = false;
    while (!this.stopped) {
      const batch = bundlesProjection.latestByKey(this.deps.readModel, target.oldKeyId, { limit: batchSize, ...(target.since ? { since: target.since } : {}) });
      this.deps.metrics?.rotationRemaining.set({ rotation: target.rotationId }, this.remaining(target.rotationId, target.oldKeyId, target.since));
      if (batch.length === 0) {
        if (settled) break;
        // A signing that picked the outgoing key just before the switch may still be landing:
        // fold everything committed so far and look once more.
        settled = true;
        await this.deps.runtime?.waitFor(await this.deps.store.headPosition());
        continue;
      }
      settled = false;
      const outcomes = await Promise.all(batch.map((b) => this.resignOne(b.bundleId, target, oldKey, signer)));
      let progress = 0;
      let last = -1;
      for (const o of outcomes) {
        this.deps.metrics?.resignings.inc({ result: o.outcome });
        if (o.outcome === 'resigned') totals.resigned++;
        if (o.outcome === 'failed') totals.failed++;
        if (o.outcome !== 'skipped') progress++;
        if (o.position !== undefined && o.position > last) last = o.position;
      }
      // The index drops what was re-signed once the projections folded it.
      if (last >= 0) await this.deps.runtime?.waitFor(last);
      else await this.deps.runtime?.waitFor(await this.deps.store.headPosition());
      if (progress === 0 && ++stalls >= 3) {
        this.deps.logger.warn({ rotationId: target.rotationId, pending: batch.length }, 're-signing made no progress in three rounds; it resumes at the next start');
        break;
      }
      if (progress > 0) stalls = 0;
      await sleep(this.deps.pauseMs ?? 0);
    }
    return totals;
  }

  private async resignOne(bundleId: string, target: Target, oldKey: ReturnType<typeof publicKeyFromSpki>, signer: { keyId: string; sign(m: Uint8Array): Promise<Uint8Array> }): Promise<{ outcome: ResignOutcome; position?: number }> {
    const stream = bundleStream(bundleId);
    const history = await this.deps.store.readStream(stream);
    const state = fold(bundleDecider, history as unknown as BundleEvent[]);
    const latest = latestVersion(state);
    if (!latest || !awaitsResigning(state, target.oldKeyId)) return { outcome: 'skipped' };
    if (target.since && latest.createdAt < target.since) return { outcome: 'skipped' };
    const expectedRevision = history[history.length - 1]!.revision;
    const metadata = { time: this.time(), correlationId: randomUUID(), actor: `rotation:${target.rotationId}` };
    const append = async (events: readonly BundleEvent[]) => {
      try {
        const r = await this.deps.store.appendToStream(stream, events.map((e) => ({ type: e.type, data: e.data, metadata })), { expectedRevision });
        return r.lastPosition;
      } catch (err) {
        if (err instanceof ConcurrencyError) return undefined; // another instance got there first
        throw err;
      }
    };

    // Verify the version being superseded with the outgoing key.
    const payload = decodeBase64Strict(latest.envelope.payload);
    const sig = latest.envelope.signatures.find((s) => s.keyid === target.oldKeyId);
    const sigBytes = sig ? decodeBase64Strict(sig.sig) : undefined;
    if (!payload || !sigBytes || latest.envelope.signatures.length !== 1 || !ed25519Verify(oldKey, pae(latest.envelope.payloadType, payload), sigBytes)) {
      const events = bundleDecider.decide(
        { type: 'RecordResignFailure', bundleId, version: latest.version, keyId: target.oldKeyId, rotationId: target.rotationId, reason: 'signature_invalid: the version does not verify with its key', time: metadata.time },
        state,
      );
      const position = await append(events);
      this.deps.logger.warn({ bundleId, version: latest.version, rotationId: target.rotationId }, 'bundle version does not verify with its key: recorded, not re-signed');
      return position === undefined ? { outcome: 'skipped' } : { outcome: 'failed', position };
    }

    const envelope = await signEnvelope(latest.envelope.payloadType, payload, [{ keyId: signer.keyId, sign: (m) => signer.sign(m) }]);
    const statement = resignStatement(state.payloadSha256 ?? '', {
      bundleId,
      fromVersion: latest.version,
      toVersion: latest.version + 1,
      oldKeyId: target.oldKeyId,
      newKeyId: signer.keyId,
      reason: target.reason,
      rotationId: target.rotationId,
      ceremonyId: target.ceremonyId,
      oldEnvelopeSha256: envelopeDigest(latest.envelope),
    });
    const attestation = await signEnvelope(ATTESTATION_PAYLOAD_TYPE, jcsBytes(statement), [{ keyId: signer.keyId, sign: (m) => signer.sign(m) }]);
    const [timestamp, attestationTimestamp] = await Promise.all([
      this.deps.tsa.timestampSignature(Buffer.from(envelope.signatures[0]!.sig, 'base64')),
      this.deps.tsa.timestampSignature(Buffer.from(attestation.signatures[0]!.sig, 'base64')),
    ]);
    const events = bundleDecider.decide(
      {
        type: 'ResignBundle',
        bundleId,
        oldKeyId: target.oldKeyId,
        newKeyId: signer.keyId,
        fromVersion: latest.version,
        envelope,
        attestation,
        reason: target.reason,
        rotationId: target.rotationId,
        ceremonyId: target.ceremonyId,
        timestamps: [timestamp],
        attestationTimestamps: [attestationTimestamp],
        time: metadata.time,
      },
      state,
    );
    if (events.length === 0) return { outcome: 'skipped' };
    const position = await append(events);
    return position === undefined ? { outcome: 'skipped' } : { outcome: 'resigned', position };
  }
}

