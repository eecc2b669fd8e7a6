/**
 * Re-signing (a rotation's step 5): every bundle whose latest version is by the outgoing key is
 * verified with it (a failure is recorded, never re-signed), signed by the incoming key, and
 * appended as the next version together with its re-signing attestation — one atomic append per
 * bundle, with the bundle stream's revision as expected revision, so no bundle is re-signed twice
 * however many instances run the same rotation.
 *
 * Bundles are taken from the read model in batches (re-signed concurrently within a batch), with
 * a pause between batches so live signing keeps the event loop.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeBase64Strict, pae, signEnvelope } from '../../crypto/dsse.ts';
import { ed25519Verify, publicKeyFromSpki } from '../../crypto/ed25519.ts';
import { jcsBytes } from '../../crypto/jcs.ts';
import { ATTESTATION_PAYLOAD_TYPE, envelopeDigest, resignStatement } from '../../domain/attestations.ts';
import { awaitsResigning, bundleDecider, bundleStream, latestVersion, type BundleEvent, type BundleState, type BundleVersion } from '../../domain/bundle.ts';
import { ConcurrencyError, LedgerError } from '../../errors.ts';
import { bundlesProjection } from '../../projections/bundles.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import type { CommandContext } from '../common/command-handler.ts';
import { foldRecorded } from '../common/load-state.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { Logger } from '../common/logger.ts';
import type { Metrics } from '../common/metrics.ts';
import type { TsaService } from '../timestamping/tsa-service.ts';
import type { RotationViews } from './rotation-views.ts';

export interface ResignerDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly keyring: KeyringService;
  readonly tsa: TsaService;
  readonly views: RotationViews;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly now: () => Date;
  /** Bundles re-signed concurrently per batch (default 64). */
  readonly batchSize?: number;
  /** Pause between batches so live signing keeps the event loop (default 0: one macrotask turn). */
  readonly pauseMs?: number;
}

/** What one rotation re-signs: the latest versions by `oldKeyId` (signed at or after `since`), with `newKeyId`. */
export interface ResignTarget {
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly oldKeyId: string;
  readonly newKeyId: string;
  readonly reason: string;
  readonly since: string | null;
}

export interface ResignTotals {
  readonly resigned: number;
  readonly failed: number;
}

type Outcome = { readonly outcome: 'resigned' | 'failed'; readonly position: number } | { readonly outcome: 'skipped'; readonly position?: undefined };

interface Signer {
  readonly keyId: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Rounds without progress after which re-signing gives up until the next start. */
const MAX_STALLS = 3;

export class Resigner {
  constructor(private readonly deps: ResignerDeps) {}

  /** Re-signs, batch after batch, until no bundle awaits the outgoing key, `signal` aborts, or three rounds make no progress. */
  async resignAll(target: ResignTarget, signal: AbortSignal): Promise<ResignTotals> {
    const keyring = await this.deps.keyring.state();
    const oldEntry = keyring.keys[target.oldKeyId];
    const newEntry = keyring.keys[target.newKeyId];
    if (!oldEntry || !newEntry) throw new LedgerError('key_not_found', `rotation ${target.rotationId} names an unknown key`);
    const oldKey = publicKeyFromSpki(Buffer.from(oldEntry.publicKey, 'base64'));
    const signer = await this.deps.keyring.handle(newEntry);
    const batchSize = this.deps.batchSize ?? 64;
    let resigned = 0;
    let failed = 0;
    let stalls = 0;
    let settled = false;
    while (!signal.aborted) {
      const batch = bundlesProjection.latestByKey(this.deps.readModel, target.oldKeyId, { limit: batchSize, ...(target.since ? { since: target.since } : {}) });
      this.deps.metrics?.rotationRemaining.set({ rotation: target.rotationId }, this.deps.views.remaining(target.rotationId, target.oldKeyId, target.since));
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
        if (o.outcome === 'resigned') resigned++;
        if (o.outcome === 'failed') failed++;
        if (o.outcome !== 'skipped') progress++;
        if (o.position !== undefined && o.position > last) last = o.position;
      }
      // The index drops what was re-signed once the projections folded it.
      await this.deps.runtime?.waitFor(last >= 0 ? last : await this.deps.store.headPosition());
      if (progress === 0 && ++stalls >= MAX_STALLS) {
        this.deps.logger.warn({ rotationId: target.rotationId, pending: batch.length }, 're-signing made no progress in three rounds; it resumes at the next start');
        break;
      }
      if (progress > 0) stalls = 0;
      await sleep(this.deps.pauseMs ?? 0);
    }
    return { resigned, failed };
  }

