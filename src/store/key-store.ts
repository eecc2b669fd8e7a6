/**
 * The key-store port. Private keys never leave a key store: callers get a handle that signs, the
 * public key (DER SPKI) and an opaque reference that events may carry. Adapters:
 * `src/store/keys/file-key-store.ts` (AES-256-GCM sealed files under SIGLEDGER_KEK) and
 * `src/store/keys/pkcs11-key-store.ts` (keys generated inside a PKCS#11 token, non-extractable).
 */
export type KeyBackend = 'file' | 'pkcs11';

export interface GeneratedKey {
  readonly keyId: string;
  /** DER SubjectPublicKeyInfo of the Ed25519 public key. */
  readonly publicKeySpki: Buffer;
  /** Opaque, non-secret reference to find the key again in this store (safe to put in events). */
  readonly ref: string;
}

export interface SigningKeyHandle {
  readonly keyId: string;
  readonly algorithm: 'ed25519';
  readonly backend: KeyBackend;
  readonly publicKeySpki: Buffer;
  readonly ref: string;
  /** Ed25519 signature (64 bytes) over the message. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface KeyStore {
  readonly backend: KeyBackend;
  /** Creates a new Ed25519 key inside the store. `label` is informational (no secrets). */
  generate(label: string): Promise<GeneratedKey>;
  /** Opens a key by reference; throws LedgerError('key_not_found') when it is not in the store. */
  load(ref: string): Promise<SigningKeyHandle>;
  close(): Promise<void>;
}
