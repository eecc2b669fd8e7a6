/**
 * Small secrets other than Ed25519 signing keys (the TSA's ECDSA P-256 key), sealed with
 * AES-256-GCM under the KEK like the file key store's keys: one JSON file per secret, mode 0600,
 * written atomically; the AAD binds the secret's name, so a sealed file cannot be renamed into
 * another secret. Events carry only the reference `secret:<name>`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LedgerError } from '../../errors.ts';
import { writeFileAtomically } from '../../util/atomic-write.ts';
import type { SecretStore } from '../secret-store.ts';

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const aad = (name: string) => Buffer.from(`sigledger/secret/v1/${name}`, 'utf8');

export const secretRef = (name: string): string => `secret:${name}`;

function nameOf(ref: string): string {
  const name = /^secret:(.+)$/.exec(ref)?.[1];
  if (!name || !NAME_RE.test(name)) throw new LedgerError('key_not_found', 'not a sealed-secret reference');
  return name;
}

export async function sealSecret(dir: string, name: string, secret: Uint8Array, kek: Uint8Array): Promise<string> {
  if (!NAME_RE.test(name)) throw new TypeError('secret names are lowercase letters, digits and dashes');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: 16 });
  cipher.setAAD(aad(name));
  const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()]);
  const text = JSON.stringify({ v: 1, name, seal: 'aes-256-gcm', nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') });
  await writeFileAtomically(join(dir, `${name}.secret.json`), Buffer.from(text, 'utf8'), 0o600);
  return secretRef(name);
}

export async function openSecret(dir: string, ref: string, kek: Uint8Array): Promise<Buffer> {
  const name = nameOf(ref);
  let sealed: { nonce: string; ciphertext: string; tag: string };
  try {
    sealed = JSON.parse(await readFile(join(dir, `${name}.secret.json`), 'utf8')) as typeof sealed;
  } catch (err) {
    throw new LedgerError('key_not_found', `sealed secret ${name} is missing or unreadable`, undefined, { cause: err });
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(sealed.nonce, 'base64'), { authTagLength: 16 });
    decipher.setAAD(aad(name));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new LedgerError('key_store_unavailable', `cannot unseal secret ${name}: wrong KEK or tampered file`);
  }
}

/** The SecretStore adapter: secrets sealed under `kek` in `dir`. */
export function sealedSecretStore(dir: string, kek: Uint8Array): SecretStore {
  return {
    put: (name, secret) => sealSecret(dir, name, secret, kek),
    get: (ref) => openSecret(dir, ref, kek),
  };
}
