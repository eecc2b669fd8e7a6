/**
 * Strict reading of an RFC 3161 TimeStampReq. The bytes are attacker-controlled, so this never
 * throws: `readQuery` answers either the parsed query or the rejection (failInfo and message)
 * the authority sends back.
 *
 * Queries in the common strict-DER shapes are read by hand (`acceptCommonQuery`, the hot path);
 * every other query, and so every rejection, goes through pkijs + asn1js, which decides the
 * failInfo. The hand reader only accepts what the full reader accepts, with the same result.
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import * as der from './der.ts';
import { TAG } from './der.ts';
import { toArrayBuffer } from './engine.ts';
import { HASH_BY_OID, HASHES, MAX_NONCE_BITS, MAX_QUERY_BYTES, type HashSpec, type TsaFailInfo } from './rfc3161.ts';

/** A query that passed every check. */
export interface ParsedQuery {
  hash: HashSpec;
  /** The query's MessageImprint, DER (echoed verbatim in TSTInfo, NULL hash parameters included). */
  imprintDer: Buffer;
  hashedMessage: Buffer;
  /** The query's nonce INTEGER, DER (echoed verbatim in TSTInfo). */
  nonceDer?: Buffer;
  nonce?: bigint;
  certReq: boolean;
}

/** Why a query is refused, as the TimeStampResp will say it. */
export interface QueryRejection {
  readonly failInfo: TsaFailInfo;
  readonly message: string;
}

/** What a query asks to timestamp. */
export interface QueryInfo {
  hashOid: string;
  hashedMessage: Buffer;
  nonce?: bigint;
}

/** The policy the authority grants under: a query may name it (same encoding) or none. */
export interface QueryPolicy {
  readonly oid: string;
  /** The policy OBJECT IDENTIFIER, DER. */
  readonly der: Buffer;
}

/** Reads a TimeStampReq strictly: the parsed query, or the rejection to answer with. Never throws. */
export function readQuery(queryDer: Uint8Array, policy: QueryPolicy): ParsedQuery | QueryRejection {
  try {
    return acceptCommonQuery(queryDer, policy.der) ?? parseQuery(queryDer, policy.oid);
  } catch (e) {
    if (e instanceof Rejection) return { failInfo: e.failInfo, message: e.message };
    return { failInfo: 'badDataFormat', message: 'unparseable query' };
  }
}

export const isRejection = (q: ParsedQuery | QueryRejection): q is QueryRejection => 'failInfo' in q;

export function queryInfoOf(q: ParsedQuery): QueryInfo {
  return { hashOid: q.hash.oid, hashedMessage: Buffer.from(q.hashedMessage), ...(q.nonce !== undefined ? { nonce: q.nonce } : {}) };
}

/** Control flow inside this module only: `readQuery` turns it into a QueryRejection. */
class Rejection extends Error {
  constructor(
    readonly failInfo: TsaFailInfo,
    message: string,
  ) {
    super(message);
  }
}

// ------------------------------------------------------------------------------ the hot path

/** One TLV read at `at` (strict DER: one-byte tag, minimal definite length of at most 2 bytes). */
interface Tlv {
  tag: number;
  /** Offsets of the TLV's first byte, of its contents, and just past it. */
  at: number;
  start: number;
  end: number;
}

function readTlv(b: Uint8Array, at: number, end: number): Tlv | undefined {
  if (at + 2 > end) return undefined;
  const tag = b[at]!;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 2 || start + n > end) return undefined;
    len = n === 1 ? b[start]! : b[start]! * 256 + b[start + 1]!;
    if (len < 0x80 || (n === 2 && len < 0x100)) return undefined;
    start += n;
  }
  if (start + len > end) return undefined;
  return { tag, at, start, end: start + len };
}

/** The hash AlgorithmIdentifiers a query may carry, as DER: parameters absent or NULL. */
const QUERY_HASH_ALGS: { der: Buffer; hash: HashSpec }[] = Object.values(HASHES).flatMap((hash) => [
  { der: hash.algDer, hash },
  { der: der.tlv(TAG.SEQUENCE, der.oid(hash.oid), Buffer.from([TAG.NULL, 0])), hash },
]);

