/**
 * Test/bootstrap certificate chain for the RFC 3161 TSA: a self-issued root CA that
 * signs one TSA leaf certificate (critical EKU id-kp-timeStamping only). The root's
 * private key never leaves this function.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { engine, importP256PrivateKey, importP256PublicKey, toArrayBuffer } from './engine.ts';

export const OID_KP_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';

export interface CreateTsaChainOptions {
  /** notBefore of both certificates. */
  now: Date;
  /** Validity of the leaf in days (root gets twice as long). Default 365. */
  validityDays?: number;
  /** Prefix for the subject CNs. Default "sigledger". */
  subjectPrefix?: string;
}

export interface TsaChain {
  rootCertDer: Buffer;
  leafCertDer: Buffer;
  leafPrivateKeyPkcs8: Buffer;
  rootPrivateKeyPkcs8?: never;
}

const DAY_MS = 86_400_000;

function randomSerial(): asn1js.Integer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive, no leading zero byte, 16 bytes
  return new asn1js.Integer({ valueHex: toArrayBuffer(b) });
}

/** A single-RDN name (CN only; pkijs would pack several attributes into one multi-valued RDN). */
function name(cn: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: cn }) })],
  });
}

function ext(extnID: string, critical: boolean, value: asn1js.BaseBlock): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

/** keyUsage BIT STRING with the given named bits set, DER (trailing zero bits trimmed). */
function keyUsage(bits: number[]): asn1js.BitString {
  const max = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(max / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return new asn1js.BitString({ valueHex: toArrayBuffer(bytes), unusedBits: 7 - (max & 7) });
}

function skid(spkiDer: Uint8Array): Buffer {
  const spki = pkijs.PublicKeyInfo.fromBER(spkiDer);
  return createHash('sha1').update(spki.subjectPublicKey.valueBlock.valueHexView).digest();
}

interface KeyPairDer {
  spki: Buffer;
  pkcs8: Buffer;
}

function newP256(): KeyPairDer {
  const { publicKey, privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return { spki: publicKey, pkcs8: privateKey };
}

async function issue(opts: {
  subject: pkijs.RelativeDistinguishedNames;
  issuer: pkijs.RelativeDistinguishedNames;
  subjectSpki: Buffer;
  issuerSpki: Buffer;
  signerPkcs8: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: pkijs.Extension[];
}): Promise<Buffer> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = randomSerial();
  cert.subject = opts.subject;
  cert.issuer = opts.issuer;
  cert.notBefore.value = opts.notBefore;
  cert.notAfter.value = opts.notAfter;
  await cert.subjectPublicKeyInfo.importKey(await importP256PublicKey(opts.subjectSpki), engine);
  cert.extensions = [
    ...opts.extensions,
    ext('2.5.29.14', false, new asn1js.OctetString({ valueHex: toArrayBuffer(skid(opts.subjectSpki)) })),
    ext(
      '2.5.29.35',
      false,
      new pkijs.AuthorityKeyIdentifier({
        keyIdentifier: new asn1js.OctetString({ valueHex: toArrayBuffer(skid(opts.issuerSpki)) }),
      }).toSchema(),
    ),
  ];
  await cert.sign(await importP256PrivateKey(opts.signerPkcs8), 'SHA-256', engine);
  return Buffer.from(cert.toSchema(true).toBER(false));
}

export async function createTsaChain(options: CreateTsaChainOptions): Promise<TsaChain> {
  const { now } = options;
  const validityDays = options.validityDays ?? 365;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('now must be a valid Date');
  if (!Number.isInteger(validityDays) || validityDays < 1) throw new RangeError('validityDays must be a positive integer');
  const prefix = options.subjectPrefix ?? 'sigledger';
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);

  const root = newP256();
  const leaf = newP256();
  const rootName = name(`${prefix} TSA Root CA`);
  const leafName = name(`${prefix} Time-Stamp Authority`);

  const rootCertDer = await issue({
    subject: rootName,
    issuer: rootName,
    subjectSpki: root.spki,
    issuerSpki: root.spki,
    signerPkcs8: root.pkcs8,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 2 * validityDays * DAY_MS),
    extensions: [
      ext('2.5.29.19', true, new pkijs.BasicConstraints({ cA: true, pathLenConstraint: 0 }).toSchema()),
      ext('2.5.29.15', true, keyUsage([5, 6])), // keyCertSign, cRLSign
    ],
  });
  const leafCertDer = await issue({
    subject: leafName,
    issuer: rootName,
    subjectSpki: leaf.spki,
    issuerSpki: root.spki,
    signerPkcs8: root.pkcs8,
    notBefore,
    notAfter: new Date(notBefore.getTime() + validityDays * DAY_MS),
    extensions: [
      ext('2.5.29.19', true, new pkijs.BasicConstraints({ cA: false }).toSchema()),
      ext('2.5.29.15', true, keyUsage([0])), // digitalSignature
      ext('2.5.29.37', true, new pkijs.ExtKeyUsage({ keyPurposes: [OID_KP_TIME_STAMPING] }).toSchema()),
    ],
  });
  root.pkcs8.fill(0); // discard the root key
  return { rootCertDer, leafCertDer, leafPrivateKeyPkcs8: leaf.pkcs8 };
}
