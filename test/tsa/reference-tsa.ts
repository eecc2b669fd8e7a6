/**
 * TEST-ONLY reference: the TSA grant path as it was before the hand-assembled DER encoder —
 * every TimeStampResp built with pkijs objects and signed through WebCrypto (`SignedData.sign`).
 * Kept verbatim (query parsing included) so that `grant-crosscheck.int.spec.ts` and
 * `bench/tsa.bench.mts` can compare the production encoder against it. Not used by src/.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { engine, importP256PrivateKey, toArrayBuffer, type WebCryptoKey } from '../../src/tsa/engine.ts';
import { FAIL_INFO_BITS, MAX_NONCE_BITS, MAX_QUERY_BYTES, OID_CT_TST_INFO, OID_SIGNED_DATA, type TsaFailInfo, type TsaHash } from '../../src/tsa/rfc3161.ts';
import { DEFAULT_TSA_POLICY_OID, type RespondContext, type TimestampAuthorityOptions, type TimestampResponse } from '../../src/tsa/tsa.ts';

const OID_ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_ATTR_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';

const HASHES: Record<TsaHash, { oid: string; len: number; node: string }> = {
  'SHA-256': { oid: '2.16.840.1.101.3.4.2.1', len: 32, node: 'sha256' },
  'SHA-384': { oid: '2.16.840.1.101.3.4.2.2', len: 48, node: 'sha384' },
  'SHA-512': { oid: '2.16.840.1.101.3.4.2.3', len: 64, node: 'sha512' },
};
const HASH_BY_OID = new Map(Object.values(HASHES).map((h) => [h.oid, h] as const));

class Rejection extends Error {
  constructor(
    readonly failInfo: TsaFailInfo,
    message: string,
  ) {
    super(message);
  }
}

function bigintToIntegerBytes(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative integers are not supported');
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

function asn1Integer(v: bigint): asn1js.Integer {
  return new asn1js.Integer({ valueHex: toArrayBuffer(bigintToIntegerBytes(v)) });
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
  messageImprint: pkijs.MessageImprint;
  nonce?: asn1js.Integer;
  certReq: boolean;
}

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
  const parsed: ParsedQuery = { messageImprint: req.messageImprint, certReq: req.certReq === true };
  if (req.nonce !== undefined) parsed.nonce = req.nonce;
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

export class ReferenceTimestampAuthority {
  readonly policyOid: string;
  private readonly leaf: pkijs.Certificate;
  private readonly leafDer: Buffer;
  private readonly chain: pkijs.Certificate[];
  private readonly accuracySeconds: number | undefined;
  private readonly includeTsaName: boolean;
  private readonly privateKeyPkcs8: Buffer;
  private keyPromise: Promise<WebCryptoKey> | undefined;

  constructor(options: TimestampAuthorityOptions) {
    this.policyOid = options.policyOid ?? DEFAULT_TSA_POLICY_OID;
    if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(this.policyOid)) throw new TypeError(`invalid policy OID: ${this.policyOid}`);
    if (options.accuracySeconds !== undefined && (!Number.isInteger(options.accuracySeconds) || options.accuracySeconds < 1)) {
      throw new RangeError('accuracySeconds must be a positive integer');
    }
    this.accuracySeconds = options.accuracySeconds;
    this.includeTsaName = options.includeTsaName ?? true;
    this.leafDer = Buffer.from(options.leafCertDer);
    this.leaf = pkijs.Certificate.fromBER(toArrayBuffer(this.leafDer));
    this.chain = (options.chainDers ?? []).map((d) => pkijs.Certificate.fromBER(toArrayBuffer(d)));
    this.privateKeyPkcs8 = Buffer.from(options.privateKeyPkcs8);
    const priv: KeyObject = createPrivateKey({ key: this.privateKeyPkcs8, format: 'der', type: 'pkcs8' });
    const derivedSpki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
    if (Buffer.compare(derivedSpki, spkiOfCert(this.leaf)) !== 0) throw new TypeError('private key does not match the leaf certificate');
  }

  /** The WebCrypto key is imported once, lazily, per authority instance. */
  private key(): Promise<WebCryptoKey> {
    this.keyPromise ??= importP256PrivateKey(this.privateKeyPkcs8);
    return this.keyPromise;
  }

  /**
   * Answers a TimeStampReq. Rejections (bad input) resolve with status 'rejection'; it only rejects
   * the promise for invalid `ctx` (programmer error). Signing failures yield failInfo systemFailure.
   */
  /** What a valid query asks to timestamp (hash algorithm OID, digest, nonce), or undefined. */
  queryInfo(queryDer: Uint8Array): { hashOid: string; hashedMessage: Buffer; nonce?: bigint } | undefined {
    try {
      const q = parseQuery(queryDer, this.policyOid);
      const nonce = q.nonce ? BigInt(`0x${Buffer.from(q.nonce.valueBlock.valueHexView).toString('hex') || '0'}`) : undefined;
      return {
        hashOid: q.messageImprint.hashAlgorithm.algorithmId,
        hashedMessage: Buffer.from(q.messageImprint.hashedMessage.valueBlock.valueHexView),
        ...(nonce !== undefined ? { nonce } : {}),
      };
    } catch {
      return undefined;
    }
  }

  /**
   * Validates a query without signing: undefined when `respond` would grant it, else the
   * rejection it would give. Lets a caller assign serials only to queries that will be granted.
   */
  async check(queryDer: Uint8Array): Promise<TimestampResponse | undefined> {
    try {
      parseQuery(queryDer, this.policyOid);
      return undefined;
    } catch (e) {
      if (e instanceof Rejection) return rejection(e.failInfo, e.message);
      return rejection('badDataFormat', 'unparseable query');
    }
  }

  async respond(queryDer: Uint8Array, ctx: RespondContext): Promise<TimestampResponse> {
    if (typeof ctx.serial !== 'bigint' || ctx.serial < 0n || ctx.serial >= 1n << 160n) {
      throw new RangeError('serial must be a bigint in [0, 2^160)');
    }
    if (!(ctx.time instanceof Date) || Number.isNaN(ctx.time.getTime())) throw new TypeError('time must be a valid Date');
    let query: ParsedQuery;
    try {
      query = parseQuery(queryDer, this.policyOid);
    } catch (e) {
      if (e instanceof Rejection) return rejection(e.failInfo, e.message);
      return rejection('badDataFormat', 'unparseable query');
    }
    try {
      return await this.grant(query, ctx);
    } catch {
      return rejection('systemFailure', 'internal error');
    }
  }

  private async grant(query: ParsedQuery, ctx: RespondContext): Promise<TimestampResponse> {
    const tstInfo = new pkijs.TSTInfo({
      version: 1,
      policy: this.policyOid,
      messageImprint: query.messageImprint,
      serialNumber: asn1Integer(ctx.serial),
      genTime: new Date(ctx.time.getTime()),
      ...(this.accuracySeconds !== undefined ? { accuracy: new pkijs.Accuracy({ seconds: this.accuracySeconds }) } : {}),
      ...(query.nonce !== undefined ? { nonce: query.nonce } : {}),
      ...(this.includeTsaName ? { tsa: new pkijs.GeneralName({ type: 4, value: this.leaf.subject }) } : {}),
    });
    const tstInfoDer = Buffer.from(tstInfo.toSchema().toBER(false));

    const essCertIdV2 = new asn1js.Sequence({
      value: [
        // hashAlgorithm omitted: DEFAULT sha256
        new asn1js.OctetString({ valueHex: toArrayBuffer(createHash('sha256').update(this.leafDer).digest()) }),
        new asn1js.Sequence({
          value: [
            new asn1js.Sequence({
              value: [new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 4 }, value: [this.leaf.issuer.toSchema()] })],
            }),
            this.leaf.serialNumber,
          ],
        }),
      ],
    });
    const attributes = [
      new pkijs.Attribute({ type: OID_ATTR_CONTENT_TYPE, values: [new asn1js.ObjectIdentifier({ value: OID_CT_TST_INFO })] }),
      new pkijs.Attribute({
        type: OID_ATTR_MESSAGE_DIGEST,
        values: [new asn1js.OctetString({ valueHex: toArrayBuffer(createHash('sha256').update(tstInfoDer).digest()) })],
      }),
      new pkijs.Attribute({
        type: OID_ATTR_SIGNING_CERTIFICATE_V2,
        values: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [essCertIdV2] })] })],
      }),
    ];
    // DER SET OF: sort by encoding (verifiers such as OpenSSL re-encode signedAttrs before verifying).
    const sorted = attributes
      .map((a) => ({ a, der: Buffer.from(a.toSchema().toBER(false)) }))
      .sort((x, y) => Buffer.compare(x.der, y.der))
      .map((x) => x.a);

    const encapContentInfo = new pkijs.EncapsulatedContentInfo({ eContentType: OID_CT_TST_INFO });
    // DER, not BER: pkijs's constructor would turn eContent into a constructed (chunked) OCTET
    // STRING, which DER-only parsers such as @sigstore/core's cannot read. Set it afterwards.
    encapContentInfo.eContent = new asn1js.OctetString({ valueHex: toArrayBuffer(tstInfoDer) });
    const signedData = new pkijs.SignedData({
      version: 3,
      encapContentInfo,
      signerInfos: [
        new pkijs.SignerInfo({
          version: 1,
          sid: new pkijs.IssuerAndSerialNumber({ issuer: this.leaf.issuer, serialNumber: this.leaf.serialNumber }),
          signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: sorted }),
        }),
      ],
      ...(query.certReq ? { certificates: [this.leaf, ...this.chain] } : {}),
    });
    await signedData.sign(await this.key(), 0, 'SHA-256', undefined, engine);
    const token = new pkijs.ContentInfo({ contentType: OID_SIGNED_DATA, content: signedData.toSchema(true) });
    const tokenDer = Buffer.from(token.toSchema().toBER(false));
    const der = encodeResponse(new pkijs.PKIStatusInfo({ status: pkijs.PKIStatus.granted }), token);
    return { status: 'granted', der, token: tokenDer };
  }
}
