/**
 * Verification of a Sigstore bundle against this ledger's trust, with the real `@sigstore/verify`:
 * the TrustedRoot (log key, TSA chain) and the keys of one anchors version, each bounded by its
 * validity window. Shared by `sigledger verify` (offline, from a kit or a URL) and the release
 * integrity checks (bundles found as OCI referrers), so both say "valid" of exactly the same
 * bundles.
 *
 * Failures are values with a stable reason, never exceptions: the input is an attacker's.
 */
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { PublicKey, TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, type TrustMaterial } from '@sigstore/verify';
import type { AnchorsDocument } from '../domain/anchors.ts';

/** Why a bundle is (not) trusted; stable strings that callers and tests may rely on. */
export type BundleReason =
  | 'verified'
  /** not JSON, not a Sigstore bundle, no DSSE envelope, or not a keyful (public key hint) bundle */
  | 'not_a_bundle'
  /** the in-toto statement does not name the digest asked about */
  | 'subject_mismatch'
  /** the key hint is not a key of the trust anchors */
  | 'unknown_key'
  /** the key is known but was not valid at the signing time (retired before it, or revoked) */
  | 'key_not_valid'
  | 'bad_signature'
  /** the envelope is not the one the transparency log recorded (changed after signing) */
  | 'log_entry_mismatch'
  | 'log_inclusion_failed'
  | 'bad_timestamp'
  /** any other failure of `@sigstore/verify` */
  | 'verification_failed';

export type BundleCheck =
  | { readonly ok: true; readonly keyId: string; readonly signedAt: string | undefined; readonly logIndex: string | undefined }
  | { readonly ok: false; readonly reason: Exclude<BundleReason, 'verified'>; readonly detail: string; readonly keyId?: string };

const firstLine = (err: unknown, max = 300): string => {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return text.length > max ? `${text.slice(0, max)}…` : text;
};

const REASON_BY_SIGSTORE_CODE: Readonly<Record<string, Exclude<BundleReason, 'verified'>>> = {
  SIGNATURE_ERROR: 'bad_signature',
  PUBLIC_KEY_ERROR: 'key_not_valid',
  TIMESTAMP_ERROR: 'bad_timestamp',
  TLOG_ERROR: 'log_inclusion_failed',
  TLOG_INCLUSION_PROOF_ERROR: 'log_inclusion_failed',
  TLOG_INCLUSION_PROMISE_ERROR: 'log_inclusion_failed',
  TLOG_MISSING_INCLUSION_ERROR: 'log_inclusion_failed',
  TLOG_BODY_ERROR: 'log_entry_mismatch',
};

/** `@sigstore/verify` trust material from a TrustedRoot JSON and the keys of an anchors version. */
export function trustMaterialOf(trustedRoot: Record<string, unknown>, keys: AnchorsDocument['keys']): TrustMaterial {
  const publicKeys: Record<string, ReturnType<typeof PublicKey.fromJSON>> = {};
  for (const [keyId, key] of Object.entries(keys)) publicKeys[keyId] = PublicKey.fromJSON(key);
  return toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), publicKeys);
}

/**
 * Parses untrusted JSON as a keyful DSSE Sigstore bundle (the only kind this ledger issues).
 * `detail` completes a sentence whose subject is the bundle ("the bundle file …").
 */
export function parseLedgerBundle(json: unknown): { ok: true; bundle: Bundle } | { ok: false; detail: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, detail: 'is not a JSON object, so not a Sigstore bundle' };
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    return { ok: false, detail: `is not a Sigstore bundle (${firstLine(err)})` };
  }
  if (bundle.content.$case !== 'dsseEnvelope') return { ok: false, detail: 'carries no DSSE envelope (sigledger bundles sign DSSE envelopes)' };
  if (bundle.verificationMaterial.content.$case !== 'publicKey') return { ok: false, detail: 'names a certificate, not a public key (sigledger bundles are keyful)' };
  return { ok: true, bundle };
}

/**
 * Verifies a parsed bundle with `@sigstore/verify` (default thresholds: one tlog entry, one
 * timestamp). `keys` is used to name an unknown key precisely before the verifier runs.
 */
export function verifyLedgerBundle(material: TrustMaterial, keys: AnchorsDocument['keys'], bundle: Bundle): BundleCheck {
  const hint = bundle.verificationMaterial.content.$case === 'publicKey' ? bundle.verificationMaterial.content.publicKey.hint : '';
  const keyId = /^[0-9a-f]{64}$/.test(hint) ? hint : undefined;
  if (keyId === undefined || !Object.hasOwn(keys, keyId)) {
    return { ok: false, reason: 'unknown_key', detail: `the key ${JSON.stringify(hint.slice(0, 80))} is not a key of the trust anchors`, ...(keyId ? { keyId } : {}) };
  }
  let entity;
  try {
    entity = toSignedEntity(bundle);
  } catch (err) {
    return { ok: false, reason: 'not_a_bundle', detail: `the bundle's timestamps or key cannot be read (${firstLine(err)})`, keyId };
  }
  try {
    new Verifier(material).verify(entity);
  } catch (err) {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : '';
    return { ok: false, reason: REASON_BY_SIGSTORE_CODE[code] ?? 'verification_failed', detail: firstLine(err), keyId };
  }
  const tsa = entity.timestamps.find((t) => t.$case === 'timestamp-authority');
  const signedAt = tsa?.$case === 'timestamp-authority' ? tsa.timestamp.signingTime.toISOString() : undefined;
  return { ok: true, keyId, signedAt, logIndex: bundle.verificationMaterial.tlogEntries[0]?.logIndex };
}
