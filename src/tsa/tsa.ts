/**
 * Core of an RFC 3161 Time-Stamp Authority (library only: no HTTP, no persistence).
 *
 * - `TimestampAuthority.respond(queryDer, { serial, time })` parses a TimeStampReq strictly and
 *   always returns a TimeStampResp (never throws on attacker-controlled bytes).
 * - Granted tokens are CMS SignedData over a TSTInfo, signed ECDSA-SHA256 by the TSA leaf, with
 *   signed attributes contentType, messageDigest and signingCertificateV2 (RFC 5816 / ESSCertIDv2,
 *   SHA-256 of the leaf certificate) — `openssl ts -verify` requires the ESS attribute.
 * - `grantDigest({ hash, digest }, ctx)` grants a timestamp over a digest the caller computed (no
 *   query to build or parse); `examine` + `grantQuery` parse a query once and grant it.
 * - `buildQuery(data, …)` builds a TimeStampReq over `data` (e.g. a bundle signature's bytes).
 *
 * Queries in the common strict-DER shapes are read by hand (`acceptCommonQuery`); every other
 * query, and so every rejection, goes through pkijs + asn1js as before. Granted responses are
 * assembled with a small DER writer (`der.ts`) from pieces precomputed in the constructor (policy,
 * TSA name, sid, signingCertificateV2, certificates, the signed attributes' order) and signed
 * synchronously with a node:crypto KeyObject created once; their encoding is the one pkijs gave
 * (cross-checked in test/tsa/grant-crosscheck.int.spec.ts against test/tsa/reference-tsa.ts).
 *
 * Policy OID: DEFAULT_TSA_POLICY_OID = 1.3.6.1.4.1.32473.1.3161.1, under the IANA "example"
 * Private Enterprise Number 32473 (RFC 5612, reserved for documentation). We deliberately avoid
 * 1.3.6.1.4.1.57264 (Sigstore's PEN). It is a placeholder: production deployments should pass
 * an OID under their own PEN via `policyOid`.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import * as der from './der.ts';
import { TAG } from './der.ts';
import { toArrayBuffer } from './engine.ts';

export const DEFAULT_TSA_POLICY_OID = '1.3.6.1.4.1.32473.1.3161.1';
export const MAX_QUERY_BYTES = 16 * 1024;
/** Largest accepted nonce, in bits (RFC 3161 suggests 64 bits; we allow up to 160). */
export const MAX_NONCE_BITS = 160;

export const OID_CT_TST_INFO = '1.2.840.113549.1.9.16.1.4';
export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_ATTR_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';

export type TsaHash = 'SHA-256' | 'SHA-384' | 'SHA-512';
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

interface HashSpec {
  name: TsaHash;
  oid: string;
  len: number;
  node: string;
  /** AlgorithmIdentifier with absent parameters, DER (as `buildQuery` writes it). */
  algDer: Buffer;
}
const hashSpec = (name: TsaHash, oid: string, len: number, node: string): HashSpec => ({
  name,
  oid,
  len,
  node,
  algDer: der.tlv(TAG.SEQUENCE, der.oid(oid)),
});
const HASHES: Record<TsaHash, HashSpec> = {
  'SHA-256': hashSpec('SHA-256', '2.16.840.1.101.3.4.2.1', 32, 'sha256'),
  'SHA-384': hashSpec('SHA-384', '2.16.840.1.101.3.4.2.2', 48, 'sha384'),
  'SHA-512': hashSpec('SHA-512', '2.16.840.1.101.3.4.2.3', 64, 'sha512'),
};
const HASH_BY_OID = new Map(Object.values(HASHES).map((h) => [h.oid, h] as const));

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

export interface TimestampAuthorityOptions {
  leafCertDer: Uint8Array;
  /** Issuer chain, leaf's issuer first (typically just the root). Included when certReq is true. */
  chainDers?: Uint8Array[];
  privateKeyPkcs8: Uint8Array;
  /** Defaults to DEFAULT_TSA_POLICY_OID. */
  policyOid?: string;
  /** Positive integer; included as TSTInfo.accuracy.seconds when set. */
  accuracySeconds?: number;
  /** Include TSTInfo.tsa = directoryName(leaf subject). Default true. */
  includeTsaName?: boolean;
}

