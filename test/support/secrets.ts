/**
 * Private material a service's data dir holds, recovered the way an attacker with the KEK would,
 * so tests can search everything else the service wrote for it.
 */
import { createDecipheriv, createPrivateKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Secret {
  readonly name: string;
  readonly bytes: Buffer;
}

interface SealedFile {
  readonly nonce: string;
  readonly ciphertext: string;
  readonly tag: string;
  readonly [field: string]: string;
}

/** Opens every `keys/*<suffix>` file (AES-256-GCM under the KEK, with the AAD the sealed JSON names). */
function unsealAll(dataDir: string, kek: Buffer, suffix: string, aadOf: (sealed: SealedFile) => string): { file: string; plain: Buffer }[] {
  const dir = join(dataDir, 'keys');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((file) => {
      const sealed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as SealedFile;
      const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(sealed.nonce, 'base64'));
      decipher.setAAD(Buffer.from(aadOf(sealed), 'utf8'));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return { file, plain: Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]) };
    });
}

/** Ed25519 seeds of the sealed signing and log keys (`keys/*.key.json`). */
export function sealedKeySeeds(dataDir: string, kek: Buffer): Secret[] {
  return unsealAll(dataDir, kek, '.key.json', (sealed) => `sigledger/file-key/v1/ed25519/${sealed['keyId']}`).map(({ file, plain }) => ({ name: `sealed key ${file}`, bytes: plain }));
}

/** The TSA's ECDSA P-256 private scalars (`keys/*.secret.json`). */
export function sealedTsaScalars(dataDir: string, kek: Buffer): Secret[] {
  return unsealAll(dataDir, kek, '.secret.json', (sealed) => `sigledger/secret/v1/${sealed['name']}`).map(({ file, plain: pkcs8 }) => ({
    name: `TSA key ${file}`,
    // The 32-byte P-256 private scalar sits after the PKCS#8/SEC1 prefix.
    bytes: pkcs8.subarray(pkcs8.indexOf(Buffer.from('0420', 'hex'), 20) + 2).subarray(0, 32),
  }));
}

/** Ed25519 seeds of the PEM private keys under DATA_DIR/dev (token issuers, approvers). */
export function devPrivateSeeds(dataDir: string): Secret[] {
  const out: Secret[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.key')) {
        const der = createPrivateKey(readFileSync(p, 'utf8')).export({ format: 'der', type: 'pkcs8' });
        out.push({ name: `dev key ${relative(dataDir, p)}`, bytes: der.subarray(der.length - 32) });
      }
    }
  };
  walk(join(dataDir, 'dev'));
  return out;
}

/** The encodings a secret could leak in: raw, hex, base64 and base64url (prefixes long enough to be unique). */
export function needlesOf(secrets: readonly Secret[]): { name: string; needle: Buffer }[] {
  return secrets.flatMap(({ name, bytes }) => [
    { name, needle: bytes },
    { name: `${name} (hex)`, needle: Buffer.from(bytes.toString('hex')) },
    { name: `${name} (base64)`, needle: Buffer.from(bytes.toString('base64').slice(0, 40)) },
    { name: `${name} (base64url)`, needle: Buffer.from(bytes.toString('base64url').slice(0, 40)) },
  ]);
}

/** Every file under `dir`, except what `skip(relative path)` excludes. */
export function filesUnder(dir: string, skip: (rel: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip(relative(dir, p))) continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}
