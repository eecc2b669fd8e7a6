/**
 * The trust-anchor feed (SPEC §2 `GET /api/v1/trust/anchors`): each `AnchorsPublished` event is
 * one version, kept forever so that `?at=` answers with the anchors as they were at an instant.
 * Each `keys` value is the JSON form of a Sigstore `PublicKey`, so `PublicKey.fromJSON` turns it
 * into what `toTrustMaterial` takes.
 *
 * Collections: `anchors` `latest` → the newest version; `anchors.versions` `<version, 10 digits>`
 * → that version.
 */
import { ANCHORS_STREAM, type AnchorsDocument } from '../domain/anchors.ts';
import type { JsonObject } from '../json.ts';
import type { RecordedEvent } from '../store/event-store.ts';
import type { Projection } from './projection.ts';
import type { ReadModelReader } from '../store/read-model.ts';

const NAME = 'anchors';
const VERSIONS = 'anchors.versions';

export type Anchors = AnchorsDocument;

const pad = (v: number) => String(v).padStart(10, '0');

export const anchorsProjection: Projection & {
  latest(reader: ReadModelReader): Anchors | undefined;
  byVersion(reader: ReadModelReader, version: number): Anchors | undefined;
  /** Versions after `afterVersion`, oldest first. */
  since(reader: ReadModelReader, afterVersion: number, limit?: number): Anchors[];
  at(reader: ReadModelReader, instant: string): Anchors | undefined;
} = {
  name: NAME,
  version: 2,
  eventTypes: ['AnchorsPublished'],
  apply(tx, e: RecordedEvent) {
    if (e.stream !== ANCHORS_STREAM || e.type !== 'AnchorsPublished') return;
    const doc = e.data as unknown as Anchors;
    tx.put(NAME, 'latest', doc as unknown as JsonObject);
    tx.put(VERSIONS, pad(doc.version), doc as unknown as JsonObject);
  },
  latest: (reader) => reader.get<JsonObject>(NAME, 'latest') as unknown as Anchors | undefined,
  byVersion: (reader, version) => reader.get<JsonObject>(VERSIONS, pad(version)) as unknown as Anchors | undefined,
  since: (reader, afterVersion, limit = 1000) => reader.list<JsonObject>(VERSIONS, { after: pad(afterVersion), limit }).map((r) => r.value as unknown as Anchors),
  at(reader, instant) {
    // Versions are few (one per key or approver change): walk them newest first.
    const all = reader.list<JsonObject>(VERSIONS, { limit: 100_000 }).map((r) => r.value as unknown as Anchors);
    for (let i = all.length - 1; i >= 0; i--) if (all[i]!.issuedAt <= instant) return all[i];
    return undefined;
  },
};
