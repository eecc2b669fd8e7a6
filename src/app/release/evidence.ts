/**
 * Which referrers of a digest are looked at, and which trusted bundle is the evidence — pure
 * choices, kept apart from the registry round trips that feed them.
 */
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { RELEASE_PREDICATE_TYPE } from '../../domain/release.ts';
import { BUNDLE_PREDICATE_TYPE_ANNOTATION } from '../../oci/bundle-artifact.ts';
import type { OciDescriptor } from '../../oci/types.ts';
import type { BundleVerdict, ReleaseSigner } from './verdict.ts';

/**
 * Distinct referrers, at most `max`, and how many were left out. Release attestations (as their
 * annotation says; the bundle itself decides) come first, so other bundles (SBOMs, scans, old
 * releases) cannot crowd them out.
 */
export function referrersToCheck(listed: readonly OciDescriptor[], max: number): { readonly referrers: readonly OciDescriptor[]; readonly unchecked: number } {
  const seen = new Set<string>();
  const unique = listed.filter((m) => !seen.has(m.digest) && seen.add(m.digest));
  const claimsRelease = (m: OciDescriptor) => m.annotations?.[BUNDLE_PREDICATE_TYPE_ANNOTATION] === RELEASE_PREDICATE_TYPE;
  const ordered = [...unique.filter(claimsRelease), ...unique.filter((m) => !claimsRelease(m))];
  const referrers = ordered.slice(0, max);
  return { referrers, unchecked: ordered.length - referrers.length };
}

/** A bundle that verified, with what its check found. */
export interface TrustedBundle {
  readonly verdict: BundleVerdict;
  readonly keyId: string;
  readonly signedAt: string | undefined;
  readonly logIndex: string | undefined;
  /** Its statement is a release attestation. */
  readonly release: boolean;
}

/** The evidence: a release attestation first, then the most recently signed (ties by referrer digest). */
export function bestEvidence(trusted: readonly TrustedBundle[]): TrustedBundle | undefined {
  return [...trusted].sort((a, b) => Number(b.release) - Number(a.release) || (b.signedAt ?? '').localeCompare(a.signedAt ?? '') || a.verdict.digest.localeCompare(b.verdict.digest))[0];
}

/** The signer of the evidence, as the verdict shows it. */
export function signerOf(best: TrustedBundle, keys: AnchorsDocument['keys'], status: string | undefined): ReleaseSigner {
  const validFor = keys[best.keyId]?.validFor;
  return {
    keyId: best.keyId,
    algorithm: 'ed25519',
    status: status ?? null,
    validFor: { ...(validFor?.start ? { start: validFor.start } : {}), ...(validFor?.end ? { end: validFor.end } : {}) },
    signedAt: best.signedAt ?? null,
    logIndex: best.logIndex ?? null,
    bundleDigest: best.verdict.digest,
    predicateType: best.verdict.predicateType ?? null,
  };
}
