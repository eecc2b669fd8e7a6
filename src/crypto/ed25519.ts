/**
 * Ed25519 through node:crypto. KeyObjects are created once per key and reused: parsing a key on
 * every call is ~18x slower. Key ids are the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { sha256Hex } from './hash.ts';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte raw key follows (RFC 8410). */
export const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export const keyIdOf = (spkiDer: Uint8Array): string => sha256Hex(spkiDer);

export function spkiFromRaw(raw: Uint8Array): Buffer {
  if (raw.length !== 32) throw new Error('an Ed25519 public key has 32 bytes');
  return Buffer.concat([ED25519_SPKI_PREFIX, raw]);
}

export function rawFromSpki(spki: Uint8Array): Buffer {
  const b = Buffer.from(spki);
  if (b.length !== 44 || !b.subarray(0, 12).equals(ED25519_SPKI_PREFIX)) throw new Error('not an Ed25519 SubjectPublicKeyInfo');
  return b.subarray(12);
}

export function isEd25519Spki(spki: Uint8Array): boolean {
  return spki.length === 44 && Buffer.from(spki).subarray(0, 12).equals(ED25519_SPKI_PREFIX);
}

export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new Error('an Ed25519 seed has 32 bytes');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
}

export const ed25519Sign = (privateKey: KeyObject, message: Uint8Array): Buffer => nodeSign(null, message, privateKey);

export function ed25519Verify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return nodeVerify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}