  private async resignOne(bundleId: string, target: ResignTarget, oldKey: ReturnType<typeof publicKeyFromSpki>, signer: Signer): Promise<Outcome> {
    const stream = bundleStream(bundleId);
    const history = await this.deps.store.readStream(stream);
    const state = foldRecorded(bundleDecider, history);
    const latest = latestVersion(state);
    if (!latest || !awaitsResigning(state, target.oldKeyId)) return { outcome: 'skipped' };
    if (target.since && latest.createdAt < target.since) return { outcome: 'skipped' };
    const expectedRevision = history[history.length - 1]!.revision;
    const time = this.deps.now().toISOString();
    const metadata = { time, correlationId: randomUUID(), actor: `rotation:${target.rotationId}` };
    /** Appends at the revision read; undefined when another instance got there first. */
    const append = async (events: readonly BundleEvent[]): Promise<number | undefined> => {
      try {
        return (await this.deps.store.appendToStream(stream, events.map((e) => ({ type: e.type, data: e.data, metadata })), { expectedRevision })).lastPosition;
      } catch (err) {
        if (err instanceof ConcurrencyError) return undefined;
        throw err;
      }
    };

    // Verify the version being superseded with the outgoing key.
    const payload = decodeBase64Strict(latest.envelope.payload);
    if (!payload || !verifiesWith(latest, target.oldKeyId, oldKey, payload)) {
      const events = bundleDecider.decide(
        { type: 'RecordResignFailure', bundleId, version: latest.version, keyId: target.oldKeyId, rotationId: target.rotationId, reason: 'signature_invalid: the version does not verify with its key', time },
        state,
      );
      const position = await append(events);
      this.deps.logger.warn({ bundleId, version: latest.version, rotationId: target.rotationId }, 'bundle version does not verify with its key: recorded, not re-signed');
      return position === undefined ? { outcome: 'skipped' } : { outcome: 'failed', position };
    }

    const events = await this.resignEvents(bundleId, state, latest, payload, target, signer, time);
    if (events.length === 0) return { outcome: 'skipped' };
    const position = await append(events);
    return position === undefined ? { outcome: 'skipped' } : { outcome: 'resigned', position };
  }

  /** The next version signed by the incoming key, with its re-signing attestation, both timestamped. */
  private async resignEvents(bundleId: string, state: BundleState, latest: BundleVersion, payload: Buffer, target: ResignTarget, signer: Signer, time: string): Promise<readonly BundleEvent[]> {
    const sign = (m: Uint8Array) => signer.sign(m);
    const envelope = await signEnvelope(latest.envelope.payloadType, payload, [{ keyId: signer.keyId, sign }]);
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
    const attestation = await signEnvelope(ATTESTATION_PAYLOAD_TYPE, jcsBytes(statement), [{ keyId: signer.keyId, sign }]);
    const [timestamp, attestationTimestamp] = await Promise.all([
      this.deps.tsa.timestampSignature(Buffer.from(envelope.signatures[0]!.sig, 'base64')),
      this.deps.tsa.timestampSignature(Buffer.from(attestation.signatures[0]!.sig, 'base64')),
    ]);
    return bundleDecider.decide(
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
        time,
      },
      state,
    );
  }
}

/** Whether `version` carries exactly one signature, by `keyId`, that verifies with `key` over its payload. */
function verifiesWith(version: BundleVersion, keyId: string, key: ReturnType<typeof publicKeyFromSpki>, payload: Buffer): boolean {
  const sig = version.envelope.signatures.find((s) => s.keyid === keyId);
  const sigBytes = sig ? decodeBase64Strict(sig.sig) : undefined;
  return version.envelope.signatures.length === 1 && sigBytes !== undefined && ed25519Verify(key, pae(version.envelope.payloadType, payload), sigBytes);
}
