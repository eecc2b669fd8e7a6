/**
 * Incoming keys generated when a rotation (or a revocation of the active key) is proposed live in
 * the key store before any event registers them. A ceremony that ends without executing —
 * refused while opening, cancelled, expired, voided, superseded — destroys its key, so no signing
 * key exists that no approved ceremony asked for. A key the key registry already holds (the
 * ceremony executed, here or on another instance) is never destroyed.
 */
import type { CeremonyAction, IncomingKey } from '../../domain/ceremony-action.ts';
import { isLedgerError } from '../../errors.ts';
import type { KeyStore } from '../../store/key-store.ts';
import type { Logger } from '../common/logger.ts';
import type { KeyringService } from '../keys/keyring-service.ts';

/** The key a proposal brings in (rotations and revocations of the active key), if any. */
export function incomingKeyOf(action: CeremonyAction | { readonly type: string } | null | undefined): IncomingKey | undefined {
  if (!action || (action.type !== 'rotate-key' && action.type !== 'revoke-key')) return undefined;
  return (action as { newKey?: IncomingKey }).newKey;
}

export interface PendingKeysDeps {
  readonly keyStore: KeyStore;
  readonly keyring: KeyringService;
  readonly logger: Logger;
}

export class PendingKeys {
  constructor(private readonly deps: PendingKeysDeps) {}

  /** Destroys `key` unless the key registry knows it; failures are logged (the ceremony's end stands). */
  async discard(key: IncomingKey | undefined, why: string): Promise<void> {
    if (!key || key.backend !== this.deps.keyStore.backend) return;
    try {
      if ((await this.deps.keyring.state()).keys[key.keyId] !== undefined) return;
      const store = this.deps.keyStore as KeyStore & { destroy?: (ref: string) => Promise<void> };
      if (typeof store.destroy !== 'function') return;
      await store.destroy(key.ref);
      this.deps.logger.info({ keyId: key.keyId, why }, 'destroyed the incoming key of a ceremony that will not execute');
    } catch (err) {
      this.deps.logger.warn({ keyId: key.keyId, why, code: isLedgerError(err) ? err.code : 'internal' }, 'could not destroy the incoming key of a ceremony that will not execute');
    }
  }
}
