import { describe, expect, it } from 'vitest';
import { bestEvidence, referrersToCheck, signerOf, type TrustedBundle } from '../../../src/app/release/evidence.ts';
import { RELEASE_PREDICATE_TYPE } from '../../../src/domain/release.ts';
import { BUNDLE_ARTIFACT_TYPE, BUNDLE_PREDICATE_TYPE_ANNOTATION } from '../../../src/oci/bundle-artifact.ts';
import type { OciDescriptor } from '../../../src/oci/types.ts';
import type { Digest } from '../../../src/oci/reference.ts';

const digest = (n: number): Digest => `sha256:${n.toString(16).padStart(64, '0')}`;
const referrer = (n: number, predicateType?: string): OciDescriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: digest(n),
  size: 300,
  artifactType: BUNDLE_ARTIFACT_TYPE,
  ...(predicateType ? { annotations: { [BUNDLE_PREDICATE_TYPE_ANNOTATION]: predicateType } } : {}),
});
const trusted = (n: number, signedAt: string | undefined, release: boolean): TrustedBundle => ({
  verdict: { digest: digest(n), verdict: 'trusted', reason: 'verified', keyId: 'k1', ...(release ? { predicateType: RELEASE_PREDICATE_TYPE } : {}) },
  keyId: 'k1',
  signedAt,
  logIndex: String(n),
  release,
});

describe('release evidence', () => {
  describe('when choosing the referrers to look at', () => {
    it('drops repeated digests, puts release-annotated ones first and counts what is left out', () => {
      const listed = [referrer(1), referrer(2), referrer(1), referrer(3, RELEASE_PREDICATE_TYPE), referrer(4, 'https://spdx.dev/Document')];
      const { referrers, unchecked } = referrersToCheck(listed, 3);
      expect(referrers.map((r) => r.digest)).toEqual([digest(3), digest(1), digest(2)]);
      expect(unchecked).toBe(1);
    });
  });

  describe('when several bundles verified', () => {
    it('takes a release attestation over a newer other bundle', () => {
      expect(bestEvidence([trusted(1, '2025-02-01T00:00:00Z', false), trusted(2, '2025-01-01T00:00:00Z', true)])?.verdict.digest).toBe(digest(2));
    });

    it('takes the most recently signed, then the smaller referrer digest', () => {
      expect(bestEvidence([trusted(1, '2025-01-01T00:00:00Z', true), trusted(2, '2025-03-01T00:00:00Z', true)])?.verdict.digest).toBe(digest(2));
      expect(bestEvidence([trusted(9, '2025-01-01T00:00:00Z', true), trusted(5, '2025-01-01T00:00:00Z', true)])?.verdict.digest).toBe(digest(5));
    });

    it('has none when nothing verified', () => {
      expect(bestEvidence([])).toBeUndefined();
    });
  });

  describe('when showing the signer', () => {
    it("names the key, its status and validity window, and the evidence's bundle", () => {
      const keys = { k1: { validFor: { start: '2025-01-01T00:00:00Z' } } } as unknown as Parameters<typeof signerOf>[1];
      expect(signerOf(trusted(7, '2025-01-02T00:00:00Z', true), keys, 'active')).toEqual({
        keyId: 'k1',
        algorithm: 'ed25519',
        status: 'active',
        validFor: { start: '2025-01-01T00:00:00Z' },
        signedAt: '2025-01-02T00:00:00Z',
        logIndex: '7',
        bundleDigest: digest(7),
        predicateType: RELEASE_PREDICATE_TYPE,
      });
      expect(signerOf(trusted(7, undefined, false), {}, undefined)).toMatchObject({ status: null, validFor: {}, signedAt: null, predicateType: null });
    });
  });
});
