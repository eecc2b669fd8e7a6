/**
 * The DER of a TimeStampResp.
 *
 * Granted responses do not go through pkijs: `GrantWriter` encodes every constant piece once
 * (policy, TSA name, sid, signingCertificateV2, certificates, the signed attributes' order) and
 * assembles each token with the small DER writer (`der.ts`), signed synchronously with a
 * node:crypto KeyObject. The encoding is the one pkijs gave (cross-checked byte for byte in
 * test/tsa/grant-crosscheck.int.spec.ts against test/tsa/reference-tsa.ts). Tokens are CMS
 * SignedData over a TSTInfo, signed ECDSA-SHA256 by the TSA leaf, with the signed attributes
 * contentType, messageDigest and signingCertificateV2 (RFC 5816 / ESSCertIDv2, SHA-256 of the leaf
 * certificate) — `openssl ts -verify` requires the ESS attribute.
 *
 * Rejections are rare and go through pkijs (`rejectionDer`).
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import * as der from './der.ts';
import { TAG } from './der.ts';
import { toArrayBuffer } from './engine.ts';
import {
  FAIL_INFO_BITS,
  HASHES,
  OID_ATTR_CONTENT_TYPE,
  OID_ATTR_MESSAGE_DIGEST,
  OID_ATTR_SIGNING_CERTIFICATE_V2,
  OID_CT_TST_INFO,
  OID_ECDSA_WITH_SHA256,
  OID_SIGNED_DATA,
  type TsaFailInfo,
} from './rfc3161.ts';

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

export interface GrantWriterOptions {
  /** The TSA leaf, parsed and as DER (names and serial are copied exactly as it encodes them). */
  leaf: pkijs.Certificate;
  leafDer: Buffer;
  /** Issuer chain, leaf's issuer first; sent after the leaf when a query asks for certificates. */
  chainDers: Buffer[];
  /** The leaf's ECDSA P-256 private key (checked against the leaf by the caller). */
  key: KeyObject;
  /** TSAPolicyId, DER. */
  policyDer: Buffer;
  accuracySeconds: number | undefined;
  includeTsaName: boolean;
}

/** What varies from token to token. */
export interface GrantInput {
  /** MessageImprint, DER (echoed verbatim). */
  imprintDer: Uint8Array;
  /** Nonce INTEGER, DER (echoed verbatim), if any. */
  nonceDer: Uint8Array | undefined;
  certReq: boolean;
  serial: bigint;
  time: Date;
}

export class GrantWriter {
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

  constructor(options: GrantWriterOptions) {
    const { leaf, leafDer } = options;
    this.signingKey = { key: options.key, dsaEncoding: 'der' };

    // Names and serial exactly as encoded in the leaf certificate.
    const issuerDer = Buffer.from(leaf.issuer.toSchema().toBER(false));
    const subjectDer = Buffer.from(leaf.subject.toSchema().toBER(false));
    const leafSerialDer = Buffer.from(leaf.serialNumber.toBER(false));

    this.tstInfoHead = Buffer.concat([der.integer(1n), options.policyDer]);
    this.accuracyDer = options.accuracySeconds !== undefined ? der.tlv(TAG.SEQUENCE, der.integer(BigInt(options.accuracySeconds))) : EMPTY;
    this.tsaNameDer = options.includeTsaName ? der.tlv(TAG.context(0), der.tlv(TAG.context(4), subjectDer)) : EMPTY;

    const contentType = der.tlv(TAG.SEQUENCE, der.oid(OID_ATTR_CONTENT_TYPE), der.tlv(TAG.SET, DER_OID_CT_TST_INFO));
    // SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 { hashAlgorithm DEFAULT sha256 (omitted),
    // certHash, issuerSerial { issuer GeneralNames { directoryName [4] }, serialNumber } } }
    const essCertIdV2 = der.tlv(
      TAG.SEQUENCE,
      der.tlv(TAG.OCTET_STRING, createHash('sha256').update(leafDer).digest()),
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
    this.certificatesDer = der.tlv(TAG.context(0), leafDer, ...options.chainDers);
  }

  /** A granted TimeStampResp and its TimeStampToken (ContentInfo), both DER. Throws if signing fails. */
  write(input: GrantInput): { der: Buffer; token: Buffer } {
    // TSTInfo (RFC 3161 §2.4.2): version, policy, messageImprint, serialNumber, genTime, accuracy,
    // [ordering absent], nonce, tsa.
    const tstInfo = der.tlv(
      TAG.SEQUENCE,
      this.tstInfoHead,
      input.imprintDer,
      der.integer(input.serial),
      der.generalizedTime(input.time),
      this.accuracyDer,
      input.nonceDer ?? EMPTY,
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
      input.certReq ? this.certificatesDer : EMPTY,
      der.tlv(TAG.SET, signerInfo),
    );
    const token = der.tlvOwned(TAG.SEQUENCE, DER_OID_SIGNED_DATA, der.tlv(TAG.context(0), signedData));
    return { der: der.tlvOwned(TAG.SEQUENCE, DER_STATUS_GRANTED, token), token };
  }
}

function failInfoBitString(name: TsaFailInfo): asn1js.BitString {
  const bit = FAIL_INFO_BITS[name];
  const bytes = new Uint8Array((bit >> 3) + 1);
  bytes[bit >> 3] = 0x80 >> (bit & 7);
  return new asn1js.BitString({ valueHex: toArrayBuffer(bytes), unusedBits: 7 - (bit & 7) });
}

/** A TimeStampResp with status rejection, the failInfo bit and `message` as its statusString. */
export function rejectionDer(failInfo: TsaFailInfo, message: string): Buffer {
  const status = new pkijs.PKIStatusInfo({
    status: pkijs.PKIStatus.rejection,
    statusStrings: [new asn1js.Utf8String({ value: message })],
    failInfo: failInfoBitString(failInfo),
  });
  return Buffer.from(new pkijs.TimeStampResp({ status }).toSchema().toBER(false));
}
