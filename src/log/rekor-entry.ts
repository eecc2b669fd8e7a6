/**
 * Log leaves (SPEC §3). An event that carries a DSSE envelope has as its leaf the JCS bytes of
 * the Rekor v2 `Entry` for that envelope (`dsse` 0.0.2: the payload's SHA-256 and, per signature,
 * its bytes and the signer's DER public key), so that every envelope the ledger issues can be
 * served as a bundle that Sigstore verifiers check with their own Rekor v2 code. Any other event's
 * leaf is the JCS of `{stream, revision, type, data}`. Pure: the same event always gives the same
 * bytes, on every replica.
 *
 * Bounded leaves: a C2SP entry bundle prefixes each entry with a uint16 length, so a leaf has at
 * most 65535 bytes. An event whose leaf by the rule above would be longer (a large anchors
 * document, a large event of any kind) has instead the *digest leaf*: the JCS of
 * `{dataSha256, revision, stream, type}`, `dataSha256` being the lowercase hex SHA-256 of the JCS
 * of the event's `data` (the event itself stays readable from the audit route). Every leaf at
 * most 65535 bytes keeps exactly its bytes, so logs that existed before this rule are unchanged.
 * A digest leaf is bounded by a constant: with the store's limits (stream name ≤ 256 UTF-16 code
 * units, type ≤ 128 ASCII characters, revision a safe integer) it has at most 1100 bytes. It cannot
 * equal any other leaf: a full leaf has a `data` key (or is a Rekor entry), a digest leaf not.
 */
import { sha256 } from '../crypto/hash.ts';
import { jcsBytes } from '../crypto/jcs.ts';
import { MAX_ENTRY_BYTES } from './tiles.ts';

export const REKOR_DSSE_KIND = 'dsse';
export const REKOR_DSSE_API_VERSION = '0.0.2';

export interface EnvelopeLike {
  readonly payloadType: string;
  readonly payload: string;
  readonly signatures: readonly { readonly keyid: string; readonly sig: string }[];
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether `value` has the shape of a DSSE envelope with at least one signature. */
export function isEnvelopeLike(value: unknown): value is EnvelopeLike {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.payloadType === 'string' &&
    typeof v.payload === 'string' &&
    Array.isArray(v.signatures) &&
    v.signatures.length > 0 &&
    v.signatures.every((s) => typeof s === 'object' && s !== null && typeof (s as Record<string, unknown>).keyid === 'string' && typeof (s as Record<string, unknown>).sig === 'string')
  );
}

/**
 * The Rekor v2 `Entry` (JSON form) for a DSSE envelope. `publicKeyOf(keyId)` gives the signer's
 * base64 DER SPKI; a signature whose key is unknown is a programming error (keys are registered
 * before they sign) and throws.
 */
export function rekorDsseEntry(envelope: EnvelopeLike, publicKeyOf: (keyId: string) => string | undefined) {
  if (!BASE64_RE.test(envelope.payload)) throw new TypeError('envelope payload is not base64');
  const payloadHash = sha256(Buffer.from(envelope.payload, 'base64')).toString('base64');
  return {
    apiVersion: REKOR_DSSE_API_VERSION,
    kind: REKOR_DSSE_KIND,
    spec: {
      dsseV002: {
        payloadHash: { algorithm: 'SHA2_256', digest: payloadHash },
        signatures: envelope.signatures.map((s) => {
          const publicKey = publicKeyOf(s.keyid);
          if (publicKey === undefined) throw new TypeError(`no public key known for key id ${s.keyid.slice(0, 64)}`);
          return { content: s.sig, verifier: { keyDetails: 'PKIX_ED25519', publicKey: { rawBytes: publicKey } } };
        }),
      },
    },
  };
}

/** The longest leaf: what one entry of a C2SP entry bundle holds. */
export const MAX_LEAF_BYTES = MAX_ENTRY_BYTES;

/**
 * The digest leaf of an event whose full leaf would exceed MAX_LEAF_BYTES: the JCS of
 * `{dataSha256, revision, stream, type}`; `dataSha256` is the lowercase hex SHA-256 of the JCS of
 * the event's data.
 */
export function digestLeafOf(stream: string, revision: number, type: string, dataSha256: string): Buffer {
  return jcsBytes({ dataSha256, revision, stream, type });
}

/** `full` when it fits an entry bundle, else the event's digest leaf (the data's JCS computed only then). */
function bounded(full: Buffer, stream: string, revision: number, type: string, canonicalData: () => Uint8Array | string): Buffer {
  if (full.length <= MAX_LEAF_BYTES) return full;
  return digestLeafOf(stream, revision, type, sha256(canonicalData()).toString('hex'));
}

/** The leaf bytes of one event (SPEC §3), at most MAX_LEAF_BYTES long. */
export function leafDataOf(
  event: { readonly stream: string; readonly revision: number; readonly type: string; readonly data: unknown },
  publicKeyOf: (keyId: string) => string | undefined,
): Buffer {
  const envelope = typeof event.data === 'object' && event.data !== null ? (event.data as Record<string, unknown>).envelope : undefined;
  if (isEnvelopeLike(envelope)) {
    const entry = rekorDsseEntry(envelope, publicKeyOf);
    // The entry is built with its keys in JCS order and holds only ASCII strings (base64 and
    // fixed names), so JSON.stringify already gives its RFC 8785 bytes; anything else goes
    // through the full canonicaliser (tested equal in test/log/rekor-entry.unit.spec.ts).
    const full = envelope.signatures.every((s) => BASE64_RE.test(s.sig)) ? Buffer.from(JSON.stringify(entry), 'utf8') : jcsBytes(entry);
    return bounded(full, event.stream, event.revision, event.type, () => jcsBytes(event.data));
  }
  const full = jcsBytes({ stream: event.stream, revision: event.revision, type: event.type, data: event.data });
  return bounded(full, event.stream, event.revision, event.type, () => jcsBytes(event.data));
}

/**
 * The leaf bytes of a non-envelope event whose data is already canonical JSON text (as the SQLite
 * store keeps it): the JCS of {data, revision, stream, type} without re-canonicalising `data`, or
 * its digest leaf when that is longer than MAX_LEAF_BYTES (the same bytes as leafDataOf).
 */
export function leafTextOfCanonical(stream: string, revision: number, type: string, dataJson: string): Buffer {
  const full = Buffer.from(`{"data":${dataJson},"revision":${revision},"stream":${JSON.stringify(stream)},"type":${JSON.stringify(type)}}`, 'utf8');
  return bounded(full, stream, revision, type, () => dataJson);
}