export interface RespondContext {
  /** TSTInfo.serialNumber; must be a non-negative integer of at most 160 bits (unique per token). */
  serial: bigint;
  /** TSTInfo.genTime; encoded as GeneralizedTime UTC with millisecond precision (DER-trimmed). */
  time: Date;
}

export interface TimestampResponse {
  status: 'granted' | 'rejection';
  failInfo?: TsaFailInfo;
  /** The TimeStampResp DER. */
  der: Buffer;
  /** The TimeStampToken (ContentInfo DER), when granted. */
  token?: Buffer;
}

export interface BuildQueryOptions {
  hash?: TsaHash;
  nonce?: bigint;
  certReq?: boolean;
  reqPolicy?: string;
}

class Rejection extends Error {
  constructor(
    readonly failInfo: TsaFailInfo,
    message: string,
  ) {
    super(message);
  }
}

function asn1Integer(v: bigint): asn1js.Integer {
  return new asn1js.Integer({ valueHex: toArrayBuffer(der.integerContents(v)) });
}

function failInfoBitString(name: TsaFailInfo): asn1js.BitString {
  const bit = FAIL_INFO_BITS[name];
  const bytes = new Uint8Array((bit >> 3) + 1);
  bytes[bit >> 3] = 0x80 >> (bit & 7);
  return new asn1js.BitString({ valueHex: toArrayBuffer(bytes), unusedBits: 7 - (bit & 7) });
}

function isNullOrAbsent(params: unknown): boolean {
  if (params === undefined || params === null) return true;
  if (params instanceof asn1js.Null) return true;
  // pkijs leaves an "Any" placeholder when parameters are absent
  return params instanceof asn1js.Any || (params instanceof asn1js.BaseBlock && params.idBlock.tagClass === -1);
}

interface ParsedQuery {
  hash: HashSpec;
  /** The query's MessageImprint, DER (echoed verbatim in TSTInfo, NULL hash parameters included). */
  imprintDer: Buffer;
  hashedMessage: Buffer;
  /** The query's nonce INTEGER, DER (echoed verbatim in TSTInfo). */
  nonceDer?: Buffer;
  nonce?: bigint;
  certReq: boolean;
}

const integerValue = (i: asn1js.Integer): bigint => BigInt(`0x${Buffer.from(i.valueBlock.valueHexView).toString('hex') || '0'}`);

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
 * accepts what the full parser below accepts, with the same result; for anything else (every
 * query that will be rejected included) it returns undefined and the full parser decides, so
 * rejections and their failInfo are unchanged.
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

/** Parses a TimeStampReq strictly: the common shapes by hand, everything else with pkijs + asn1js. */
function parseQuery(queryDer: Uint8Array, policyOid: string, policyDer: Buffer): ParsedQuery {
  const common = acceptCommonQuery(queryDer, policyDer);
  if (common) return common;
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

function encodeResponse(status: pkijs.PKIStatusInfo, token?: pkijs.ContentInfo): Buffer {
  const resp = new pkijs.TimeStampResp(token ? { status, timeStampToken: token } : { status });
  return Buffer.from(resp.toSchema().toBER(false));
}

function rejection(failInfo: TsaFailInfo, message: string): TimestampResponse {
  const status = new pkijs.PKIStatusInfo({
    status: pkijs.PKIStatus.rejection,
    statusStrings: [new asn1js.Utf8String({ value: message })],
    failInfo: failInfoBitString(failInfo),
  });
  return { status: 'rejection', failInfo, der: encodeResponse(status) };
}

function spkiOfCert(cert: pkijs.Certificate): Buffer {
  return Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER(false));
}

function checkContext(ctx: RespondContext): void {
  if (typeof ctx.serial !== 'bigint' || ctx.serial < 0n || ctx.serial >= 1n << 160n) {
    throw new RangeError('serial must be a bigint in [0, 2^160)');
  }
  if (!(ctx.time instanceof Date) || Number.isNaN(ctx.time.getTime())) throw new TypeError('time must be a valid Date');
  const year = ctx.time.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError('time must be within the years 0000..9999');
}

