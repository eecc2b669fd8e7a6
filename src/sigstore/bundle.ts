/**
 * Sigstore bundle v0.3 (JSON form of `dev.sigstore.bundle.v1.Bundle`) for a keyful DSSE
 * signature: the envelope, the signing key's id as `verificationMaterial.publicKey.hint`, and
 * whatever transparency-log entries and RFC 3161 timestamps are known for it. Built as plain
 * JSON in a fixed key order so that the same inputs always give the same bytes; tests check the
 * shape with `@sigstore/bundle`'s own validators and `@sigstore/verify`.
 */
import type { EnvelopeJson } from '../crypto/dsse.ts';
import type { JsonObject } from '../json.ts';

export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export interface BundleParts {
  readonly envelope: EnvelopeJson;
  readonly keyId: string;
  /** JSON `TransparencyLogEntry` items (added by the log). */
  readonly tlogEntries?: readonly JsonObject[];
  /** base64 DER RFC 3161 TimeStampResponse tokens (added by the TSA). */
  readonly rfc3161Timestamps?: readonly string[];
}

export interface SigstoreBundleJson extends JsonObject {
  mediaType: string;
  verificationMaterial: JsonObject;
  dsseEnvelope: JsonObject;
}

export function buildDsseBundle(parts: BundleParts): SigstoreBundleJson {
  const { envelope } = parts;
  return {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: {
      publicKey: { hint: parts.keyId },
      tlogEntries: [...(parts.tlogEntries ?? [])],
      timestampVerificationData: { rfc3161Timestamps: (parts.rfc3161Timestamps ?? []).map((signedTimestamp) => ({ signedTimestamp })) },
    },
    dsseEnvelope: {
      payload: envelope.payload,
      payloadType: envelope.payloadType,
      signatures: envelope.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid })),
    },
  };
}
