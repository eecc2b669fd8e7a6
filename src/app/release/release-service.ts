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
 * Network boundary (issue 16): a registry host not in SIGLEDGER_REGISTRIES is contacted only when
 * every address it resolves to is public (src/oci/address-policy.ts), checked on every request,
 * redirect hop and token realm, and connected to by the checked address; a Bearer realm must be
 * on the registry's own host or allow-listed. A refusal is 403 `registry_not_allowed`
 * (`address_not_allowed`) before any connection; how a connection failed is never told.
 *
 * Verdicts are cached per (repository, digest, anchors version) for a bounded time — trusted
 * releases for SIGLEDGER_RELEASE_CACHE_SECONDS, any other at most UNTRUSTED_TTL_S so that a bundle
 * attached later counts soon — in a bounded LRU; a new anchors version (a rotation, a revocation)
 * invalidates them. Concurrent asks for the same digest share one lookup. Registry failures are
 * never cached: an outage is a 503 and release gating fails closed.
 *
 * Around it: one referrer's check (referrer-check.ts), the translation of OCI failures
 * (registry-failure.ts), the verdict's shape (verdict.ts); SIGLEDGER_REGISTRY_* are read in
 * src/config.ts.
 */
import { createHash } from 'node:crypto';
import type { ReleaseConfig } from '../../config.ts';
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { RELEASE_PREDICATE_TYPE, RELEASE_SCOPE } from '../../domain/release.ts';
import { LedgerError } from '../../errors.ts';
import { BUNDLE_ARTIFACT_TYPE } from '../../oci/bundle-artifact.ts';
import { OciClient, type OciCredentials } from '../../oci/client.ts';
import { allowListMatcher } from '../../oci/address-policy.ts';
import { isOciError, OciError } from '../../oci/errors.ts';
import type { Resolver } from '../../oci/transport.ts';
import { parseDigest, parsePinnedImage, parseRepository, registryScheme, type Digest } from '../../oci/reference.ts';
import { trustMaterialOf } from '../../sigstore/bundle-verifier.ts';
import { Lru } from '../../util/lru.ts';
import { SingleFlight } from '../../util/single-flight.ts';
import type { Logger } from '../common/logger.ts';
import { checkReferrer, MAX_BUNDLE_BYTES, type TrustMaterial } from './referrer-check.ts';
import { invalidReference, isTransient, registryFailure, UNREACHABLE_DETAIL } from './registry-failure.ts';
import { bestEvidence, referrersToCheck, signerOf, type TrustedBundle } from './evidence.ts';
import type { BundleVerdict, ReferrersVerdict } from './verdict.ts';

/** Bundle artifacts looked at per digest (the rest are counted in `unchecked`). */
export const MAX_BUNDLES = 16;
/** One page of the referrers listing (an index of ≈5,000 descriptors), and how many pages are read. */
const MAX_INDEX_BYTES = 1024 * 1024;
const MAX_INDEX_PAGES = 4;
/** Untrusted verdicts are reused at most this long. */
export const UNTRUSTED_TTL_S = 30;
/** Verdicts and registry clients kept (least recently used dropped first). */
const CACHE_ENTRIES = 1024;
const CLIENTS = 64;
/** A whole lookup may take this many times SIGLEDGER_REGISTRY_TIMEOUT_MS. */
export const LOOKUP_BUDGET = 2;

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
  /** Registry credentials by lower-cased `host[:port]` (src/config.ts loadRegistryCredentials). */
  readonly credentials?: ReadonlyMap<string, OciCredentials>;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Counts verdicts (trusted / untrusted / error) for metrics. */
  readonly onVerdict?: (result: 'trusted' | 'untrusted' | 'error', cached: boolean) => void;
  /** Name resolution for registry hosts (default: the system's). */
  readonly resolve?: Resolver;
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

export class ReleaseService {
  private readonly cache = new Lru<string, CacheEntry>({ capacity: CACHE_ENTRIES });
  private readonly lookups = new SingleFlight<string, ReferrersVerdict>();
  private readonly clients = new Lru<string, OciClient>({ capacity: CLIENTS });
  private material: { key: string; value: TrustMaterial } | undefined;
  /** SIGLEDGER_REGISTRIES as a matcher of URLs (none listed: nothing is allow-listed). */
  private readonly allowListed: (url: URL) => boolean;