// Constant DER pieces (see RFC 3161 §2.4.2, RFC 5652 §5, RFC 5816).
const EMPTY = Buffer.alloc(0);
const DER_OID_CT_TST_INFO = der.oid(OID_CT_TST_INFO);
const DER_OID_SIGNED_DATA = der.oid(OID_SIGNED_DATA);
const DER_OID_ATTR_MESSAGE_DIGEST = der.oid(OID_ATTR_MESSAGE_DIGEST);
/** AlgorithmIdentifier sha256 with NULL parameters (CMS digestAlgorithm). */
const DER_ALG_SHA256_NULL = der.tlv(TAG.SEQUENCE, der.oid(HASHES['SHA-256'].oid), Buffer.from([TAG.NULL, 0]));
/** AlgorithmIdentifier ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2). */
const DER_ALG_ECDSA_SHA256 = der.tlv(TAG.SEQUENCE, der.oid(OID_ECDSA_WITH_SHA256));
/** PKIStatusInfo { status granted(0) }. */
const DER_STATUS_GRANTED = der.tlv(TAG.SEQUENCE, der.integer(0n));
/** SignedData version 3 ‖ digestAlgorithms SET { sha256 }. */
const DER_SIGNED_DATA_HEAD = Buffer.concat([der.integer(3n), der.tlv(TAG.SET, DER_ALG_SHA256_NULL)]);

/** A granted timestamp for a digest the caller computed (no TimeStampReq to build or parse). */
export interface DigestRequest {
  /** Hash algorithm of `digest`: a name or its OID. */
  hash: TsaHash | string;
  digest: Uint8Array;
  /** Echoed as TSTInfo.nonce; in (0, 2^160). */
  nonce?: bigint;
  /** Include the TSA's certificates in the token. Default false. */
  certReq?: boolean;
}

/** A query that passed every check, with what it asks to timestamp (see `TimestampAuthority.examine`). */
export interface AcceptedQuery {
  readonly status: 'acceptable';
  readonly info: { hashOid: string; hashedMessage: Buffer; nonce?: bigint };
  /** @internal */
  readonly parsed: ParsedQuery;
}

export class TimestampAuthority {
  readonly policyOid: string;
  private readonly policyDer: Buffer;
  private readonly leafDer: Buffer;
  private readonly signingKey: { key: KeyObject; dsaEncoding: 'der' };
  /** INTEGER version 1 ‖ TSAPolicyId. */
  private readonly tstInfoHead: Buffer;
  /** Accuracy (or nothing). */
  private readonly accuracyDer: Buffer;
  /** tsa [0] EXPLICIT GeneralName directoryName [4] (or nothing). */
  private readonly tsaNameDer: Buffer;
  /** Signed attributes sorting before / after messageDigest in the DER SET OF. */
  private readonly attrsBefore: Buffer;
  private readonly attrsAfter: Buffer;
  /** SignerInfo version 1 ‖ sid IssuerAndSerialNumber ‖ digestAlgorithm sha256. */
  private readonly signerInfoHead: Buffer;
  /** certificates [0] IMPLICIT: the leaf, then the issuer chain. */
  private readonly certificatesDer: Buffer;

  constructor(options: TimestampAuthorityOptions) {
    this.policyOid = options.policyOid ?? DEFAULT_TSA_POLICY_OID;
    if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(this.policyOid)) throw new TypeError(`invalid policy OID: ${this.policyOid}`);
    if (options.accuracySeconds !== undefined && (!Number.isInteger(options.accuracySeconds) || options.accuracySeconds < 1)) {
      throw new RangeError('accuracySeconds must be a positive integer');
    }
    const includeTsaName = options.includeTsaName ?? true;
    this.leafDer = Buffer.from(options.leafCertDer);
    const leaf = pkijs.Certificate.fromBER(toArrayBuffer(this.leafDer));
    const chainDers = (options.chainDers ?? []).map((d) => Buffer.from(d));
    for (const d of chainDers) pkijs.Certificate.fromBER(toArrayBuffer(d)); // must parse
    const priv: KeyObject = createPrivateKey({ key: Buffer.from(options.privateKeyPkcs8), format: 'der', type: 'pkcs8' });
    const derivedSpki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
    if (Buffer.compare(derivedSpki, spkiOfCert(leaf)) !== 0) throw new TypeError('private key does not match the leaf certificate');
    if (priv.asymmetricKeyType !== 'ec' || priv.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new TypeError('TSA signing key must be an ECDSA P-256 private key');
    }
    this.signingKey = { key: priv, dsaEncoding: 'der' };

