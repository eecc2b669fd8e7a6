/**
 * Release integrity through OCI referrers (SPEC §2 `GET /api/v1/signer/verify/referrers`).
 *
 * For `HOST[:PORT]/NAME` and a manifest digest: list the referrers of the digest whose
 * `artifactType` is the Sigstore bundle type (OCI 1.1 referrers API, or the `sha256-<hex>` tag
 * fallback), fetch each bundle and verify it against the trust in force right now — the ledger's
 * TrustedRoot and the latest anchors version (signature, log inclusion, RFC 3161 timestamp, key
 * validity window) — and require that its in-toto statement names the digest. The digest is
 * trusted when at least one bundle is, and a *release* when one of those is a release attestation
 * (src/domain/release.ts), which is what gating asks for.
 *
 * The registry is an attacker's: every call is bounded in time and size by the OCI client, at
 * most MAX_BUNDLES bundles are looked at, and nothing a registry says is echoed beyond its error
 * code. Loopback registries and SIGLEDGER_INSECURE_REGISTRIES are spoken to over plain HTTP, all
 * others over HTTPS; SIGLEDGER_REGISTRIES, when set, is the only registries contacted at all.
 *
 * Verdicts are cached per (repository, digest, anchors version) for a bounded time — trusted
 * releases for SIGLEDGER_RELEASE_CACHE_SECONDS, any other at most UNTRUSTED_TTL_S so that a bundle
 * attached later counts soon — in a bounded LRU; a new anchors version (a rotation, a revocation)
 * invalidates them. Concurrent asks for the same digest share one lookup. Registry failures are
 * never cached: an outage is a 503 and release gating fails closed.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { ReleaseConfig } from '../../config.ts';
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { RELEASE_PREDICATE_TYPE, RELEASE_SCOPE } from '../../domain/release.ts';
import { ConfigError, LedgerError } from '../../errors.ts';
import { BUNDLE_ARTIFACT_TYPE, BUNDLE_PREDICATE_TYPE_ANNOTATION, bundleNamesDigest } from '../../oci/bundle-artifact.ts';
import { OciClient, type OciCredentials } from '../../oci/client.ts';
import { isOciError, OciError } from '../../oci/errors.ts';
import { hostWithoutPort, parseDigest, parsePinnedImage, parseRegistryHost, parseRepository, registryScheme, type Digest } from '../../oci/reference.ts';
import { MEDIA_TYPE, type OciDescriptor } from '../../oci/types.ts';
import { parseLedgerBundle, trustMaterialOf, verifyLedgerBundle, type BundleReason } from '../../sigstore/bundle-verifier.ts';
import type { Logger } from '../shared/logger.ts';

/** Bundle artifacts looked at per digest (the rest are counted in `unchecked`). */
export const MAX_BUNDLES = 16;
/** One page of the referrers listing (an index of ≈5,000 descriptors), and how many pages are read. */
const MAX_INDEX_BYTES = 1024 * 1024;
const MAX_INDEX_PAGES = 4;
/** Largest bundle blob fetched (a bundle of a 4 MiB payload, base64, with proofs). */
export const MAX_BUNDLE_BYTES = 8 * 1024 * 1024;
/** Manifest of one bundle artifact (an image manifest with one layer is a few hundred bytes). */
const MAX_ARTIFACT_MANIFEST_BYTES = 64 * 1024;
/** Untrusted verdicts are reused at most this long. */
export const UNTRUSTED_TTL_S = 30;
const CACHE_ENTRIES = 1024;
const CLIENTS = 64;
/** A whole lookup may take this many times SIGLEDGER_REGISTRY_TIMEOUT_MS. */
export const LOOKUP_BUDGET = 2;
/** Retry-After of a registry outage. */
const RETRY_AFTER_S = 5;

export type BundleVerdictReason = BundleReason | 'unreadable' | 'not_checked';