  constructor(private readonly deps: ReleaseServiceDeps) {
    this.allowListed = allowListMatcher(deps.config.allowedRegistries ?? []);
  }

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
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > this.deps.now().getTime()) {
      this.deps.onVerdict?.(hit.verdict.trusted ? 'trusted' : 'untrusted', true);
      return hit.verdict;
    }
    if (hit) this.cache.delete(key);
    // Only the caller that starts a lookup counts it; the ones that join it share its verdict.
    return this.lookups.run(key, () =>
      this.lookup(registry, name, d, repo, { anchors, trustedRoot: this.deps.trustedRoot() })
        .then((verdict) => {
          this.remember(key, verdict);
          this.deps.onVerdict?.(verdict.trusted ? 'trusted' : 'untrusted', false);
          return verdict;
        })
        .catch((err: unknown) => {
          this.deps.onVerdict?.('error', false);
          throw err;
        }),
    );
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
      if (isOciError(err)) throw invalidReference(err);
      throw err;
    }
    if (!this.isAllowed(target.registry)) {
      throw new LedgerError('registry_not_allowed', `registry ${target.registry} is not among the registries this service may contact (SIGLEDGER_REGISTRIES)`, { reason: 'registry_not_allowed', registry: target.registry });
    }
    return target;
  }

  /** Within SIGLEDGER_REGISTRIES (a `host` entry allows every port of it), or no list at all. */
  private isAllowed(registry: string): boolean {
    if (this.deps.config.allowedRegistries === null) return true;
    const host = registry.toLowerCase();
    return this.allowListed(new URL(`${registryScheme(host, this.deps.config.insecureRegistries)}://${host}/`));
  }

  private clientFor(registry: string): OciClient {
    const host = registry.toLowerCase();
    let client = this.clients.get(host);
    if (client) return client;
    const credentials = this.deps.credentials?.get(host);
    client = new OciClient({
      registry: host,
      scheme: registryScheme(host, this.deps.config.insecureRegistries),
      timeoutMs: this.deps.config.registryTimeoutMs,
      maxManifestBytes: MAX_INDEX_BYTES,
      maxBlobBytes: MAX_BUNDLE_BYTES,
      ...(credentials ? { credentials } : {}),
      // Only public addresses unless allow-listed; a Bearer realm (which gets this registry's
      // credentials) only on the registry's own host or an allow-listed one.
      network: { allowListed: this.allowListed },
      ...(this.deps.resolve ? { resolve: this.deps.resolve } : {}),
      userAgent: 'sigledger-release-verify/1',
    });
    this.clients.set(host, client);
    return client;
  }

  private trustMaterial(trust: TrustSnapshot): TrustMaterial {
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
    const failure = (err: OciError) => {
      const cause = signal.aborted ? new OciError('oci_timeout', `looking up the referrers of ${name}@${digest} took longer than ${budgetMs} ms`, { cause: err }) : err;
      // The caller is told only "unreachable"; why (refused, TLS, timeout) is for the operator's log.
      if (isTransient(cause)) this.deps.logger.warn({ registry, code: cause.code, why: cause.message }, 'registry unreachable');
      return registryFailure(cause, registry);
    };
    let listed;
    try {
      listed = await client.listReferrers(name, digest, { artifactType: BUNDLE_ARTIFACT_TYPE, signal, maxPages: MAX_INDEX_PAGES });
    } catch (err) {
      if (err instanceof OciError) throw failure(err);
      throw err;
    }
    const { referrers, unchecked } = referrersToCheck(listed.manifests, MAX_BUNDLES);
    const material = this.trustMaterial(trust);
    const bundles: BundleVerdict[] = [];
    const trusted: TrustedBundle[] = [];
    let outage: OciError | undefined;
    for (const referrer of referrers) {
      if (signal.aborted) {
        // The budget is spent: what was not looked at may be the bundle that verifies.
        outage ??= new OciError('oci_timeout', 'the time budget was spent');
        bundles.push({ digest: referrer.digest, verdict: 'untrusted', reason: 'not_checked', detail: 'not checked: the registry did not answer the lookup in time' });
        continue;
      }
      const result = await checkReferrer({ client, name, subject: digest, signal }, referrer, { material, keys: trust.anchors.keys });
      if ('outage' in result) {
        outage ??= result.outage;
        bundles.push({ digest: referrer.digest, verdict: 'untrusted', reason: 'unreadable', detail: UNREACHABLE_DETAIL });
        continue;
      }
      bundles.push(result.verdict);
      if (result.verdict.verdict === 'trusted') {
        trusted.push({ verdict: result.verdict, keyId: result.keyId!, signedAt: result.signedAt, logIndex: result.logIndex, release: result.verdict.predicateType === RELEASE_PREDICATE_TYPE });
      }
    }
    // An outage may hide the one bundle that verifies: not knowing is not "untrusted".
    if (trusted.length === 0 && outage) throw failure(outage);
    const best = bestEvidence(trusted);
    return {
      digest,
      repository: repo,
      trusted: best !== undefined,
      release: best?.release ?? false,
      reason: best ? null : referrers.length === 0 ? 'no_referrers' : 'no_trusted_bundle',
      signer: best ? signerOf(best, trust.anchors.keys, this.deps.keyStatus(best.keyId)) : null,
      bundles,
      unchecked,
      source: listed.source,
      anchorsVersion: trust.anchors.version,
      checkedAt: this.deps.now().toISOString(),
    };
  }

  private remember(key: string, verdict: ReferrersVerdict): void {
    // Only a trusted release is kept long: anything less may change as soon as a release is attached.
    const ttl = Math.min(this.deps.config.cacheSeconds, verdict.release ? Number.POSITIVE_INFINITY : UNTRUSTED_TTL_S);
    if (ttl <= 0) return;
    this.cache.set(key, { verdict, expiresAt: this.deps.now().getTime() + ttl * 1000 });
  }
}