/**
 * Fast acceptance of the common, unambiguous TimeStampReq: strict DER, version 1, a supported hash
 * (parameters absent or NULL) with a digest of its length, optionally our policy (same encoding),
 * a minimal positive nonce of at most MAX_NONCE_BITS, certReq TRUE (0xFF), nothing else. It only
 * accepts what `parseQuery` accepts, with the same result; for anything else (every query that
 * will be rejected included) it returns undefined and `parseQuery` decides, so rejections and
 * their failInfo are unchanged.
 */
function acceptCommonQuery(q: Uint8Array, policyDer: Buffer): ParsedQuery | undefined {
  if (!(q instanceof Uint8Array) || q.byteLength > MAX_QUERY_BYTES) return undefined;
  const outer = readTlv(q, 0, q.byteLength);
  if (!outer || outer.tag !== TAG.SEQUENCE || outer.end !== q.byteLength) return undefined;
  const end = outer.end;
  const version = readTlv(q, outer.start, end);
  if (!version || version.tag !== TAG.INTEGER || version.end !== version.start + 1 || q[version.start] !== 1) return undefined;
  const imprint = readTlv(q, version.end, end);
  if (!imprint || imprint.tag !== TAG.SEQUENCE) return undefined;
  const alg = readTlv(q, imprint.start, imprint.end);
  if (!alg || alg.tag !== TAG.SEQUENCE) return undefined;
  const algDer = q.subarray(alg.at, alg.end);
  const hash = QUERY_HASH_ALGS.find((h) => h.der.equals(algDer))?.hash;
  if (!hash) return undefined;
  const digest = readTlv(q, alg.end, imprint.end);
  if (!digest || digest.tag !== TAG.OCTET_STRING || digest.end !== imprint.end || digest.end - digest.start !== hash.len) return undefined;
  const parsed: ParsedQuery = {
    hash,
    imprintDer: Buffer.from(q.subarray(imprint.at, imprint.end)),
    hashedMessage: Buffer.from(q.subarray(digest.start, digest.end)),
    certReq: false,
  };
  let at = imprint.end;
  let next = at < end ? readTlv(q, at, end) : undefined;
  if (at < end && !next) return undefined;
  if (next?.tag === TAG.OID) {
    if (!policyDer.equals(q.subarray(next.at, next.end))) return undefined;
    at = next.end;
    next = at < end ? readTlv(q, at, end) : undefined;
    if (at < end && !next) return undefined;
  }
  if (next?.tag === TAG.INTEGER) {
    const len = next.end - next.start;
    const b0 = q[next.start]!;
    // positive, minimal (a leading 0x00 only before a byte with the high bit set), not zero
    if (len === 0 || b0 & 0x80 || (b0 === 0 && (len === 1 || (q[next.start + 1]! & 0x80) === 0))) return undefined;
    if ((b0 === 0 ? len - 1 : len) * 8 > MAX_NONCE_BITS) return undefined;
    parsed.nonceDer = Buffer.from(q.subarray(next.at, next.end));
    parsed.nonce = BigInt(`0x${Buffer.from(q.subarray(next.start, next.end)).toString('hex')}`);
    at = next.end;
    next = at < end ? readTlv(q, at, end) : undefined;
    if (at < end && !next) return undefined;
  }
  if (next?.tag === TAG.BOOLEAN) {
    if (next.end !== next.start + 1 || q[next.start] !== 0xff) return undefined;
    parsed.certReq = true;
    at = next.end;
  }
  return at === end ? parsed : undefined;
}

// ------------------------------------------------------------------------------ the full reader

function isNullOrAbsent(params: unknown): boolean {
  if (params === undefined || params === null) return true;
  if (params instanceof asn1js.Null) return true;
  // pkijs leaves an "Any" placeholder when parameters are absent
  return params instanceof asn1js.Any || (params instanceof asn1js.BaseBlock && params.idBlock.tagClass === -1);
}

