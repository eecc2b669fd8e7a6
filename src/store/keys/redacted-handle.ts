/**
 * What every key-store handle shows of itself: its key id and backend, never key material —
 * in JSON, in string form and under `util.inspect` (so a stray `log.info({ handle })` is safe).
 */
import type { KeyBackend } from '../key-store.ts';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export abstract class RedactedKeyHandle {
  abstract readonly keyId: string;
  abstract readonly backend: KeyBackend;

  toJSON(): { keyId: string; backend: KeyBackend } {
    return { keyId: this.keyId, backend: this.backend };
  }

  toString(): string {
    return `SigningKeyHandle(${this.backend}:${this.keyId})`;
  }

  [INSPECT](): string {
    return `SigningKeyHandle { keyId: '${this.keyId}', backend: '${this.backend}' }`;
  }
}
