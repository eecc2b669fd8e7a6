/** Read model of the key registry (`GET /api/v1/keys`): one document per key id. */
import { evolveKeyEntry, KEYRING_EVENT_TYPES, KEYRING_STREAM, type KeyEntry, type KeyringEvent } from '../domain/keyring.ts';
import type { JsonObject } from '../json.ts';
import type { RecordedEvent } from '../store/event-store.ts';
import type { ReadModelReader } from '../store/read-model.ts';
import type { Projection } from './projection.ts';

const NAME = 'keys';
const asDomain = (e: RecordedEvent) => ({ type: e.type, data: e.data }) as unknown as KeyringEvent;

export const keyRegistry: Projection & {
  read(reader: ReadModelReader, keyId: string): KeyEntry | undefined;
  list(reader: ReadModelReader): KeyEntry[];
} = {
  name: NAME,
  version: 1,
  eventTypes: KEYRING_EVENT_TYPES,
  apply(tx, e) {
    if (e.stream !== KEYRING_STREAM) return;
    const event = asDomain(e);
    const keyId = event.data.keyId;
    const next = evolveKeyEntry(tx.get<JsonObject>(NAME, keyId) as unknown as KeyEntry | undefined, event);
    if (next) tx.put(NAME, keyId, next as unknown as JsonObject);
  },
  read: (reader, keyId) => reader.get<JsonObject>(NAME, keyId) as unknown as KeyEntry | undefined,
  list: (reader) => reader.list<JsonObject>(NAME, { limit: 10_000 }).map((r) => r.value as unknown as KeyEntry),
};
