/** Verifies bundles with the real @sigstore/verify, given the key registry entries of the API. */
import { bundleFromJSON } from '@sigstore/bundle';
import { PublicKey, TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';

export interface ApiKey {
  keyId: string;
  publicKey: string;
  validFor: { start?: string; end?: string };
}

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * Full verification as a Sigstore client does it: the TrustedRoot from the API (its tlogs), the
 * keys from the registry, the defaults: tlog threshold 1 and timestamp threshold 1.
 */
export function verifyBundle(bundleJson: unknown, keys: readonly ApiKey[], trustedRoot: unknown, options: { timestampThreshold?: number } = {}): void {
  const keyMap: Record<string, PublicKey> = {};
  for (const k of keys) keyMap[k.keyId] = PublicKey.fromJSON({ rawBytes: k.publicKey, keyDetails: 'PKIX_ED25519', validFor: k.validFor });
  const material = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), keyMap);
  const verifier = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: options.timestampThreshold ?? 1 });
  verifier.verify(toSignedEntity(bundleFromJSON(bundleJson)));
}

/**
 * Signature path only (no log, no timestamps yet): thresholds 0 for tlog/ctlog/timestamps.
 * Throws the verifier's error when the bundle does not verify.
 */
export function verifyBundleSignature(bundleJson: unknown, keys: readonly ApiKey[], trustedRoot: unknown = EMPTY_ROOT): void {
  const keyMap: Record<string, PublicKey> = {};
  for (const k of keys) {
    keyMap[k.keyId] = PublicKey.fromJSON({ rawBytes: k.publicKey, keyDetails: 'PKIX_ED25519', validFor: k.validFor });
  }
  const material = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), keyMap);
  const verifier = new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundleFromJSON(bundleJson)));
}

/** The defaults of @sigstore/verify with the `keys` of a trust-anchors document (SPEC §2). */
export function verifyBundleWithAnchors(bundleJson: unknown, anchorKeys: Record<string, unknown>, trustedRoot: unknown): void {
  const keyMap: Record<string, PublicKey> = {};
  for (const [keyId, key] of Object.entries(anchorKeys)) keyMap[keyId] = PublicKey.fromJSON(key);
  new Verifier(toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), keyMap)).verify(toSignedEntity(bundleFromJSON(bundleJson)));
}
