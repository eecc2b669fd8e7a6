/**
 * The application side of the key registry: makes sure one signing key is active (generating it
 * in the configured key store on first start), keeps a handle to it, and answers registry reads
 * from the `keys` projection. Private keys stay inside the key store; the registry events carry
 * the public key and the store's reference.
 */
import { randomUUID } from 'node:crypto';
import { keyIdOf } from '../../crypto/ed25519.ts';
import { KEYRING_STREAM, keyringDecider, type KeyEntry, type KeyringCommand, type KeyringState } from '../../domain/keyring.ts';
import { LedgerError } from '../../errors.ts';
import { keyRegistry } from '../../projections/key-registry.ts';
import type { KeyStore, SigningKeyHandle } from '../../store/key-store.ts';
import { handleCommands, type CommandContext } from '../common/command-handler.ts';
import { loadState } from '../common/load-state.ts';
import type { Logger } from '../common/logger.ts';
import { wholeSecond } from '../common/time.ts';

export interface ActiveKey {
  readonly keyId: string;
  readonly backend: KeyEntry['backend'];
  readonly handle: SigningKeyHandle;
}

export interface KeyringServiceDeps extends CommandContext {
  readonly keyStore: KeyStore;
  readonly readModel: import('../../store/read-model.ts').ReadModelReader;
  readonly logger: Logger;
  readonly now: () => Date;
}

export class KeyringService {
  private activeKey: ActiveKey | undefined;
  private readonly handles = new Map<string, Promise<SigningKeyHandle>>();

  constructor(private readonly deps: KeyringServiceDeps) {}

  /** Reads the registry from the stream (authoritative, not the projection). */
  async state(): Promise<KeyringState> {
    return loadState(this.deps.store, KEYRING_STREAM, keyringDecider);
  }

  /**
   * Makes sure a signing key is active and loaded. On first start it generates one in the key
   * store and records KeyGenerated + KeyActivated in one append; when another instance won that
   * race, its key is used instead.
   */
  async ensureActiveKey(): Promise<ActiveKey> {
    let state = await this.state();
    if (state.activeKeyId === null) {
      const generated = await this.deps.keyStore.generate(`sigledger-signing-${this.deps.now().toISOString()}`);
      // Validity windows start on a whole second (see time.ts).
      const time = wholeSecond(this.deps.now()).toISOString();
      const commands: KeyringCommand[] = [
        {
          type: 'RegisterKey',
          keyId: generated.keyId,
          publicKey: generated.publicKeySpki.toString('base64'),
          backend: this.deps.keyStore.backend,
          ref: generated.ref,
          label: 'signing',
          time,
        },
        { type: 'ActivateKey', keyId: generated.keyId, reason: 'initial signing key', time },
      ];
      try {
        const result = await handleCommands(this.deps, KEYRING_STREAM, keyringDecider, commands, {
          metadata: { time, correlationId: randomUUID(), actor: 'system:init' },
          waitForProjections: true,
        });
        state = result.state;
        this.deps.logger.info({ keyId: generated.keyId, backend: this.deps.keyStore.backend }, 'generated and activated the signing key');
      } catch (err) {
        // Another instance activated its key first: use that one (ours stays unused in the store).
        state = await this.state();
        if (state.activeKeyId === null) throw err;
      }
    }
    return this.refresh(state);
  }

  /** Loads the handle of the key the registry says is active. */
  async refresh(state?: KeyringState): Promise<ActiveKey> {
    const s = state ?? (await this.state());
    const keyId = s.activeKeyId;
    if (keyId === null) throw new LedgerError('no_active_key', 'no signing key is active');
    const entry = s.keys[keyId]!;
    const handle = await this.handle(entry);
    this.activeKey = { keyId, backend: entry.backend, handle };
    return this.activeKey;
  }

  /** The active signing key; throws `no_active_key` before `ensureActiveKey` finished. */
  active(): ActiveKey {
    if (!this.activeKey) throw new LedgerError('no_active_key', 'no signing key is active');
    return this.activeKey;
  }

  /** A handle for any registered key (cached: each key is opened once). */
  handle(entry: Pick<KeyEntry, 'keyId' | 'ref' | 'backend'>): Promise<SigningKeyHandle> {
    let h = this.handles.get(entry.keyId);
    if (!h) {
      if (entry.backend !== this.deps.keyStore.backend) {
        return Promise.reject(new LedgerError('key_store_unavailable', `key ${entry.keyId} lives in the ${entry.backend} key store, but this instance uses ${this.deps.keyStore.backend}`));
      }
      h = this.deps.keyStore.load(entry.ref).then((handle) => {
        if (handle.keyId !== entry.keyId || keyIdOf(handle.publicKeySpki) !== entry.keyId) {
          throw new LedgerError('key_store_unavailable', `the key store returned a different key for ${entry.keyId}`);
        }
        return handle;
      });
      h.catch(() => this.handles.delete(entry.keyId));
      this.handles.set(entry.keyId, h);
    }
    return h;
  }

  list(): KeyEntry[] {
    return keyRegistry.list(this.deps.readModel);
  }

  get(keyId: string): KeyEntry | undefined {
    return keyRegistry.read(this.deps.readModel, keyId);
  }
}
