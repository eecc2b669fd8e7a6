/**
 * The trust-anchor feed (SPEC §2 `GET /api/v1/trust/anchors`): every change to the set of signing
 * keys a verifier should trust — a key activated, retired or revoked — publishes the next anchors
 * version. Each `keys` value is the JSON form of a Sigstore `PublicKey`, so `PublicKey.fromJSON`
 * turns it into what `toTrustMaterial` takes. Every version is kept, so `?at=` answers with the
 * anchors as they were at an instant.
 *
 * Collections: `anchors` `latest` → the newest version; `anchors.versions` `<version, 10 digits>`
 * → that version; `anchors.keys` `<keyId>` → the key's public key (from KeyGenerated).
 */
import { KEYRING_STREAM } from '../domain/keyring.ts';
import type { JsonObject } from '../domain/json.ts';
import type { RecordedEvent } from '../store/port.ts';
import type { Projection } from './projection.ts';
import type { ReadModelReader } from './read-model.ts';

const NAME = 'anchors';
const VERSIONS = 'anchors.versions';
const KEYS = 'anchors.keys';

export interface AnchorKey {
  [k: string]: string | { start?: string; end?: string };
  rawBytes: string;
  keyDetails: 'PKIX_ED25519';
  validFor: { start?: string; end?: string };
}

export interface Anchors {
  [k: string]: unknown;
  version: number;
  issuedAt: string;
  keys: Record<string, AnchorKey>;
  /** Signatures over the anchors document (approver signatures arrive with ceremonies). */
  signatures: { keyid: string; sig: string }[];
}

const pad = (v: number) => String(v).padStart(10, '0');

export const anchorsProjection: Projection & {
  latest(reader: ReadModelReader): Anchors | undefined;
  at(reader: ReadModelReader, instant: string): Anchors | undefined;
} = {
  name: NAME,
  version: 1,
  eventTypes: ['KeyGenerated', 'KeyActivated', 'KeyRetired', 'KeyRevoked'],
  apply(tx, e: RecordedEvent) {
    if (e.stream !== KEYRING_STREAM) return;
    const d = e.data as { keyId: string; publicKey?: string; validFrom?: string; validUntil?: string; revokedAt?: string };
    if (e.type === 'KeyGenerated') {
      tx.put(KEYS, d.keyId, d.publicKey!);
      return;
    }
    const previous = tx.get<JsonObject>(NAME, 'latest') as unknown as Anchors | undefined;
    const keys: Record<string, AnchorKey> = { ...(previous?.keys ?? {}) };
    const existing = keys[d.keyId];
    const rawBytes = existing?.rawBytes ?? tx.get<string>(KEYS, d.keyId);
    if (rawBytes === undefined) return;
    if (e.type === 'KeyActivated') keys[d.keyId] = { rawBytes, keyDetails: 'PKIX_ED25519', validFor: { start: d.validFrom! } };
    else if (e.type === 'KeyRetired') keys[d.keyId] = { rawBytes, keyDetails: 'PKIX_ED25519', validFor: { ...existing?.validFor, end: d.validUntil! } };
    else if (e.type === 'KeyRevoked') {
      const end = existing?.validFor.end !== undefined && existing.validFor.end < d.revokedAt! ? existing.validFor.end : d.revokedAt!;
      keys[d.keyId] = { rawBytes, keyDetails: 'PKIX_ED25519', validFor: { ...existing?.validFor, end } };
    }
    const next: Anchors = { version: (previous?.version ?? 0) + 1, issuedAt: e.metadata.time, keys, signatures: [] };
    tx.put(NAME, 'latest', next as unknown as JsonObject);
    tx.put(VERSIONS, pad(next.version), next as unknown as JsonObject);
  },
  latest: (reader) => reader.get<JsonObject>(NAME, 'latest') as unknown as Anchors | undefined,
  at(reader, instant) {
    // Versions are few (one per key change): walk them newest first.
    const all = reader.list<JsonObject>(VERSIONS, { limit: 10_000 }).map((r) => r.value as unknown as Anchors);
    for (let i = all.length - 1; i >= 0; i--) if (all[i]!.issuedAt <= instant) return all[i];
    return undefined;
  },
};
