/**
 * The RFC 3161 profile this ledger's TSA speaks: the hash algorithms it accepts, its limits, the
 * object identifiers it writes and the PKIFailureInfo bits it answers with. The query reader,
 * the authority and the test client (test/support/tsa-client.ts) read them from here, so a query
 * the client builds and a token the authority grants always agree on them.
 */
import * as der from './der.ts';
import { TAG } from './der.ts';

/** Largest accepted TimeStampReq, in bytes (a real query is well under 200). */
export const MAX_QUERY_BYTES = 16 * 1024;
/** Largest accepted nonce, in bits (RFC 3161 suggests 64 bits; we allow up to 160). */
export const MAX_NONCE_BITS = 160;

export const OID_CT_TST_INFO = '1.2.840.113549.1.9.16.1.4';
export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
export const OID_ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
export const OID_ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
export const OID_ATTR_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export type TsaHash = 'SHA-256' | 'SHA-384' | 'SHA-512';

export interface HashSpec {
  readonly name: TsaHash;
  readonly oid: string;
  /** Digest length in bytes. */
  readonly len: number;
  /** The node:crypto name. */
  readonly node: string;
  /** AlgorithmIdentifier with absent parameters, DER (as the test client writes it). */
  readonly algDer: Buffer;
}

const hashSpec = (name: TsaHash, oid: string, len: number, node: string): HashSpec => ({
  name,
  oid,
  len,
  node,
  algDer: der.tlv(TAG.SEQUENCE, der.oid(oid)),
});

export const HASHES: Readonly<Record<TsaHash, HashSpec>> = {
  'SHA-256': hashSpec('SHA-256', '2.16.840.1.101.3.4.2.1', 32, 'sha256'),
  'SHA-384': hashSpec('SHA-384', '2.16.840.1.101.3.4.2.2', 48, 'sha384'),
  'SHA-512': hashSpec('SHA-512', '2.16.840.1.101.3.4.2.3', 64, 'sha512'),
};

export const HASH_BY_OID: ReadonlyMap<string, HashSpec> = new Map(Object.values(HASHES).map((h) => [h.oid, h] as const));

/** The supported hash named `nameOrOid` (a TsaHash name or its OID), or undefined. */
export const hashOf = (nameOrOid: unknown): HashSpec | undefined =>
  typeof nameOrOid === 'string' ? (Object.hasOwn(HASHES, nameOrOid) ? HASHES[nameOrOid as TsaHash] : HASH_BY_OID.get(nameOrOid)) : undefined;

/** A nonce this profile echoes: a bigint in (0, 2^MAX_NONCE_BITS). Throws RangeError otherwise (programmer error). */
export function assertNonce(nonce: unknown): asserts nonce is bigint {
  if (typeof nonce !== 'bigint' || nonce <= 0n || nonce >= 1n << BigInt(MAX_NONCE_BITS)) {
    throw new RangeError(`nonce must be in (0, 2^${MAX_NONCE_BITS})`);
  }
}

/** PKIFailureInfo named bits (RFC 3161 §2.4.2). */
export const FAIL_INFO_BITS = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  addInfoNotAvailable: 17,
  systemFailure: 25,
} as const;
export type TsaFailInfo = keyof typeof FAIL_INFO_BITS;