export interface BundleVerdict {
  /** Digest of the artifact manifest (the referrer). */
  readonly digest: string;
  readonly verdict: 'trusted' | 'untrusted';
  readonly reason: BundleVerdictReason;
  /** Human-readable detail of an untrusted verdict. */
  readonly detail?: string;
  readonly keyId?: string;
  /** The in-toto statement's predicateType (when the bundle was read that far). */
  readonly predicateType?: string;
}

export interface ReleaseSigner {
  readonly keyId: string;
  readonly algorithm: 'ed25519';
  /** Key registry status now (a retired key still vouches for what it signed while valid). */
  readonly status: string | null;
  readonly validFor: { readonly start?: string; readonly end?: string };
  readonly signedAt: string | null;
  readonly logIndex: string | null;
  /** The referrer whose bundle is the evidence. */
  readonly bundleDigest: string;
  readonly predicateType: string | null;
}

export interface ReferrersVerdict {
  readonly digest: Digest;
  readonly repository: string;
  readonly trusted: boolean;
  /**
   * A trusted bundle is a release attestation (predicateType RELEASE_PREDICATE_TYPE, which the
   * ledger signs only for RELEASE_SCOPE callers): what release gating requires.
   */
  readonly release: boolean;
  /** Why not trusted: no bundle artifact refers to the digest, or none of them verified. */
  readonly reason: 'no_referrers' | 'no_trusted_bundle' | null;
  readonly signer: ReleaseSigner | null;
  readonly bundles: readonly BundleVerdict[];
  /** Bundle referrers beyond MAX_BUNDLES, not looked at (release-annotated ones are looked at first). */
  readonly unchecked: number;
  /** How the registry listed referrers. */
  readonly source: 'referrers_api' | 'referrers_tag';
  /** The anchors version the bundles were verified against. */
  readonly anchorsVersion: number;
  readonly checkedAt: string;
}

/** What the service trusts right now. */
export interface TrustSnapshot {
  readonly trustedRoot: Record<string, unknown>;
  readonly anchors: AnchorsDocument;
}

export interface ReleaseServiceDeps {
  readonly config: ReleaseConfig;
  /** The latest anchors version (its number keys the verdict cache). */
  readonly anchors: () => AnchorsDocument | undefined;
  /** The ledger's TrustedRoot (log key, TSA chain); built only when a lookup runs. */
  readonly trustedRoot: () => Record<string, unknown>;
  /** Key registry status of a key id (active / retired / revoked). */
  readonly keyStatus: (keyId: string) => string | undefined;
  readonly credentials?: ReadonlyMap<string, OciCredentials>;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Counts verdicts (trusted / untrusted / error) for metrics. */
  readonly onVerdict?: (result: 'trusted' | 'untrusted' | 'error', cached: boolean) => void;
}

export interface ReleaseCaller {
  readonly subject: string;
  readonly tenant: string;
  readonly scannerImage?: string;
  readonly scopes?: ReadonlySet<string>;
}



interface CacheEntry {
  readonly verdict: ReferrersVerdict;
  readonly expiresAt: number;
}

const TRANSIENT: ReadonlySet<string> = new Set(['oci_unreachable', 'oci_timeout', 'oci_aborted']);

/** An OCI client failure as the ledger's error (502/503 with the registry's error code as reason). */
export function registryFailure(err: OciError, registry: string): LedgerError {
  if (err.code === 'oci_invalid_reference') return new LedgerError('invalid_request', err.message, { reason: 'invalid_reference' });
  if (TRANSIENT.has(err.code)) {
    return new LedgerError('registry_unavailable', `registry ${registry} unavailable: ${err.message}`, { reason: err.code, registry, retryAfterSeconds: RETRY_AFTER_S }, { cause: err });
  }
  return new LedgerError('registry_error', `registry ${registry} answered wrongly: ${err.message}`, { reason: err.code, registry }, { cause: err });
}

/**
 * SIGLEDGER_REGISTRY_CREDENTIALS: inline JSON (starting with `{` or `[`) or a JSON file path, mapping
 * `host[:port]` to `{"username","password"}`. Never logged; errors never quote a value.
 */
