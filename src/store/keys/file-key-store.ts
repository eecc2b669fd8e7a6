/**
 * File key store: each Ed25519 private key is a JSON file `<keyId>.key.json` (mode 0600) whose
 * 32-byte seed is sealed with AES-256-GCM under the KEK (random 12-byte nonce; the AAD binds the
 * format version and the key id, so a sealed seed cannot be moved to another key's file). Files are
 * written atomically (temp file, fsync, rename, fsync of the directory).
 *
 * A loaded key becomes one private KeyObject, created once and cached with its handle; the seed
 * buffers are zeroed right after. Handles never expose private bytes: their JSON and inspect forms
 * show only keyId and backend, and errors name keys by id only.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign as nodeSign,
  type KeyObject,
} from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { isEd25519Spki, keyIdOf } from '../../crypto/ed25519.ts';
import { LedgerError } from '../../errors.ts';
import { RedactedKeyHandle } from './redacted-handle.ts';
import { writeFileAtomically } from '../../util/atomic-write.ts';
import type { GeneratedKey, KeyStore, SigningKeyHandle } from '../key-store.ts';

export const FILE_KEY_FORMAT_VERSION = 1;
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const KEY_ID = /^[0-9a-f]{64}$/;
const REF = /^file:([0-9a-f]{64})$/;
const MAX_FILE_BYTES = 64 * 1024;
const MAX_LABEL = 256;

/** The JSON stored per key. Only `ciphertext` depends on the private key, and it is sealed. */
export interface SealedKeyFile {
  readonly v: 1;
  readonly keyId: string;
  readonly alg: 'ed25519';
  /** base64 DER SubjectPublicKeyInfo. */
  readonly publicKey: string;
  readonly seal: 'aes-256-gcm';
  /** base64, 12 bytes. */
  readonly nonce: string;
  /** base64, 32 bytes: the sealed Ed25519 seed. */
  readonly ciphertext: string;
  /** base64, 16 bytes. */
  readonly tag: string;
  readonly label: string;
  readonly createdAt: string;
}

export interface FileKeyStoreOptions {
  /** Directory of the sealed key files (created 0700 when missing). */
  readonly dir: string;
  /** 32-byte key-encryption key (see resolveKek). The store keeps its own copy. */
  readonly kek: Uint8Array;
}

export const fileKeyRef = (keyId: string): string => `file:${keyId}`;

const aadFor = (keyId: string): Buffer => Buffer.from(`sigledger/file-key/v${FILE_KEY_FORMAT_VERSION}/ed25519/${keyId}`, 'utf8');

const showRef = (ref: unknown): string => (typeof ref === 'string' ? JSON.stringify(ref.length > 80 ? `${ref.slice(0, 80)}…` : ref) : typeof ref);

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

class FileSigningKey extends RedactedKeyHandle implements SigningKeyHandle {
  readonly algorithm = 'ed25519' as const;
  readonly backend = 'file' as const;
  readonly #key: KeyObject;
  readonly #store: FileKeyStore;

  constructor(
    readonly keyId: string,
    readonly ref: string,
    readonly publicKeySpki: Buffer,
    key: KeyObject,
    store: FileKeyStore,
  ) {
    super();
    this.#key = key;
    this.#store = store;
    Object.freeze(this);
  }

  sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.#store.closed) return Promise.reject(new LedgerError('key_store_unavailable', `file key store is closed; cannot sign with key ${this.keyId}`));
    try {
      return Promise.resolve(nodeSign(null, message, this.#key));
    } catch (e) {
      return Promise.reject(new LedgerError('key_store_unavailable', `signing with key ${this.keyId} failed`, { keyId: this.keyId }, { cause: e }));
    }
  }

}

export class FileKeyStore implements KeyStore {
  readonly backend = 'file' as const;
  readonly dir: string;
  readonly #kek: KeyObject;
  readonly #handles = new Map<string, Promise<FileSigningKey>>();
  #closed = false;

