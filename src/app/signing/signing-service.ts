/**
 * Signing: one DSSE signature by the active key over the caller's payload, recorded as the first
 * version of a bundle whose id is deterministic per (tenant, payloadType, payload).
 *
 * Flow (docs/ARCHITECTURE.md): validate → bundle id → sign the PAE with the active key →
 * append `BundleSigned` to `bundle-<id>` expecting no stream → wait until the projections folded
 * it (read-your-writes) → answer 201. When the stream already exists (the same tenant signed the
 * same payload before, possibly concurrently) the existing latest version is answered with 200
 * and nothing is appended.
 *
 * Identical concurrent signings are single-flight: while a signing of a bundle id (tenant,
 * payloadType, payload) is in flight on this instance, another one joins it instead of signing
 * and timestamping again, so ten identical requests append one timestamp and one bundle event and
 * all get the same bundle (the first 201, the others 200 as for an existing bundle).
 */
import { randomUUID } from 'node:crypto';
import { signEnvelope } from '../../crypto/dsse.ts';
import { sha256Hex } from '../../crypto/hash.ts';
import { buildDsseBundle, type SigstoreBundleJson } from '../../sigstore/bundle.ts';
import { bundleDecider, bundleIdOf, bundleStream, latestVersion, type BundleState } from '../../domain/bundle.ts';
import type { SignRequest } from '../../domain/sign-request.ts';
import { ConcurrencyError, LedgerError } from '../../errors.ts';
import { bundlesProjection, type BundleSummary } from '../../projections/bundles.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import type { CommandContext } from '../common/command-handler.ts';
import { foldRecorded } from '../common/load-state.ts';
import type { KeyringService } from '../keys/keyring-service.ts';
import type { LogService } from '../transparency/log-service.ts';
import type { TsaService } from '../timestamping/tsa-service.ts';
import type { Metrics } from '../common/metrics.ts';
import { SingleFlight } from '../../util/single-flight.ts';
import { isReleaseAttestation, RELEASE_PREDICATE_TYPE, RELEASE_SCOPE } from '../../domain/release.ts';

export interface SigningCaller {
  readonly subject: string;
  readonly tenant: string;
  /** OpTok scopes: a release attestation needs RELEASE_SCOPE. */
  readonly scopes?: ReadonlySet<string>;
}

export interface SignResult {
  readonly created: boolean;
  readonly bundleId: string;
  readonly version: number;
  readonly keyId: string;
  readonly logIndex: number;
  readonly bundle: SigstoreBundleJson;
  readonly signingIdentity: { readonly mode: 'keyful'; readonly keyId: string; readonly algorithm: 'ed25519'; readonly backend: string };
}

export interface BundleView {
  readonly bundleId: string;
  readonly latestVersion: number;
  readonly versions: readonly { version: number; keyId: string; logIndex: number | null; reason: string; createdAt: string }[];
  readonly bundle: SigstoreBundleJson;
}

export interface SigningServiceDeps extends CommandContext {
  readonly readModel: ReadModelReader;
  readonly keyring: KeyringService;
  readonly log: LogService;
  readonly tsa: TsaService;
  readonly metrics?: Metrics;
  readonly now: () => Date;
}

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** Validates an `Idempotency-Key` header value; returns its SHA-256 hex (what events store). */
export function idempotencyKeyHash(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (!IDEMPOTENCY_KEY_RE.test(raw)) {
    throw new LedgerError('invalid_request', 'Idempotency-Key must be 1-255 printable ASCII characters without spaces', { reason: 'invalid_idempotency_key' });
  }
  return sha256Hex(raw);
}

/** Global position of the event that made the bundle's latest version (attestations and failures follow it). */
function positionOfLatestVersion(history: readonly { type: string; position: number }[]): number {
  for (let i = history.length - 1; i >= 0; i--) if (history[i]!.type === 'BundleSigned' || history[i]!.type === 'BundleResigned') return history[i]!.position;
  throw new LedgerError('internal', 'bundle stream without a version');
}

