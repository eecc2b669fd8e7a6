/**
 * Read model of bundles (`GET /api/v1/bundles/{id}` and `/versions/{n}`):
 * - `bundles`: one summary per bundle (tenant, latest version, the version list);
 * - `bundles.versions`: each version's signing key and where its event is (stream revision and
 *   global position), keyed `<bundleId>/<version>`; the envelope itself is read from the event
 *   store, which stays the one copy of it;
 * - `bundles.idempotency`: `<tenant>/<sha256(Idempotency-Key)>` → bundle id;
 * - `bundles.byKey`: `<keyId>/<createdAt>/<bundleId>` → bundle id, for every bundle whose latest
 *   version is by that key and awaits nothing (a version whose re-signing failed leaves it):
 *   what a rotation still has to re-sign, and when each was signed (revocations re-sign only
 *   what was signed after `compromisedSince`);
 * - `bundles.resignFailed`: `<rotationId>/<bundleId>` → the failure.
 */
import { BUNDLE_EVENT_TYPES, BUNDLE_STREAM_PREFIX, type BundleEvent } from '../domain/bundle.ts';
import type { JsonObject } from '../json.ts';
import type { RecordedEvent } from '../store/event-store.ts';
import type { Projection } from './projection.ts';
import type { ReadModelReader } from '../store/read-model.ts';

const NAME = 'bundles';
const VERSIONS = 'bundles.versions';
const IDEMPOTENCY = 'bundles.idempotency';
const BY_KEY = 'bundles.byKey';
const FAILED = 'bundles.resignFailed';

export interface BundleVersionSummary {
  readonly version: number;
  readonly keyId: string;
  readonly reason: string;
  readonly createdAt: string;
  /** Global position of the event that created this version. */
  readonly position: number;
  /** Re-signed versions: the rotation, and where the re-signing attestation's event is. */
  readonly rotationId?: string;
  readonly attestationPosition?: number;
  readonly attestationRevision?: number;
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
const byKeyKey = (keyId: string, createdAt: string, bundleId: string) => `${keyId}/${createdAt}/${bundleId}`;

export interface ResignFailure {
  readonly bundleId: string;
  readonly version: number;
  readonly keyId: string;
  readonly rotationId: string;
  readonly reason: string;
}

export const bundlesProjection: Projection & {
  summary(reader: ReadModelReader, bundleId: string): BundleSummary | undefined;
  versionRecord(reader: ReadModelReader, bundleId: string, version: number): BundleVersionRecord | undefined;
  byIdempotencyKey(reader: ReadModelReader, tenant: string, keyHash: string): string | undefined;
  /** Bundle ids whose latest version is by `keyId` (signed at or after `since`), after the cursor. */
  latestByKey(reader: ReadModelReader, keyId: string, options?: { since?: string; after?: string; limit?: number }): { cursor: string; bundleId: string }[];
  countLatestByKey(reader: ReadModelReader, keyId: string, since?: string): number;
  failures(reader: ReadModelReader, rotationId: string, limit?: number): ResignFailure[];
} = {
  name: NAME,
  version: 2,
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
        tx.put(BY_KEY, byKeyKey(d.keyId, d.signedAt, d.bundleId), d.bundleId);
        break;
      }
      case 'BundleResigned': {
        const d = event.data;
        const summary = tx.get<JsonObject>(NAME, d.bundleId) as unknown as BundleSummary | undefined;
        if (!summary) return;
        const previous = summary.versions[summary.versions.length - 1];
        if (previous) tx.delete(BY_KEY, byKeyKey(previous.keyId, previous.createdAt, d.bundleId));
        const v: BundleVersionSummary = { version: d.version, keyId: d.keyId, reason: d.reason, createdAt: d.resignedAt, position: e.position, rotationId: d.rotationId };
        tx.put(NAME, d.bundleId, { ...summary, latestVersion: d.version, versions: [...summary.versions, v] } as unknown as JsonObject);
        tx.put(VERSIONS, versionKey(d.bundleId, d.version), { ...v, bundleId: d.bundleId, revision: e.revision } as unknown as JsonObject);
        tx.put(BY_KEY, byKeyKey(d.keyId, d.resignedAt, d.bundleId), d.bundleId);
        break;
      }
      case 'ResigningAttested': {
        const d = event.data;
        const record = tx.get<JsonObject>(VERSIONS, versionKey(d.bundleId, d.version)) as unknown as BundleVersionRecord | undefined;
        if (record) tx.put(VERSIONS, versionKey(d.bundleId, d.version), { ...record, attestationPosition: e.position, attestationRevision: e.revision } as unknown as JsonObject);
        break;
      }
      case 'BundleResignFailed': {
        const d = event.data;
        const summary = tx.get<JsonObject>(NAME, d.bundleId) as unknown as BundleSummary | undefined;
        const failed = summary?.versions.find((v) => v.version === d.version);
        if (failed) tx.delete(BY_KEY, byKeyKey(failed.keyId, failed.createdAt, d.bundleId));
        const failure: ResignFailure = { bundleId: d.bundleId, version: d.version, keyId: d.keyId, rotationId: d.rotationId, reason: d.reason };
        tx.put(FAILED, `${d.rotationId}/${d.bundleId}`, failure as unknown as JsonObject);
        break;
      }
    }
  },
  summary: (reader, bundleId) => reader.get<JsonObject>(NAME, bundleId) as unknown as BundleSummary | undefined,
  versionRecord: (reader, bundleId, version) => reader.get<JsonObject>(VERSIONS, versionKey(bundleId, version)) as unknown as BundleVersionRecord | undefined,
  byIdempotencyKey: (reader, tenant, keyHash) => reader.get<string>(IDEMPOTENCY, `${tenant}/${keyHash}`),
  latestByKey(reader, keyId, options = {}) {
    const prefix = `${keyId}/`;
    return reader
      .list<string>(BY_KEY, { prefix, limit: options.limit ?? 1000, ...(options.after !== undefined ? { after: options.after } : {}), ...(options.since ? { from: `${prefix}${options.since}` } : {}) })
      .map((r) => ({ cursor: r.key, bundleId: r.value }));
  },
  countLatestByKey(reader, keyId, since) {
    return reader.count(BY_KEY, { prefix: `${keyId}/`, ...(since ? { from: `${keyId}/${since}` } : {}) });
  },
  failures: (reader, rotationId, limit = 1000) => reader.list<JsonObject>(FAILED, { prefix: `${rotationId}/`, limit }).map((r) => r.value as unknown as ResignFailure),
};
