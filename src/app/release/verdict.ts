/**
 * What the release service answers about an image digest (the body of `GET
 * /api/v1/signer/verify/referrers`, SPEC §2): one verdict per bundle referrer looked at, and the
 * digest's verdict with the signer whose bundle is the evidence.
 */
import type { BundleReason } from '../../sigstore/bundle-verifier.ts';
import type { Digest } from '../../oci/reference.ts';

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