export class SigningService {
  /** `<tenant>/<idempotency hash>` → bundle id of requests in flight on this instance. */
  private readonly inflight = new Map<string, string>();
  /** Signings in flight by bundle id: identical concurrent requests join the first. */
  private readonly signings = new SingleFlight<string, SignResult>();

  constructor(private readonly deps: SigningServiceDeps) {}

  async sign(caller: SigningCaller, request: SignRequest, idempotencyKey: string | null): Promise<SignResult> {
    if (isReleaseAttestation(request.payloadType, request.payload) && !caller.scopes?.has(RELEASE_SCOPE)) {
      throw new LedgerError('forbidden', `signing a release attestation (predicateType ${RELEASE_PREDICATE_TYPE}) needs the scope ${RELEASE_SCOPE}`, { reason: 'missing_scope', requiredScope: RELEASE_SCOPE });
    }
    const payloadSha256 = sha256Hex(request.payload);
    const bundleId = bundleIdOf(caller.tenant, request.payloadType, payloadSha256);

    let inflightKey: string | undefined;
    if (idempotencyKey) {
      const key = `${caller.tenant}/${idempotencyKey}`;
      const known = bundlesProjection.byIdempotencyKey(this.deps.readModel, caller.tenant, idempotencyKey) ?? this.inflight.get(key);
      if (known !== undefined && known !== bundleId) {
        throw new LedgerError('idempotency_key_reused', 'this Idempotency-Key was already used for a different request', { reason: 'idempotency_key_reused' });
      }
      if (known === undefined) {
        this.inflight.set(key, bundleId);
        inflightKey = key;
      }
    }
    try {
      const joined = this.signings.has(bundleId);
      const result = await this.signings.run(bundleId, () => this.signNew(caller, request, idempotencyKey, bundleId, payloadSha256));
      return joined && result.created ? { ...result, created: false } : result;
    } finally {
      if (inflightKey) this.inflight.delete(inflightKey);
    }
  }

  /** Signs, timestamps and appends the bundle's first version, or answers the existing one. */
  private async signNew(caller: SigningCaller, request: SignRequest, idempotencyKey: string | null, bundleId: string, payloadSha256: string): Promise<SignResult> {
    const stream = bundleStream(bundleId);
    // Signing again what this tenant signed before appends nothing (not even a timestamp).
    const existing = await this.deps.store.readStream(stream);
    if (existing.length > 0) {
      return await this.result(false, bundleId, foldRecorded(bundleDecider, existing), positionOfLatestVersion(existing));
    }
    const active = this.deps.keyring.active();
    const envelope = await signEnvelope(request.payloadType, request.payload, [{ keyId: active.keyId, sign: (pae) => active.handle.sign(pae) }]);
    // A trusted signing time: an RFC 3161 timestamp over the signature, from the ledger's TSA.
    const timestamp = await this.deps.tsa.timestampSignature(Buffer.from(envelope.signatures[0]!.sig, 'base64'));
    const time = this.deps.now().toISOString();
    const events = bundleDecider.decide(
      { type: 'SignBundle', bundleId, tenant: caller.tenant, payloadType: request.payloadType, payloadSha256, keyId: active.keyId, envelope, idempotencyKey, timestamps: [timestamp], time },
      bundleDecider.initialState(),
    );
    try {
      const result = await this.deps.store.appendToStream(
        stream,
        events.map((e) => ({ type: e.type, data: e.data, metadata: { time, correlationId: randomUUID(), actor: caller.subject, tenant: caller.tenant } })),
        { expectedRevision: 'no_stream' },
      );
      const state = events.reduce(bundleDecider.evolve, bundleDecider.initialState());
      return await this.result(true, bundleId, state, result.lastPosition, active.backend);
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      // The bundle exists: answer its latest version; nothing was appended.
      const history = await this.deps.store.readStream(stream);
      const state = foldRecorded(bundleDecider, history);
      return await this.result(false, bundleId, state, positionOfLatestVersion(history));
    }
  }

