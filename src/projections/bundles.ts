/**
 * Read model of bundles (`GET /api/v1/bundles/{id}` and `/versions/{n}`):
 * - `bundles`: one summary per bundle (tenant, latest version, the version list);
 * - `bundles.versions`: each version's signing key and where its event is (stream revision and
 *   global position), keyed `<bundleId>/<version>`; the envelope itself is read from the event
 *   store, which stays the one copy of it;
 * - `bundles.idempotency`: `<tenant>/<sha256(Idempotency-Key)>` → bundle id.
 */
import { BUNDLE_EVENT_TYPES, BUNDLE_STREAM_PREFIX, type BundleEvent } from '../domain/bundle.ts';
import type { JsonObject } from '../domain/json.ts';
import type { RecordedEvent } from '../store/port.ts';
import type { Projection } from './projection.ts';
import type { ReadModelReader } from './read-model.ts';

const NAME = 'bundles';
const VERSIONS = 'bundles.versions';
const IDEMPOTENCY = 'bundles.idempotency';

export interface BundleVersionSummary {
  readonly version: number;
  readonly keyId: string;
  readonly reason: string;
  readonly createdAt: string;
  /** Global position of the event that created this version. */
  readonly position: number;
}

export interface BundleSummary {
  readonly bundleId: string;
  readonly tenant: string;
  readonly payloadType: string;
  readonly latestVersion: number;
  readonly versions: readonly BundleVersionSummary[];
}

export interface BundleVersionRecord extends BundleVersionSummary {
  readonly bundleId: string;
  /** Revision of the version's event in `bundle-<bundleId>`. */
  readonly revision: number;
}

const versionKey = (bundleId: string, version: number) => `${bundleId}/${String(version).padStart(10, '0')}`;

export const bundlesProjection: Projection & {
  summary(reader: ReadModelReader, bundleId: string): BundleSummary | undefined;
  versionRecord(reader: ReadModelReader, bundleId: string, version: number): BundleVersionRecord | undefined;
  byIdempotencyKey(reader: ReadModelReader, tenant: string, keyHash: string): string | undefined;
} = {
  name: NAME,
  version: 1,
  eventTypes: BUNDLE_EVENT_TYPES,
  apply(tx, e: RecordedEvent) {
    if (!e.stream.startsWith(BUNDLE_STREAM_PREFIX)) return;
    const event = { type: e.type, data: e.data } as unknown as BundleEvent;
    switch (event.type) {
      case 'BundleSigned': {
        const d = event.data;
        const v: BundleVersionSummary = { version: 1, keyId: d.keyId, reason: 'signed', createdAt: d.signedAt, position: e.position };
        const summary: BundleSummary = { bundleId: d.bundleId, tenant: d.tenant, payloadType: d.payloadType, latestVersion: 1, versions: [v] };
        tx.put(NAME, d.bundleId, summary as unknown as JsonObject);
        const record: BundleVersionRecord = { ...v, bundleId: d.bundleId, revision: e.revision };
        tx.put(VERSIONS, versionKey(d.bundleId, 1), record as unknown as JsonObject);
        if (d.idempotencyKey) tx.put(IDEMPOTENCY, `${d.tenant}/${d.idempotencyKey}`, d.bundleId);
        break;
      }
    }
  },
  summary: (reader, bundleId) => reader.get<JsonObject>(NAME, bundleId) as unknown as BundleSummary | undefined,
  versionRecord: (reader, bundleId, version) => reader.get<JsonObject>(VERSIONS, versionKey(bundleId, version)) as unknown as BundleVersionRecord | undefined,
  byIdempotencyKey: (reader, tenant, keyHash) => reader.get<string>(IDEMPOTENCY, `${tenant}/${keyHash}`),
};
