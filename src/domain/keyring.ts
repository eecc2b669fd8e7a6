/**
 * The key registry as one event-sourced aggregate (stream `keyring`): keys are generated,
 * activated, retired and revoked, each a past-tense event. Keeping every key in one stream makes
 * the invariant "exactly one active signing key at a time" a decision over one state, checked
 * with optimistic concurrency. Events carry public keys and key-store references only, never
 * private material.
 */
import { LedgerError } from '../errors.ts';
import type { Decider, DomainEvent } from './decider.ts';
import { parseRfc3339 } from './instant.ts';

export const KEYRING_STREAM = 'keyring';

export type KeyStatus = 'generated' | 'active' | 'retired' | 'revoked';
export type KeyBackendName = 'file' | 'pkcs11';

export interface ValidFor {
  readonly start?: string;
  readonly end?: string;
}

export interface KeyEntry {
  readonly keyId: string;
  readonly algorithm: 'ed25519';
  /** base64 DER SubjectPublicKeyInfo. */
  readonly publicKey: string;
  readonly backend: KeyBackendName;
  /** Non-secret key-store reference. */
  readonly ref: string;
  readonly label: string;
  readonly status: KeyStatus;
  readonly generatedAt: string;
  readonly validFor: ValidFor;
  readonly revokedAt?: string;
  readonly reason?: string;
}

export type KeyGenerated = DomainEvent<
  'KeyGenerated',
  { keyId: string; algorithm: 'ed25519'; publicKey: string; backend: KeyBackendName; ref: string; label: string; generatedAt: string }
>;
export type KeyActivated = DomainEvent<'KeyActivated', { keyId: string; validFrom: string; reason: string }>;
export type KeyRetired = DomainEvent<'KeyRetired', { keyId: string; validUntil: string; reason: string; successorKeyId: string }>;
export type KeyRevoked = DomainEvent<'KeyRevoked', { keyId: string; revokedAt: string; reason: string }>;
export type KeyringEvent = KeyGenerated | KeyActivated | KeyRetired | KeyRevoked;

export const KEYRING_EVENT_TYPES = ['KeyGenerated', 'KeyActivated', 'KeyRetired', 'KeyRevoked'] as const;

export interface KeyringState {
  readonly keys: Readonly<Record<string, KeyEntry>>;
  readonly activeKeyId: string | null;
}

export type RegisterKey = {
  readonly type: 'RegisterKey';
  readonly keyId: string;
  readonly publicKey: string;
  readonly backend: KeyBackendName;
  readonly ref: string;
  readonly label: string;
  readonly time: string;
};
export type ActivateKey = { readonly type: 'ActivateKey'; readonly keyId: string; readonly reason: string; readonly time: string };
export type RevokeKey = {
  readonly type: 'RevokeKey';
  readonly keyId: string;
  readonly reason: string;
  readonly time: string;
  /** When the key is known to be compromised since: its validity ends there instead of at `time`. */
  readonly compromisedSince?: string;
};
export type KeyringCommand = RegisterKey | ActivateKey | RevokeKey;

const KEY_ID_RE = /^[0-9a-f]{64}$/;

export function isKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID_RE.test(value);
}

/** Folds one event into one key's entry (shared by the decider and the registry projection). */
export function evolveKeyEntry(entry: KeyEntry | undefined, event: KeyringEvent): KeyEntry | undefined {
  switch (event.type) {
    case 'KeyGenerated': {
      const d = event.data;
      return { keyId: d.keyId, algorithm: d.algorithm, publicKey: d.publicKey, backend: d.backend, ref: d.ref, label: d.label, status: 'generated', generatedAt: d.generatedAt, validFor: {} };
    }
    case 'KeyActivated':
      return entry && { ...entry, status: 'active', validFor: { start: event.data.validFrom } };
    case 'KeyRetired':
      return entry && { ...entry, status: 'retired', validFor: { ...entry.validFor, end: event.data.validUntil }, reason: event.data.reason };
    case 'KeyRevoked': {
      if (!entry) return entry;
      const end = entry.validFor.end !== undefined && entry.validFor.end < event.data.revokedAt ? entry.validFor.end : event.data.revokedAt;
      return { ...entry, status: 'revoked', validFor: { ...entry.validFor, end }, revokedAt: event.data.revokedAt, reason: event.data.reason };
    }
  }
}

function evolve(state: KeyringState, event: KeyringEvent): KeyringState {
  const keyId = event.data.keyId;
  const next = evolveKeyEntry(state.keys[keyId], event);
  const keys = next ? { ...state.keys, [keyId]: next } : state.keys;
  let activeKeyId = state.activeKeyId;
  if (event.type === 'KeyActivated') activeKeyId = keyId;
  else if ((event.type === 'KeyRetired' || event.type === 'KeyRevoked') && activeKeyId === keyId) activeKeyId = null;
  return { keys, activeKeyId };
}

function decide(command: KeyringCommand, state: KeyringState): KeyringEvent[] {
  if (!isKeyId(command.keyId)) throw new LedgerError('invalid_request', 'key id must be 64 lowercase hex characters');
  const existing = state.keys[command.keyId];
  switch (command.type) {
    case 'RegisterKey': {
      if (existing) {
        if (existing.publicKey === command.publicKey && existing.ref === command.ref && existing.backend === command.backend) return [];
        throw new LedgerError('key_state_conflict', `key ${command.keyId} is already registered with other material`);
      }
      return [
        {
          type: 'KeyGenerated',
          data: { keyId: command.keyId, algorithm: 'ed25519', publicKey: command.publicKey, backend: command.backend, ref: command.ref, label: command.label, generatedAt: command.time },
        },
      ];
    }
    case 'ActivateKey': {
      if (!existing) throw new LedgerError('key_not_found', `key ${command.keyId} is not registered`);
      if (existing.status === 'active') return [];
      if (existing.status !== 'generated') throw new LedgerError('key_state_conflict', `key ${command.keyId} is ${existing.status} and cannot become active again`);
      const events: KeyringEvent[] = [];
      if (state.activeKeyId !== null) {
        events.push({ type: 'KeyRetired', data: { keyId: state.activeKeyId, validUntil: command.time, reason: command.reason, successorKeyId: command.keyId } });
      }
      events.push({ type: 'KeyActivated', data: { keyId: command.keyId, validFrom: command.time, reason: command.reason } });
      return events;
    }
    case 'RevokeKey': {
      if (!existing) throw new LedgerError('key_not_found', `key ${command.keyId} is not registered`);
      if (existing.status === 'revoked') return [];
      if (existing.status === 'active') throw new LedgerError('key_state_conflict', `key ${command.keyId} is the active signing key: rotate to a new key before revoking it`);
      let revokedAt = command.time;
      if (command.compromisedSince !== undefined) {
        const since = parseRfc3339(command.compromisedSince);
        if (since === undefined || since > (parseRfc3339(command.time) ?? -Infinity)) {
          throw new LedgerError('invalid_request', 'compromisedSince must be an RFC 3339 instant not after the revocation', { reason: 'invalid_compromised_since' });
        }
        revokedAt = new Date(since).toISOString();
      }
      return [{ type: 'KeyRevoked', data: { keyId: command.keyId, revokedAt, reason: command.reason } }];
    }
  }
}

export const keyringDecider: Decider<KeyringState, KeyringCommand, KeyringEvent> = {
  initialState: () => ({ keys: {}, activeKeyId: null }),
  evolve,
  decide,
};