    // Names and serial exactly as encoded in the leaf certificate.
    const issuerDer = Buffer.from(leaf.issuer.toSchema().toBER(false));
    const subjectDer = Buffer.from(leaf.subject.toSchema().toBER(false));
    const leafSerialDer = Buffer.from(leaf.serialNumber.toBER(false));

    this.policyDer = der.oid(this.policyOid);
    this.tstInfoHead = Buffer.concat([der.integer(1n), this.policyDer]);
    this.accuracyDer = options.accuracySeconds !== undefined ? der.tlv(TAG.SEQUENCE, der.integer(BigInt(options.accuracySeconds))) : EMPTY;
    this.tsaNameDer = includeTsaName ? der.tlv(TAG.context(0), der.tlv(TAG.context(4), subjectDer)) : EMPTY;

    const contentType = der.tlv(TAG.SEQUENCE, der.oid(OID_ATTR_CONTENT_TYPE), der.tlv(TAG.SET, DER_OID_CT_TST_INFO));
    // SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 { hashAlgorithm DEFAULT sha256 (omitted),
    // certHash, issuerSerial { issuer GeneralNames { directoryName [4] }, serialNumber } } }
    const essCertIdV2 = der.tlv(
      TAG.SEQUENCE,
      der.tlv(TAG.OCTET_STRING, createHash('sha256').update(this.leafDer).digest()),
      der.tlv(TAG.SEQUENCE, der.tlv(TAG.SEQUENCE, der.tlv(TAG.context(4), issuerDer)), leafSerialDer),
    );
    const signingCertificateV2 = der.tlv(
      TAG.SEQUENCE,
      der.oid(OID_ATTR_SIGNING_CERTIFICATE_V2),
      der.tlv(TAG.SET, der.tlv(TAG.SEQUENCE, der.tlv(TAG.SEQUENCE, essCertIdV2))),
    );
    // DER SET OF: elements sorted by their encodings (verifiers such as OpenSSL re-encode signedAttrs
    // before verifying). The messageDigest attribute's encoding is fixed up to its digest bytes,
    // which come after its OID; attributes have distinct OIDs, so its place is decided before them.
    const mdPrefix = der.tlv(TAG.SEQUENCE, DER_OID_ATTR_MESSAGE_DIGEST, der.tlv(TAG.SET, der.tlv(TAG.OCTET_STRING, Buffer.alloc(32)))).subarray(
      0,
      2 + DER_OID_ATTR_MESSAGE_DIGEST.byteLength,
    );
    const constant = [contentType, signingCertificateV2].sort(Buffer.compare);
    const before: Buffer[] = [];
    const after: Buffer[] = [];
    for (const attr of constant) {
      const n = Math.min(attr.byteLength, mdPrefix.byteLength);
      const c = Buffer.compare(attr.subarray(0, n), mdPrefix.subarray(0, n));
      if (c === 0) throw new Error('cannot order the signed attributes');
      (c < 0 ? before : after).push(attr);
    }
    this.attrsBefore = Buffer.concat(before);
    this.attrsAfter = Buffer.concat(after);

