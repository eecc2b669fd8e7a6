/**
 * pkijs needs a WebCrypto engine. We build one explicit engine bound to Node's
 * `webcrypto` and pass it to every pkijs call that accepts one, and also install
 * it globally (idempotent) for pkijs code paths that do not take an engine argument.
 */
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as pkijs from 'pkijs';

export const engine: pkijs.CryptoEngine = new pkijs.CryptoEngine({
  name: 'node-webcrypto',
  crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'],
});
pkijs.setEngine('node-webcrypto', engine);

/** WebCrypto key type (the project has no DOM lib, so use Node's). */
export type WebCryptoKey = webcrypto.CryptoKey;

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** Imports a PKCS#8 DER ECDSA P-256 private key into WebCrypto (non-extractable). Throws if not P-256. */
export async function importP256PrivateKey(pkcs8: Uint8Array): Promise<WebCryptoKey> {
  const key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TypeError('TSA signing key must be an ECDSA P-256 private key');
  }
  return webcrypto.subtle.importKey('pkcs8', Buffer.from(pkcs8), ECDSA_P256, false, ['sign']);
}

/** Imports a SPKI DER ECDSA P-256 public key into WebCrypto. */
export async function importP256PublicKey(spki: Uint8Array): Promise<WebCryptoKey> {
  createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  return webcrypto.subtle.importKey('spki', Buffer.from(spki), ECDSA_P256, true, ['verify']);
}

export function toArrayBuffer(u8: Uint8Array): ArrayBuffer {
  return u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength) as ArrayBuffer;
}
