/**
 * The key registry as of the event being replayed: keys sign only after they were registered, and
 * a revocation counts from its own position on. Shared by the signature and log-root checkers, so
 * it is folded once, before either looks at the event.
 */
import { evolveKeyEntry, KEYRING_STREAM, type KeyEntry, type KeyringEvent } from '../../../domain/keyring.ts';
import type { HistoryChecker, HistoryEntry } from './checker.ts';

export class KeyRegistryAt implements HistoryChecker {
  private readonly keys = new Map<string, KeyEntry>();
  private readonly revoked = new Map<string, number>();

  observe({ event: e }: HistoryEntry): void {
    if (e.stream !== KEYRING_STREAM) return;
    // The keyring stream holds only keyring events (the ledger wrote it under this schema).
    const event = { type: e.type, data: e.data } as unknown as KeyringEvent;
    const next = evolveKeyEntry(this.keys.get(event.data.keyId), event);
    if (next) this.keys.set(next.keyId, next);
    if (event.type === 'KeyRevoked' && !this.revoked.has(event.data.keyId)) this.revoked.set(event.data.keyId, e.position);
  }

  get(keyId: string): KeyEntry | undefined {
    return this.keys.get(keyId);
  }

  /** base64 DER SPKI of a registered key (the shape rekor-entry's leaf builder asks for). */
  readonly publicKeyOf = (keyId: string): string | undefined => this.keys.get(keyId)?.publicKey;

  /** Position of the key's first revocation, if it was revoked so far. */
  revokedAt(keyId: string): number | undefined {
    return this.revoked.get(keyId);
  }
}