    this.signerInfoHead = Buffer.concat([der.integer(1n), der.tlv(TAG.SEQUENCE, issuerDer, leafSerialDer), DER_ALG_SHA256_NULL]);
    this.certificatesDer = der.tlv(TAG.context(0), this.leafDer, ...chainDers);
  }

  /** What a valid query asks to timestamp (hash algorithm OID, digest, nonce), or undefined. */
  queryInfo(queryDer: Uint8Array): { hashOid: string; hashedMessage: Buffer; nonce?: bigint } | undefined {
    try {
      return infoOf(parseQuery(queryDer, this.policyOid, this.policyDer));
    } catch {
      return undefined;
    }
  }

  /**
   * Validates a query without signing: undefined when `respond` would grant it, else the
   * rejection it would give. Lets a caller assign serials only to queries that will be granted.
   */
  async check(queryDer: Uint8Array): Promise<TimestampResponse | undefined> {
    const e = this.examine(queryDer);
    return e.status === 'acceptable' ? undefined : e;
  }

  /**
   * Parses and validates a query once: the rejection `respond` would give, or the accepted query
   * (with what it asks to timestamp) to pass to `grantQuery`.
   */
  examine(queryDer: Uint8Array): AcceptedQuery | TimestampResponse {
    try {
      const parsed = parseQuery(queryDer, this.policyOid, this.policyDer);
      return { status: 'acceptable', info: infoOf(parsed), parsed };
    } catch (e) {
      if (e instanceof Rejection) return rejection(e.failInfo, e.message);
      return rejection('badDataFormat', 'unparseable query');
    }
  }

  /**
   * Answers a TimeStampReq. Rejections (bad input) resolve with status 'rejection'; it only rejects
   * the promise for invalid `ctx` (programmer error). Signing failures yield failInfo systemFailure.
   */
  async respond(queryDer: Uint8Array, ctx: RespondContext): Promise<TimestampResponse> {
    checkContext(ctx);
    const e = this.examine(queryDer);
    if (e.status !== 'acceptable') return e;
    try {
      return this.grant(e.parsed.imprintDer, e.parsed.nonceDer, e.parsed.certReq, ctx);
    } catch {
      return rejection('systemFailure', 'internal error');
    }
  }

  /** Grants a query `examine` accepted (synchronously). Throws on invalid `ctx` or a signing failure. */
  grantQuery(query: AcceptedQuery, ctx: RespondContext): TimestampResponse {
    checkContext(ctx);
    return this.grant(query.parsed.imprintDer, query.parsed.nonceDer, query.parsed.certReq, ctx);
  }

  /**
   * Grants a timestamp over a digest (synchronously), as `respond` would for a query with that
   * messageImprint (hash parameters absent), nonce and certReq. Throws on invalid input.
   */
  grantDigest(request: DigestRequest, ctx: RespondContext): TimestampResponse {
    checkContext(ctx);
    const hash = (HASHES as Record<string, HashSpec | undefined>)[request.hash] ?? HASH_BY_OID.get(request.hash);
    if (!hash) throw new TypeError(`unsupported hash: ${String(request.hash)}`);
    if (!(request.digest instanceof Uint8Array) || request.digest.byteLength !== hash.len) {
      throw new RangeError(`a ${hash.name} digest has ${hash.len} bytes`);
    }
    let nonceDer: Buffer | undefined;
    if (request.nonce !== undefined) {
      if (typeof request.nonce !== 'bigint' || request.nonce <= 0n || request.nonce >= 1n << BigInt(MAX_NONCE_BITS)) {
        throw new RangeError(`nonce must be in (0, 2^${MAX_NONCE_BITS})`);
      }
      nonceDer = der.integer(request.nonce);
    }
    const imprintDer = der.tlv(TAG.SEQUENCE, hash.algDer, der.tlv(TAG.OCTET_STRING, request.digest));
    return this.grant(imprintDer, nonceDer, request.certReq === true, ctx);
  }

  private grant(imprintDer: Uint8Array, nonceDer: Uint8Array | undefined, certReq: boolean, ctx: RespondContext): TimestampResponse {
    // TSTInfo (RFC 3161 §2.4.2): version, policy, messageImprint, serialNumber, genTime, accuracy,
    // [ordering absent], nonce, tsa.
    const tstInfo = der.tlv(
      TAG.SEQUENCE,
      this.tstInfoHead,
      imprintDer,
      der.integer(ctx.serial),
      der.generalizedTime(ctx.time),
      this.accuracyDer,
      nonceDer ?? EMPTY,
      this.tsaNameDer,
    );
    const messageDigest = der.tlv(
      TAG.SEQUENCE,
      DER_OID_ATTR_MESSAGE_DIGEST,
      der.tlv(TAG.SET, der.tlv(TAG.OCTET_STRING, createHash('sha256').update(tstInfo).digest())),
    );
    // The signature covers the signed attributes encoded as a SET OF (RFC 5652 §5.4) …
    const signedAttrs = der.tlv(TAG.SET, this.attrsBefore, messageDigest, this.attrsAfter);
    const signature = sign('sha256', signedAttrs, this.signingKey);
    // … and SignerInfo carries them as [0] IMPLICIT.
    signedAttrs[0] = TAG.context(0);
    const signerInfo = der.tlv(TAG.SEQUENCE, this.signerInfoHead, signedAttrs, DER_ALG_ECDSA_SHA256, der.tlv(TAG.OCTET_STRING, signature));
    // eContent is a primitive OCTET STRING (DER), as strict parsers such as @sigstore/core's require.
    const encapContentInfo = der.tlv(TAG.SEQUENCE, DER_OID_CT_TST_INFO, der.tlv(TAG.context(0), der.tlv(TAG.OCTET_STRING, tstInfo)));
    const signedData = der.tlv(
      TAG.SEQUENCE,
      DER_SIGNED_DATA_HEAD,
      encapContentInfo,
      certReq ? this.certificatesDer : EMPTY,
      der.tlv(TAG.SET, signerInfo),
    );
    const token = der.tlvOwned(TAG.SEQUENCE, DER_OID_SIGNED_DATA, der.tlv(TAG.context(0), signedData));
    const response = der.tlvOwned(TAG.SEQUENCE, DER_STATUS_GRANTED, token);
    return { status: 'granted', der: response, token };
  }
}

