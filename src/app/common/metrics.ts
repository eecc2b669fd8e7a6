/** Prometheus metrics, on a registry of the service's own (never the global one). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly appendDuration: Histogram<'store'>;
  readonly appendFailures: Counter<'store' | 'code'>;
  readonly groupCommitSize: Histogram;
  readonly groupCommitDuration: Histogram;
  readonly projectionLag: Gauge<'projection'>;
  readonly projectionPosition: Gauge<'projection'>;
  readonly projectionErrors: Counter<'projection'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly signDuration: Histogram<'result' | 'backend'>;
  readonly signRefusals: Counter<'reason'>;
  readonly resignings: Counter<'result'>;
  readonly releaseVerdicts: Counter<'result' | 'cached'>;
  readonly rotationRemaining: Gauge<'rotation'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sigledger_' });
  return {
    registry,
    appendDuration: new Histogram({
      name: 'sigledger_store_append_duration_seconds',
      help: 'Time from append call to durable acknowledgement.',
      labelNames: ['store'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    appendFailures: new Counter({
      name: 'sigledger_store_append_failures_total',
      help: 'Appends that were refused or failed, by error code.',
      labelNames: ['store', 'code'],
      registers: [registry],
    }),
    groupCommitSize: new Histogram({
      name: 'sigledger_store_group_commit_appends',
      help: 'Appends sharing one transaction and fsync (sqlite store).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [registry],
    }),
    groupCommitDuration: new Histogram({
      name: 'sigledger_store_group_commit_seconds',
      help: 'Time one group commit (inserts, COMMIT and fsync) held the writer (sqlite store).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
      registers: [registry],
    }),
    projectionLag: new Gauge({
      name: 'sigledger_projection_lag_positions',
      help: 'Store head position minus the projection checkpoint (events behind on sqlite; log positions on esdb).',
      labelNames: ['projection'],
      registers: [registry],
    }),
    projectionPosition: new Gauge({
      name: 'sigledger_projection_checkpoint_position',
      help: 'Global position the projection has folded.',
      labelNames: ['projection'],
      registers: [registry],
    }),
    projectionErrors: new Counter({
      name: 'sigledger_projection_errors_total',
      help: 'Fold or subscription failures (the runtime retries).',
      labelNames: ['projection'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'sigledger_http_request_duration_seconds',
      help: 'HTTP request duration by route pattern.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    signDuration: new Histogram({
      name: 'sigledger_sign_duration_seconds',
      help: 'Signing requests from authenticated caller to durable, projected bundle, by result (created|existing).',
      labelNames: ['result', 'backend'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    signRefusals: new Counter({
      name: 'sigledger_sign_refusals_total',
      help: 'Signing requests refused before anything was appended (auth, entitlement, quota, size, validation), by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    releaseVerdicts: new Counter({
      name: 'sigledger_release_verdicts_total',
      help: 'Release-integrity verdicts (OCI referrers): trusted, untrusted, or error (registry failure); cached or looked up',
      labelNames: ['result', 'cached'],
      registers: [registry],
    }),
    resignings: new Counter({
      name: 'sigledger_resignings_total',
      help: 'Bundles handled by rotations: resigned (a new version), failed (did not verify with its key; recorded, not re-signed), skipped (nothing to do).',
      labelNames: ['result'],
      registers: [registry],
    }),
    rotationRemaining: new Gauge({
      name: 'sigledger_rotation_remaining_bundles',
      help: 'Bundles a running rotation still has to re-sign.',
      labelNames: ['rotation'],
      registers: [registry],
    }),
  };
}