  /**
   * Waits until the version's event is a leaf under a signed checkpoint (read-your-writes for the
   * log), then answers with the bundle carrying its log entry.
   */
  private async result(created: boolean, bundleId: string, state: BundleState, position: number, backend?: string): Promise<SignResult> {
    const latest = latestVersion(state);
    if (!latest) throw new LedgerError('internal', `bundle ${bundleId} has no versions`);
    const keyBackend = backend ?? this.deps.keyring.get(latest.keyId)?.backend ?? 'file';
    const logIndex = await this.leafIndexOf(position);
    const checkpoint = await this.deps.log.waitForCheckpoint(logIndex + 1);
    const tlogEntry = this.deps.log.tlogEntry(logIndex, checkpoint);
    if (!tlogEntry) throw new LedgerError('internal', `no log entry for leaf ${logIndex}`);
    return {
      created,
      bundleId,
      version: latest.version,
      keyId: latest.keyId,
      logIndex,
      bundle: buildDsseBundle({ envelope: latest.envelope, keyId: latest.keyId, tlogEntries: [tlogEntry], rfc3161Timestamps: latest.timestamps }),
      signingIdentity: { mode: 'keyful', keyId: latest.keyId, algorithm: 'ed25519', backend: keyBackend },
    };
  }

  private async leafIndexOf(position: number): Promise<number> {
    await this.deps.runtime?.waitFor(position);
    const index = this.deps.log.reader.leafIndexOfPosition(position);
    if (index === undefined) throw new LedgerError('internal', `the event at position ${position} is not in the log`);
    return index;
  }

  /** The bundle with its version list (from the read model) and its latest version (from the store). */
  async bundle(bundleId: string): Promise<BundleView | undefined> {
    const summary: BundleSummary | undefined = bundlesProjection.summary(this.deps.readModel, bundleId);
    if (!summary) return undefined;
    const latest = await this.bundleVersion(bundleId, summary.latestVersion);
    if (!latest) return undefined;
    return {
      bundleId,
      latestVersion: summary.latestVersion,
      versions: summary.versions.map((v) => ({ version: v.version, keyId: v.keyId, logIndex: this.deps.log.reader.leafIndexOfPosition(v.position) ?? null, reason: v.reason, createdAt: v.createdAt })),
      bundle: latest.bundle,
    };
  }

  async bundleVersion(bundleId: string, version: number): Promise<{ version: number; bundle: SigstoreBundleJson; attestation?: SigstoreBundleJson; resign?: { fromVersion: number; oldKeyId: string; rotationId: string; ceremonyId: string } } | undefined> {
    const record = bundlesProjection.versionRecord(this.deps.readModel, bundleId, version);
    if (!record) return undefined;
    const history = await this.deps.store.readStream(bundleStream(bundleId));
    const versionState = foldRecorded(bundleDecider, history).versions.find((v) => v.version === version);
    if (!versionState) throw new LedgerError('internal', `bundle ${bundleId} version ${version} is in the read model but not in the event store`);
    // Bundles fetched later carry a proof against the current checkpoint.
    const entryAt = (position: number | undefined) => {
      const logIndex = position === undefined ? undefined : this.deps.log.reader.leafIndexOfPosition(position);
      const entry = logIndex === undefined ? undefined : this.deps.log.tlogEntry(logIndex);
      return entry ? [entry] : [];
    };
    const bundle = buildDsseBundle({ envelope: versionState.envelope, keyId: versionState.keyId, tlogEntries: entryAt(record.position), rfc3161Timestamps: versionState.timestamps });
    const resign = versionState.resign;
    if (!resign) return { version, bundle };
    const attestation = resign.attestation
      ? buildDsseBundle({ envelope: resign.attestation.envelope, keyId: versionState.keyId, tlogEntries: entryAt(record.attestationPosition), rfc3161Timestamps: resign.attestation.timestamps })
      : undefined;
    return {
      version,
      bundle,
      resign: { fromVersion: resign.fromVersion, oldKeyId: resign.oldKeyId, rotationId: resign.rotationId, ceremonyId: resign.ceremonyId },
      ...(attestation ? { attestation } : {}),
    };
  }
}
