/**
 * TEST-ONLY RFC 3161 client: builds TimeStampReqs and decodes TimeStampResps with pkijs, the way
 * an outside client would. The ledger never builds queries or reads responses, so this lives
 * with the tests and benches rather than in src/tsa. It reads the profile (hashes, nonce bound,
 * failInfo bits) from src/tsa/rfc3161.ts so both sides agree on it.
 */
import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import * as der from '../../src/tsa/der.ts';
import { toArrayBuffer } from '../../src/tsa/engine.ts';
import { assertNonce, FAIL_INFO_BITS, HASHES, type TsaFailInfo, type TsaHash } from '../../src/tsa/rfc3161.ts';

export interface BuildQueryOptions {
  hash?: TsaHash;
  nonce?: bigint;
  certReq?: boolean;
  reqPolicy?: string;
}

/**
 * Builds a DER TimeStampReq whose messageImprint is hash(data). For Sigstore bundles, `data` is the
 * raw signature bytes (Sigstore verifies RFC 3161 timestamps over the signature).
 */
export function buildQuery(data: Uint8Array, options: BuildQueryOptions = {}): Buffer {
  const name = options.hash ?? 'SHA-256';
  const h = Object.hasOwn(HASHES, name) ? HASHES[name] : undefined;
  if (!h) throw new TypeError(`unsupported hash: ${String(options.hash)}`);
  const digest = createHash(h.node).update(data).digest();
  if (options.nonce !== undefined) assertNonce(options.nonce);
  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: h.oid }),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(digest) }),
    }),
    ...(options.reqPolicy !== undefined ? { reqPolicy: options.reqPolicy } : {}),
    ...(options.nonce !== undefined ? { nonce: new asn1js.Integer({ valueHex: toArrayBuffer(der.integerContents(options.nonce)) }) } : {}),
    ...(options.certReq ? { certReq: true } : {}),
  });
  return Buffer.from(req.toSchema().toBER(false));
}

const toBig = (i: asn1js.Integer): bigint => BigInt(`0x${Buffer.from(i.valueBlock.valueHexView).toString('hex') || '0'}`);

export interface DecodedTimeStampResp {
  status: number;
  failInfo: TsaFailInfo[];
  statusStrings: string[];
  tstInfo?: { policy: string; serial: bigint; genTime: Date; nonce?: bigint; hashOid: string; hashedMessage: Buffer };
}

/** Decoded view of a TimeStampResp. Throws on malformed input. */
export function parseTimeStampResp(der: Uint8Array): DecodedTimeStampResp {
  const resp = pkijs.TimeStampResp.fromBER(toArrayBuffer(der));
  const failInfo: TsaFailInfo[] = [];
  const fi = resp.status.failInfo;
  if (fi) {
    const bytes = fi.valueBlock.valueHexView;
    for (const [k, bit] of Object.entries(FAIL_INFO_BITS)) {
      if (((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0) failInfo.push(k as TsaFailInfo);
    }
  }
  const out: DecodedTimeStampResp = {
    status: resp.status.status,
    failInfo,
    statusStrings: (resp.status.statusStrings ?? []).map((s) => s.valueBlock.value),
  };
  if (resp.timeStampToken) {
    const sd = new pkijs.SignedData({ schema: resp.timeStampToken.content });
    const eContent = sd.encapContentInfo.eContent;
    if (!eContent) throw new Error('token without eContent');
    const tst = pkijs.TSTInfo.fromBER(eContent.getValue());
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
