/**
 * Port for small secrets other than signing keys (the TSA's ECDSA P-256 key). Events carry only
 * the reference `put` returns, never the secret. Adapter: `store/keys/sealed-secret.ts`
 * (AES-256-GCM under the KEK, one file per secret).
 */
export interface SecretStore {
  /** Stores `secret` under a new name and returns its reference (e.g. `secret:<name>`). */
  put(name: string, secret: Uint8Array): Promise<string>;
  /** The secret a reference names; LedgerError `key_not_found` / `key_store_unavailable` otherwise. */
  get(ref: string): Promise<Buffer>;
}