  /** Use openFileKeyStore(). */
  constructor(options: FileKeyStoreOptions) {
    if (!(options.kek instanceof Uint8Array) || options.kek.length !== 32) {
      throw new LedgerError('config_invalid', 'the file key store needs a 32-byte KEK');
    }
    this.dir = options.dir;
    // A secret KeyObject holds its own copy of the KEK outside the JS heap.
    this.#kek = createSecretKey(Buffer.from(options.kek));
  }

  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new LedgerError('key_store_unavailable', 'file key store is closed');
  }

  #pathOf(keyId: string): string {
    // keyId is validated as 64 lowercase hex before it gets here: no separators, no "..".
    if (!KEY_ID.test(keyId)) throw new LedgerError('key_not_found', 'invalid key id');
    return join(this.dir, `${keyId}.key.json`);
  }

  async generate(label: string): Promise<GeneratedKey> {
    this.#assertOpen();
    if (typeof label !== 'string' || label.length > MAX_LABEL) {
      throw new LedgerError('invalid_request', `a key label is a string of at most ${MAX_LABEL} characters`);
    }
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const publicKeySpki = publicKey.export({ format: 'der', type: 'spki' });
    const keyId = keyIdOf(publicKeySpki);
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const nonce = randomBytes(12);
    let ciphertext: Buffer;
    let tag: Buffer;
    try {
      if (pkcs8.length !== 48 || !pkcs8.subarray(0, 16).equals(ED25519_PKCS8_PREFIX)) {
        throw new LedgerError('key_store_unavailable', 'unexpected Ed25519 PKCS#8 encoding from node:crypto');
      }
      const cipher = createCipheriv('aes-256-gcm', this.#kek, nonce, { authTagLength: 16 });
      cipher.setAAD(aadFor(keyId));
      ciphertext = Buffer.concat([cipher.update(pkcs8.subarray(16)), cipher.final()]);
      tag = cipher.getAuthTag();
    } finally {
      pkcs8.fill(0);
    }
    const file: SealedKeyFile = {
      v: FILE_KEY_FORMAT_VERSION,
      keyId,
      alg: 'ed25519',
      publicKey: publicKeySpki.toString('base64'),
      seal: 'aes-256-gcm',
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: tag.toString('base64'),
      label,
      createdAt: new Date().toISOString(),
    };
    await this.#writeAtomically(keyId, Buffer.from(`${JSON.stringify(file, null, 2)}\n`, 'utf8'));
    return { keyId, publicKeySpki, ref: fileKeyRef(keyId) };
  }

  async #writeAtomically(keyId: string, bytes: Buffer): Promise<void> {
    try {
      await writeFileAtomically(this.#pathOf(keyId), bytes, 0o600);
    } catch (e) {
      throw new LedgerError('key_store_unavailable', `cannot write key file for ${keyId} (${errno(e) ?? 'error'})`, { keyId }, { cause: e });
    }
  }


  load(ref: string): Promise<SigningKeyHandle> {
    try {
      this.#assertOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    const m = typeof ref === 'string' ? REF.exec(ref) : null;
    if (!m) return Promise.reject(new LedgerError('key_not_found', `key reference ${showRef(ref)} is not a file key reference (file:<64 lowercase hex>)`));
    const keyId = m[1]!;
    let handle = this.#handles.get(keyId);
    if (!handle) {
      handle = this.#unseal(keyId, ref);
      this.#handles.set(keyId, handle);
      handle.catch(() => {
        if (this.#handles.get(keyId) === handle) this.#handles.delete(keyId);
      });
    }
    return handle;
  }

  async #readFile(keyId: string): Promise<Buffer> {
    let fh;
    try {
      fh = await open(this.#pathOf(keyId), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (e) {
      if (errno(e) === 'ENOENT') throw new LedgerError('key_not_found', `key ${keyId} is not in the file key store`, { keyId });
      throw new LedgerError('key_store_unavailable', `cannot open key file for ${keyId} (${errno(e) ?? 'error'})`, { keyId }, { cause: e });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > MAX_FILE_BYTES) throw new LedgerError('key_store_unavailable', `key file for ${keyId} is not a regular key file`, { keyId });
      return await fh.readFile();
    } catch (e) {
      if (e instanceof LedgerError) throw e;
      throw new LedgerError('key_store_unavailable', `cannot read key file for ${keyId} (${errno(e) ?? 'error'})`, { keyId }, { cause: e });
    } finally {
      await fh.close();
    }
  }

  async #unseal(keyId: string, ref: string): Promise<FileSigningKey> {
    const raw = await this.#readFile(keyId);
    const corrupt = (what: string) => new LedgerError('key_store_unavailable', `key file for ${keyId} is corrupt: ${what}`, { keyId });
    let file: Partial<Record<keyof SealedKeyFile, unknown>>;
    try {
      file = JSON.parse(raw.toString('utf8')) as typeof file;
    } catch {
      throw corrupt('not JSON');
    }
    if (typeof file !== 'object' || file === null) throw corrupt('not a JSON object');
    if (file.v !== FILE_KEY_FORMAT_VERSION) throw corrupt(`unsupported format version ${JSON.stringify(file.v)}`);
    if (file.alg !== 'ed25519' || (file.seal !== undefined && file.seal !== 'aes-256-gcm')) throw corrupt('unsupported algorithm');
    if (file.keyId !== keyId) throw corrupt('it names another key id');
    const b64 = (name: 'publicKey' | 'nonce' | 'ciphertext' | 'tag', len: number): Buffer => {
      const v = file[name];
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw corrupt(`${name} is not base64`);
      const b = Buffer.from(v, 'base64');
      if (b.length !== len) throw corrupt(`${name} has ${b.length} bytes, expected ${len}`);
      return b;
    };
    const publicKeySpki = b64('publicKey', 44);
    if (!isEd25519Spki(publicKeySpki) || keyIdOf(publicKeySpki) !== keyId) throw corrupt('the public key does not match the key id');
    const nonce = b64('nonce', 12);
    const ciphertext = b64('ciphertext', 32);
    const tag = b64('tag', 16);

    const pkcs8 = Buffer.alloc(48);
    ED25519_PKCS8_PREFIX.copy(pkcs8);
    let seed: Buffer | undefined;
    let privateKey: KeyObject;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#kek, nonce, { authTagLength: 16 });
      decipher.setAAD(aadFor(keyId));
      decipher.setAuthTag(tag);
      seed = decipher.update(ciphertext);
      try {
        decipher.final();
      } catch (e) {
        throw new LedgerError('key_store_unavailable', `cannot unseal key ${keyId}: wrong KEK or tampered file`, { keyId }, { cause: e });
      }
      if (seed.length !== 32) throw corrupt('sealed seed has the wrong length');
      seed.copy(pkcs8, 16);
      privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    } finally {
      seed?.fill(0);
      pkcs8.fill(0);
      ciphertext.fill(0);
    }
    const derived = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    if (!derived.equals(publicKeySpki)) {
      throw new LedgerError('key_store_unavailable', `key file for ${keyId}: the unsealed private key does not match its public key`, { keyId });
    }
    this.#assertOpen();
    return new FileSigningKey(keyId, ref, publicKeySpki, privateKey, this);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#handles.clear();
    return Promise.resolve();
  }

  toJSON(): { backend: 'file'; dir: string } {
    return { backend: 'file', dir: this.dir };
  }

  [inspect.custom](): string {
    return `FileKeyStore { dir: ${JSON.stringify(this.dir)}, closed: ${this.#closed} }`;
  }
}

/** Opens (creating when missing, mode 0700) a file key store in `dir` sealed under `kek`. */
export async function openFileKeyStore(options: FileKeyStoreOptions): Promise<FileKeyStore> {
  const store = new FileKeyStore(options);
  try {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new LedgerError('key_store_unavailable', `cannot create the key directory ${JSON.stringify(options.dir)} (${errno(e) ?? 'error'})`, undefined, { cause: e });
  }
  return store;
}