const integerValue = (i: asn1js.Integer): bigint => BigInt(`0x${Buffer.from(i.valueBlock.valueHexView).toString('hex') || '0'}`);

/** Any query, with pkijs + asn1js; throws a Rejection carrying the failInfo for everything it refuses. */
function parseQuery(queryDer: Uint8Array, policyOid: string): ParsedQuery {
  if (!(queryDer instanceof Uint8Array)) throw new Rejection('badRequest', 'query must be bytes');
  if (queryDer.byteLength > MAX_QUERY_BYTES) throw new Rejection('badRequest', `query larger than ${MAX_QUERY_BYTES} bytes`);
  if (queryDer.byteLength === 0) throw new Rejection('badDataFormat', 'empty query');
  const bytes = toArrayBuffer(queryDer);
  const asn = asn1js.fromBER(bytes);
  if (asn.offset === -1 || asn.offset !== queryDer.byteLength) throw new Rejection('badDataFormat', 'malformed DER');
  // DER check: re-encoding must be byte-identical (definite, minimal lengths; no trailing data).
  let reencoded: ArrayBuffer;
  try {
    reencoded = asn.result.toBER(false);
  } catch {
    throw new Rejection('badDataFormat', 'malformed DER');
  }
  if (Buffer.compare(Buffer.from(reencoded), Buffer.from(queryDer)) !== 0) throw new Rejection('badDataFormat', 'not DER');
  let req: pkijs.TimeStampReq;
  try {
    req = new pkijs.TimeStampReq({ schema: asn.result });
  } catch {
    throw new Rejection('badDataFormat', 'not a TimeStampReq');
  }
  if (req.version !== 1) throw new Rejection('badRequest', 'unsupported TimeStampReq version');
  const alg = HASH_BY_OID.get(req.messageImprint.hashAlgorithm.algorithmId);
  if (!alg || !isNullOrAbsent(req.messageImprint.hashAlgorithm.algorithmParams)) {
    throw new Rejection('badAlg', 'unsupported hash algorithm');
  }
  if (req.messageImprint.hashedMessage.valueBlock.valueHexView.byteLength !== alg.len) {
    throw new Rejection('badAlg', 'digest length does not match hash algorithm');
  }
  if (req.reqPolicy !== undefined && req.reqPolicy !== policyOid) throw new Rejection('unacceptedPolicy', 'unsupported policy');
  if (req.extensions !== undefined && req.extensions.length > 0) throw new Rejection('unacceptedExtension', 'extensions not supported');
  if (req.nonce !== undefined) {
    const n = req.nonce.valueBlock.valueHexView;
    if (n.byteLength === 0 || (n[0]! & 0x80) !== 0) throw new Rejection('badRequest', 'nonce must be positive');
    const significant = n[0] === 0 ? n.byteLength - 1 : n.byteLength;
    if (significant * 8 > MAX_NONCE_BITS) throw new Rejection('badRequest', `nonce larger than ${MAX_NONCE_BITS} bits`);
  }
  let imprintDer: Buffer;
  let nonceDer: Buffer | undefined;
  try {
    // The same encodings the pkijs TSTInfo of earlier versions carried: the query's own (it is DER).
    imprintDer = Buffer.from(req.messageImprint.toSchema().toBER(false));
    if (req.nonce !== undefined) nonceDer = Buffer.from(req.nonce.toBER(false));
  } catch {
    throw new Rejection('badDataFormat', 'not a TimeStampReq');
  }
  const parsed: ParsedQuery = {
    hash: alg,
    imprintDer,
    hashedMessage: Buffer.from(req.messageImprint.hashedMessage.valueBlock.valueHexView),
    certReq: req.certReq === true,
  };
  if (req.nonce !== undefined) {
    parsed.nonceDer = nonceDer;
    parsed.nonce = integerValue(req.nonce);
  }
  return parsed;
}