function infoOf(q: ParsedQuery): { hashOid: string; hashedMessage: Buffer; nonce?: bigint } {
  return { hashOid: q.hash.oid, hashedMessage: Buffer.from(q.hashedMessage), ...(q.nonce !== undefined ? { nonce: q.nonce } : {}) };
}

/**
 * Builds a DER TimeStampReq whose messageImprint is hash(data). For Sigstore bundles, `data` is the
 * raw signature bytes (Sigstore verifies RFC 3161 timestamps over the signature).
 */
export function buildQuery(data: Uint8Array, options: BuildQueryOptions = {}): Buffer {
  const h = HASHES[options.hash ?? 'SHA-256'];
  if (!h) throw new TypeError(`unsupported hash: ${String(options.hash)}`);
  const digest = createHash(h.node).update(data).digest();
  if (options.nonce !== undefined && (options.nonce <= 0n || options.nonce >= 1n << BigInt(MAX_NONCE_BITS))) {
    throw new RangeError(`nonce must be in (0, 2^${MAX_NONCE_BITS})`);
  }
  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: h.oid }),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(digest) }),
    }),
    ...(options.reqPolicy !== undefined ? { reqPolicy: options.reqPolicy } : {}),
    ...(options.nonce !== undefined ? { nonce: asn1Integer(options.nonce) } : {}),
    ...(options.certReq ? { certReq: true } : {}),
  });
  return Buffer.from(req.toSchema().toBER(false));
}

/** Decoded view of a TimeStampResp (for tests and clients). Throws on malformed input. */
export function parseTimeStampResp(der: Uint8Array): {
  status: number;
  failInfo: TsaFailInfo[];
  statusStrings: string[];
  tstInfo?: { policy: string; serial: bigint; genTime: Date; nonce?: bigint; hashOid: string; hashedMessage: Buffer };
} {
  const resp = pkijs.TimeStampResp.fromBER(toArrayBuffer(der));
  const failInfo: TsaFailInfo[] = [];
  const fi = resp.status.failInfo;
  if (fi) {
    const bytes = fi.valueBlock.valueHexView;
    for (const [k, bit] of Object.entries(FAIL_INFO_BITS)) {
      if (((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0) failInfo.push(k as TsaFailInfo);
    }
  }
  const out: ReturnType<typeof parseTimeStampResp> = {
    status: resp.status.status,
    failInfo,
    statusStrings: (resp.status.statusStrings ?? []).map((s) => s.valueBlock.value),
  };
  if (resp.timeStampToken) {
    const sd = new pkijs.SignedData({ schema: resp.timeStampToken.content });
    const eContent = sd.encapContentInfo.eContent;
    if (!eContent) throw new Error('token without eContent');
    const tst = pkijs.TSTInfo.fromBER(eContent.getValue());
    const toBig = (i: asn1js.Integer): bigint => BigInt(`0x${Buffer.from(i.valueBlock.valueHexView).toString('hex') || '0'}`);
    out.tstInfo = {
      policy: tst.policy,
      serial: toBig(tst.serialNumber),
      genTime: tst.genTime,
      hashOid: tst.messageImprint.hashAlgorithm.algorithmId,
      hashedMessage: Buffer.from(tst.messageImprint.hashedMessage.valueBlock.valueHexView),
      ...(tst.nonce ? { nonce: toBig(tst.nonce) } : {}),
    };
  }
  return out;
}