export function loadRegistryCredentials(raw: string | undefined): Map<string, OciCredentials> {
  const out = new Map<string, OciCredentials>();
  if (raw === undefined || raw.trim() === '') return out;
  let text = raw;
  if (!/^\s*[[{]/.test(raw)) {
    try {
      text = readFileSync(raw, 'utf8');
    } catch (err) {
      throw new ConfigError(`SIGLEDGER_REGISTRY_CREDENTIALS: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError('SIGLEDGER_REGISTRY_CREDENTIALS is not JSON (expected {"host[:port]":{"username":"…","password":"…"}})');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('SIGLEDGER_REGISTRY_CREDENTIALS must be a JSON object keyed by registry host');
  for (const [host, value] of Object.entries(parsed)) {
    try {
      parseRegistryHost(host);
    } catch {
      throw new ConfigError(`SIGLEDGER_REGISTRY_CREDENTIALS: "${host.slice(0, 60)}" is not a registry host[:port]`);
    }
    const v = value as { username?: unknown; password?: unknown } | null;
    if (typeof v !== 'object' || v === null || typeof v.username !== 'string' || typeof v.password !== 'string' || v.username === '' || v.username.length > 256 || v.password.length > 4096) {
      throw new ConfigError(`SIGLEDGER_REGISTRY_CREDENTIALS: the entry of "${host.slice(0, 60)}" must be {"username","password"} strings`);
    }
    out.set(host.toLowerCase(), { username: v.username, password: v.password });
  }
  return out;
}

export class ReleaseService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<ReferrersVerdict>>();
  private readonly clients = new Map<string, OciClient>();
  private material: { key: string; value: ReturnType<typeof trustMaterialOf> } | undefined;

  constructor(private readonly deps: ReleaseServiceDeps) {}

  get required(): boolean {
    return this.deps.config.verify === 'required';
  }

  /** The verdict for `repository` (`HOST[:PORT]/NAME`) and `digest`. Throws invalid_request, registry_*. */
  async verifyReferrers(repository: string, digest: string): Promise<ReferrersVerdict> {
    const { registry, name } = this.parseTarget(repository, digest);
    const d = digest as Digest;
    const anchors = this.deps.anchors();
    if (!anchors) throw new LedgerError('not_ready', 'no trust anchors are published yet');
    const repo = `${registry.toLowerCase()}/${name}`;
    const key = `${repo}@${d}#${anchors.version}`;
    const now = this.deps.now().getTime();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > now) {
      this.cache.delete(key); // LRU: most recent at the end
      this.cache.set(key, hit);
      this.deps.onVerdict?.(hit.verdict.trusted ? 'trusted' : 'untrusted', true);
      return hit.verdict;
    }
    if (hit) this.cache.delete(key);
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const lookup = this.lookup(registry, name, d, repo, { anchors, trustedRoot: this.deps.trustedRoot() })
      .then((verdict) => {
        this.remember(key, verdict);
        this.deps.onVerdict?.(verdict.trusted ? 'trusted' : 'untrusted', false);
        return verdict;
      })
      .catch((err: unknown) => {
        this.deps.onVerdict?.('error', false);
        throw err;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, lookup);
    return lookup;
  }

  /**
   * Release gating: resolves when the caller's scanner image (OpTok claim `scanner_image`) has a
   * trusted release attestation, or the caller is the release pipeline (scope `signer.release`); otherwise 403
   * `release_untrusted`, and 503/502 when the registry cannot tell.
   */
  async requireTrustedRelease(caller: ReleaseCaller): Promise<ReferrersVerdict | 'release_pipeline'> {
    if (caller.scopes?.has(RELEASE_SCOPE)) return 'release_pipeline';
    if (caller.scannerImage === undefined) {
      throw new LedgerError('release_untrusted', 'release verification is required and the OpTok names no scanner image (claim scanner_image = HOST[:PORT]/NAME@sha256:<hex>)', { reason: 'no_scanner_image' });
    }
    let image;
    try {
      image = parsePinnedImage(caller.scannerImage);
    } catch (err) {
      throw new LedgerError('release_untrusted', `the OpTok's scanner_image is not an image pinned by digest: ${(err as Error).message}`, { reason: 'invalid_scanner_image' });
    }
    const verdict = await this.verifyReferrers(`${image.registry}/${image.name}`, image.digest);
    if (!verdict.release) {
      const why = !verdict.trusted
        ? verdict.reason === 'no_referrers'
          ? 'no Sigstore bundle refers to it'
          : `none of its ${verdict.bundles.length} bundle(s) verifies (${[...new Set(verdict.bundles.map((b) => b.reason))].join(', ')})`
        : `its trusted bundles are not release attestations (predicateType ${RELEASE_PREDICATE_TYPE})`;
      throw new LedgerError('release_untrusted', `the scanner image ${verdict.repository}@${verdict.digest} is not a trusted release: ${why}`, {
        reason: verdict.trusted ? 'no_release_attestation' : (verdict.reason ?? 'no_trusted_bundle'),
        image: `${verdict.repository}@${verdict.digest}`,
      });
    }
    return verdict;
  }

  // ------------------------------------------------------------------------------------------

  private parseTarget(repository: string, digest: string): { registry: string; name: string } {
    let target;
    try {
      target = parseRepository(repository);
      parseDigest(digest);
    } catch (err) {
      if (isOciError(err)) throw new LedgerError('invalid_request', err.message, { reason: 'invalid_reference' });
      throw err;
    }
    if (!this.isAllowed(target.registry)) {
      throw new LedgerError('registry_not_allowed', `registry ${target.registry} is not among the registries this service may contact (SIGLEDGER_REGISTRIES)`, { reason: 'registry_not_allowed', registry: target.registry });
    }
    return target;
  }

  /** Within SIGLEDGER_REGISTRIES (a `host` entry allows every port of it), or no list at all. */
  private isAllowed(registry: string): boolean {
    const allowed = this.deps.config.allowedRegistries;
    if (allowed === null) return true;
    const host = registry.toLowerCase();
    return allowed.includes(host) || allowed.includes(hostWithoutPort(host));
  }

  private clientFor(registry: string): OciClient {
    const host = registry.toLowerCase();
    let client = this.clients.get(host);
    if (client) return client;
    if (this.clients.size >= CLIENTS) this.clients.delete(this.clients.keys().next().value!);
    const credentials = this.deps.credentials?.get(host);
    client = new OciClient({
      registry: host,
      scheme: registryScheme(host, this.deps.config.insecureRegistries),
      timeoutMs: this.deps.config.registryTimeoutMs,
      maxManifestBytes: MAX_INDEX_BYTES,
      maxBlobBytes: MAX_BUNDLE_BYTES,
      ...(credentials ? { credentials } : {}),
      // A Bearer challenge must not lead past SIGLEDGER_REGISTRIES (with this registry's credentials).
      ...(this.deps.config.allowedRegistries !== null ? { allowRealm: (realm: string) => this.isAllowed(realm) } : {}),
      userAgent: 'sigledger-release-verify/1',
    });
    this.clients.set(host, client);
    return client;
  }

  private trustMaterial(trust: TrustSnapshot) {
    const key = `${trust.anchors.version}:${createHash('sha256').update(JSON.stringify(trust.trustedRoot)).digest('hex')}`;
    if (this.material?.key !== key) this.material = { key, value: trustMaterialOf(trust.trustedRoot, trust.anchors.keys) };
    return this.material.value;
  }

  private async lookup(registry: string, name: string, digest: Digest, repo: string, trust: TrustSnapshot): Promise<ReferrersVerdict> {
    const client = this.clientFor(registry);
    // Each registry call is bounded by SIGLEDGER_REGISTRY_TIMEOUT_MS; the whole lookup (listing +
    // up to MAX_BUNDLES × 2 calls) by LOOKUP_BUDGET of them, so a registry answering every call
    // just in time cannot hold a request for minutes.
    const budgetMs = this.deps.config.registryTimeoutMs * LOOKUP_BUDGET;
    const signal = AbortSignal.timeout(budgetMs);
    const failure = (err: OciError) =>
      registryFailure(signal.aborted ? new OciError('oci_timeout', `looking up the referrers of ${name}@${digest} took longer than ${budgetMs} ms`, { cause: err }) : err, registry);
    let listed;
    try {
      listed = await client.listReferrers(name, digest, { artifactType: BUNDLE_ARTIFACT_TYPE, signal, maxPages: MAX_INDEX_PAGES });
    } catch (err) {
      if (err instanceof OciError) throw failure(err);
      throw err;
    }
    const seen = new Set<string>();
    const unique = listed.manifests.filter((m) => !seen.has(m.digest) && seen.add(m.digest));
    // Release attestations (as their annotation says; the bundle itself decides) are looked at
    // first, so other bundles (SBOMs, scans, old releases) cannot crowd them out of MAX_BUNDLES.
    const claimsRelease = (m: OciDescriptor) => m.annotations?.[BUNDLE_PREDICATE_TYPE_ANNOTATION] === RELEASE_PREDICATE_TYPE;
    const ordered = [...unique.filter(claimsRelease), ...unique.filter((m) => !claimsRelease(m))];
    const referrers = ordered.slice(0, MAX_BUNDLES);
    const unchecked = ordered.length - referrers.length;
    const material = this.trustMaterial(trust);
    const bundles: BundleVerdict[] = [];
    const trusted: { verdict: BundleVerdict; keyId: string; signedAt: string | undefined; logIndex: string | undefined; release: boolean }[] = [];
    let outage: OciError | undefined;
    for (const referrer of referrers) {
      if (signal.aborted) {
        // The budget is spent: what was not looked at may be the bundle that verifies.
        outage ??= new OciError('oci_timeout', 'the time budget was spent');
        bundles.push({ digest: referrer.digest, verdict: 'untrusted', reason: 'not_checked', detail: `not checked: the lookup's ${budgetMs} ms were spent` });
        continue;
      }
      const result = await this.checkReferrer(client, name, digest, referrer, material, trust.anchors.keys, signal);
      if ('outage' in result) {
        outage ??= result.outage;
        bundles.push({ digest: referrer.digest, verdict: 'untrusted', reason: 'unreadable', detail: `${result.outage.code}: ${result.outage.message}` });
        continue;
      }
      bundles.push(result.verdict);
      if (result.verdict.verdict === 'trusted') {
        trusted.push({ verdict: result.verdict, keyId: result.keyId!, signedAt: result.signedAt, logIndex: result.logIndex, release: result.verdict.predicateType === RELEASE_PREDICATE_TYPE });
      }
    }
    // An outage may hide the one bundle that verifies: not knowing is not "untrusted".
    if (trusted.length === 0 && outage) throw failure(outage);
    // The evidence: a release attestation first, then the most recently signed (ties by referrer digest).
    trusted.sort((a, b) => Number(b.release) - Number(a.release) || (b.signedAt ?? '').localeCompare(a.signedAt ?? '') || a.verdict.digest.localeCompare(b.verdict.digest));
    const best = trusted[0];
    const key = best ? trust.anchors.keys[best.keyId] : undefined;
    return {
      digest,
      repository: repo,
      trusted: best !== undefined,
      release: best?.release ?? false,
      reason: best ? null : referrers.length === 0 ? 'no_referrers' : 'no_trusted_bundle',
      signer: best
        ? {
            keyId: best.keyId,
            algorithm: 'ed25519',
            status: this.deps.keyStatus(best.keyId) ?? null,
            validFor: { ...(key?.validFor.start ? { start: key.validFor.start } : {}), ...(key?.validFor.end ? { end: key.validFor.end } : {}) },
            signedAt: best.signedAt ?? null,
            logIndex: best.logIndex ?? null,
            bundleDigest: best.verdict.digest,
            predicateType: best.verdict.predicateType ?? null,
          }
        : null,
      bundles,
      unchecked,
      source: listed.source,
      anchorsVersion: trust.anchors.version,
      checkedAt: this.deps.now().toISOString(),
    };
  }

  /** One referrer: its manifest, its bundle layer, the subject and the signature checks. */
  private async checkReferrer(
    client: OciClient,
    name: string,
    subject: Digest,
    referrer: OciDescriptor,
    material: ReturnType<typeof trustMaterialOf>,
    keys: AnchorsDocument['keys'],
    signal: AbortSignal,
  ): Promise<{ verdict: BundleVerdict; keyId?: string; signedAt?: string; logIndex?: string } | { outage: OciError }> {
    const untrusted = (reason: BundleVerdictReason, detail: string, keyId?: string) => ({ verdict: { digest: referrer.digest, verdict: 'untrusted' as const, reason, detail, ...(keyId ? { keyId } : {}) } });
    let bytes: Uint8Array;
    try {
      if (referrer.size > MAX_ARTIFACT_MANIFEST_BYTES) return untrusted('unreadable', `oci_too_large: the artifact manifest is said to be ${referrer.size} bytes (limit ${MAX_ARTIFACT_MANIFEST_BYTES})`);
      const manifest = await client.getManifest(name, referrer.digest, [MEDIA_TYPE.imageManifest], { signal, maxBytes: MAX_ARTIFACT_MANIFEST_BYTES });
      const m = manifest.json as { subject?: { digest?: unknown }; layers?: unknown };
      if (m.subject?.digest !== subject) return untrusted('unreadable', 'the artifact manifest does not name the digest as its subject');
      const layers = Array.isArray(m.layers) ? m.layers : [];
      const layer = layers.find((l): l is OciDescriptor => typeof l === 'object' && l !== null && (l as { mediaType?: unknown }).mediaType === BUNDLE_ARTIFACT_TYPE);
      if (!layer || typeof layer.digest !== 'string' || typeof layer.size !== 'number') return untrusted('not_a_bundle', 'the artifact has no layer of type application/vnd.dev.sigstore.bundle.v0.3+json');
      if (layer.size > MAX_BUNDLE_BYTES) return untrusted('unreadable', `oci_too_large: the bundle layer is said to be ${layer.size} bytes (limit ${MAX_BUNDLE_BYTES})`);
      bytes = await client.getBlob(name, layer.digest, { maxBytes: MAX_BUNDLE_BYTES, signal });
    } catch (err) {
      if (!(err instanceof OciError)) throw err;
      if (TRANSIENT.has(err.code)) return { outage: err };
      return untrusted('unreadable', `${err.code}: ${err.message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      return untrusted('not_a_bundle', 'the bundle layer is not UTF-8 JSON');
    }
    const parsed = parseLedgerBundle(json);
    if (!parsed.ok) return untrusted('not_a_bundle', `the bundle ${parsed.detail}`);
    const names = bundleNamesDigest(json, subject);
    if (!names.ok) return untrusted('subject_mismatch', names.why);
    const predicateType = names.predicateType !== undefined ? { predicateType: names.predicateType.slice(0, 512) } : {};
    const check = verifyLedgerBundle(material, keys, parsed.bundle);
    if (!check.ok) return { verdict: { ...untrusted(check.reason, check.detail, check.keyId).verdict, ...predicateType } };
    return { verdict: { digest: referrer.digest, verdict: 'trusted', reason: 'verified', keyId: check.keyId, ...predicateType }, keyId: check.keyId, ...(check.signedAt ? { signedAt: check.signedAt } : {}), ...(check.logIndex ? { logIndex: check.logIndex } : {}) };
  }

  private remember(key: string, verdict: ReferrersVerdict): void {
    // Only a trusted release is kept long: anything less may change as soon as a release is attached.
    const ttl = Math.min(this.deps.config.cacheSeconds, verdict.release ? Number.POSITIVE_INFINITY : UNTRUSTED_TTL_S);
    if (ttl <= 0) return;
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { verdict, expiresAt: this.deps.now().getTime() + ttl * 1000 });
  }
}
