/**
 * The one place that wires adapters, application layer and HTTP together. `startService` is a
 * list of named steps, each taking what the earlier ones built:
 *
 *   check the configuration → bind the port → create the data dir → open the stores →
 *   run the projections → keys, log and TSA → trust and ceremonies → release → serve HTTP.
 *
 * Store adapters are chosen here (and in src/cli/replay.ts) only; the helpers in src/wiring/ see
 * ports. Services never reach each other through `let` variables filled in later: whatever runs
 * after a projection batch is an explicit list of hooks, run in order.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { AuditService } from './app/audit/audit-service.ts';
import { CeremonyService } from './app/ceremonies/ceremony-service.ts';
import { RotationScheduler } from './app/ceremonies/rotation-scheduler.ts';
import { RotationService } from './app/ceremonies/rotation-service.ts';
import { KeyringService } from './app/keys/keyring-service.ts';
import { parsePlans, withDevPlans } from './app/access/plans.ts';
import { createDailyQuota, createQuotas } from './app/access/quotas.ts';
import { ReleaseService } from './app/release/release-service.ts';
import { instrumentStore } from './app/common/instrumented-store.ts';
import { Ledger } from './app/common/ledger.ts';
import { createLogger, type Logger } from './app/common/logger.ts';
import { createMetrics, type Metrics } from './app/common/metrics.ts';
import { SigningService } from './app/signing/signing-service.ts';
import { TsaService } from './app/timestamping/tsa-service.ts';
import { LogService } from './app/transparency/log-service.ts';
import { AnchorsService } from './app/trust/anchors-service.ts';
import { ApproversService, ensureDevApprovers, loadApproverKeys } from './app/trust/approvers-service.ts';
import { ANCHORS_STREAM } from './domain/anchors.ts';
import { trustedRootDocument } from './app/trust/trusted-root.ts';
import { loadRegistryCredentials, type Config } from './config.ts';
import { ConfigError, isLedgerError } from './errors.ts';
import { createApp } from './http/app.ts';
import { StreamLimiter } from './http/sse-limits.ts';
import { anchorsProjection } from './projections/anchors.ts';
import { bundlesProjection } from './projections/bundles.ts';
import { ceremoniesProjection } from './projections/ceremonies.ts';
import { keyRegistry } from './projections/key-registry.ts';
import { LogProjection } from './projections/log.ts';
import { ProjectionRuntime } from './projections/runtime.ts';
import type { EventStore } from './store/event-store.ts';
import type { KeyStore } from './store/key-store.ts';
import type { SecretStore } from './store/secret-store.ts';
import { openFileKeyStore } from './store/keys/file-key-store.ts';
import { resolveKek } from './store/keys/kek.ts';
import { sealedSecretStore } from './store/keys/sealed-secret.ts';
import { SqliteEventStore } from './store/sqlite/sqlite-event-store.ts';
import { SqliteReadModelStore } from './store/sqlite/sqlite-read-model.ts';
import { openAuthenticator } from './wiring/authenticator.ts';
import { bindHttp, type HttpListener } from './wiring/http-server.ts';
import { assertThresholdsReachable, sameThresholds, sqliteLedgerExists, unreachableInForce } from './wiring/startup-checks.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface ServiceInternals {
  readonly runtime: ProjectionRuntime;
  readonly keyring: KeyringService;
  readonly tsa: TsaService;
  readonly rotations: RotationService;
  readonly audit: AuditService;
}

export interface Service {
  readonly url: string;
  readonly app: Hono;
  readonly ledger: Ledger;
  readonly logger: Logger;
  /** The application services, for in-process tools (benchmarks, tests); not an API. */
  readonly internals: ServiceInternals;
  /** Graceful shutdown: stop accepting, drain in-flight requests and commits, close stores. */
  close(): Promise<void>;
}

/** The projections the service runs (the log projection keeps in-memory state: one per runtime). */
export const projections = () => [keyRegistry, anchorsProjection, bundlesProjection, ceremoniesProjection, new LogProjection()];

/** What every step gets: the configuration, the shared instruments, and where to register undo work. */
interface Wiring {
  readonly config: Config;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly metrics: Metrics;
  /** Undone in reverse order when a later step fails (a started service closes through `close`). */
  readonly cleanups: (() => Promise<void> | void)[];
  /** Run in order after every projection batch. */
  readonly afterBatch: (() => void)[];
}

/** How long start-up waits for the projections to fold the history before it resumes rotations. */
const STARTUP_CATCH_UP_TIMEOUT_MS = 10 * 60_000;

export async function startService(config: Config, options: { logger?: Logger; now?: () => Date } = {}): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const now = options.now ?? (() => new Date());
  // Configuration that can be checked without touching anything is checked first, then the port:
  // a refused start leaves no data directory behind. The configured thresholds matter only for a
  // new ledger (an ESDB ledger is checked once its store is open, before anything is written).
  const plans = parsePlans(config.plans);
  const approverKeys = config.authMode === 'dev' ? undefined : await loadApproverKeys(config.approvers);
  if (config.store === 'sqlite' && !sqliteLedgerExists(config)) assertThresholdsReachable(config);
  const { limits } = config;
  const http = await bindHttp(config.host, config.port, { headersTimeoutMs: limits.headersTimeoutMs, requestTimeoutMs: limits.requestTimeoutMs, bodyTimeoutMs: limits.bodyTimeoutMs });
  const w: Wiring = { config, logger, now, metrics: createMetrics(), cleanups: [], afterBatch: [] };
  try {
    createDataDir(config);
    const stores = await openStores(w);
    const auth = await openAuthenticator(config, logger);
    const quotas = createQuotas({ plans: config.authMode === 'dev' ? withDevPlans(plans) : plans });
    const runtime = await startProjections(w, stores);
    const core = await startKeysLogAndTsa(w, stores, runtime);
    const trust = await startTrust(w, stores, runtime, core, approverKeys);
    const release = startRelease(w, core, trust);
    const ledger = new Ledger({ store: stores.store, readModel: stores.readModel, runtime, metrics: w.metrics });
    const audit = new AuditService({ store: stores.store });
    const { ceremonies, rotations, anchors } = trust;
    let draining = false;
    // One set of SSE caps for the anchors stream and the audit tail.
    const streams = new StreamLimiter({ maxStreams: limits.sseMaxStreams, maxPerClient: limits.sseMaxStreamsPerClient, maxLifetimeMs: limits.sseMaxLifetimeMs, stallTimeoutMs: limits.sseStallTimeoutMs });
    const app = createApp({
      ledger,
      metrics: w.metrics,
      logger,
      version: VERSION,
      draining: () => draining,
      signing: { signing: core.signing, keyring: core.keyring, auth, quotas, readModel: stores.readModel, anchors, release, streams },
      log: core.log,
      timestamps: { tsa: core.tsa, auth, quotas, ...anonymousTimestampQuotas(config) },
      ceremonies: { ceremonies, rotations, auth, approvals: createQuotas({ plans: { approvals: { qps: 50, burst: 100, concurrency: 16, maxArtifactBytes: 16 * 1024 } } }) },
      audit: { audit, auth, streams },
    });
    http.attach(app.fetch);
    logger.info({ url: http.url, store: config.store, dataDir: config.dataDir }, 'sigledger listening');
    const close = shutdown(w, http, {
      startDraining: () => {
        draining = true;
        audit.stop(); // audit SSE tails end now rather than holding the drain open
      },
      stopBackground: trust.stop,
      stores,
      runtime,
      log: core.log,
    });
    return { url: http.url, app, ledger, logger, internals: { runtime, keyring: core.keyring, tsa: core.tsa, rotations, audit }, close };
  } catch (err) {
    for (const undo of w.cleanups.reverse()) await Promise.resolve(undo()).catch(() => {});
    await http.abort();
    throw err;
  }
}

function createDataDir(config: Config): void {
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`cannot create the data directory ${config.dataDir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Stores: the event history, the read model, the key store and the sealed secrets.

interface Stores {
  readonly store: EventStore;
  readonly readModel: SqliteReadModelStore;
  readonly keyStore: KeyStore;
  readonly secrets: SecretStore;
}

async function openStores(w: Wiring): Promise<Stores> {
  const { config, metrics } = w;
  const onCommit = (appends: number, _events: number, seconds: number) => {
    metrics.groupCommitSize.observe(appends);
    metrics.groupCommitDuration.observe(seconds);
  };
  const raw = config.store === 'sqlite' ? new SqliteEventStore({ path: join(config.dataDir, 'events.db'), onCommit }) : await openEsdb(config);
  const store = instrumentStore(raw, metrics);
  w.cleanups.push(() => store.close());
  if ((await store.headPosition()) === 0) assertThresholdsReachable(config);
  const readModel = new SqliteReadModelStore(join(config.dataDir, 'readmodel.db'));
  w.cleanups.push(() => readModel.close());
  const kek = resolveKekFor(w);
  const keyStore = await openKeyStore(config, kek);
  w.cleanups.push(() => keyStore.close());
  return { store, readModel, keyStore, secrets: sealedSecretStore(join(config.dataDir, 'keys'), kek) };
}

async function openEsdb(config: Config): Promise<EventStore> {
  const { openEsdbEventStore } = await import('./store/esdb/esdb-event-store.ts');
  return openEsdbEventStore(config.esdbUrl!);
}

/** The KEK seals file-store keys and the TSA key (dev mode keeps one in the data dir, with a warning). */
function resolveKekFor({ config, logger }: Wiring): Buffer {
  const resolved = resolveKek({ env: config.kek, dataDir: config.dataDir, mode: config.authMode === 'jwks' ? 'production' : 'dev' });
  if (resolved.source !== 'env') {
    logger.warn({ path: resolved.path, created: resolved.source === 'created' }, 'dev mode: private keys are sealed under a KEK kept in the data directory; set SIGLEDGER_KEK in production');
  }
  return resolved.kek;
}

async function openKeyStore(config: Config, kek: Buffer): Promise<KeyStore> {
  if (config.keyStore === 'pkcs11') {
    const { openPkcs11KeyStore } = await import('./store/keys/pkcs11-key-store.ts');
    return openPkcs11KeyStore({ module: config.pkcs11.module!, pin: config.pkcs11.pin!, ...(config.pkcs11.tokenLabel ? { tokenLabel: config.pkcs11.tokenLabel } : {}) });
  }
  return openFileKeyStore({ dir: join(config.dataDir, 'keys'), kek });
}

// ---------------------------------------------------------------------------------------------
// Projections: one runtime folding the history into the read model.

async function startProjections(w: Wiring, { store, readModel }: Stores): Promise<ProjectionRuntime> {
  const { logger, metrics, afterBatch } = w;
  const runtime = new ProjectionRuntime({
    store,
    readModel,
    projections: projections(),
    onBatch: () => {
      for (const hook of afterBatch) hook();
    },
    onError: (err, ctx) => {
      metrics.projectionErrors.inc({ projection: ctx.projection ?? 'subscription' });
      logger.error({ ...ctx, code: isLedgerError(err) ? err.code : 'internal', message: (err as Error)?.message }, 'projection error; retrying');
    },
  });
  const head = await store.headPosition();
  runtime.start(head);
  const ahead = runtime.status().filter((p) => p.aheadOfHistory !== undefined);
  if (ahead.length > 0) logger.error({ head, ahead: ahead.map((p) => `${p.name}@${p.aheadOfHistory}`) }, 'read models were ahead of the event history: rebuilding them from the history');
  w.cleanups.push(() => runtime.stop());
  return runtime;
}

// ---------------------------------------------------------------------------------------------
// Keys, transparency log, timestamping and signing.

interface Core {
  readonly keyring: KeyringService;
  readonly log: LogService;
  readonly tsa: TsaService;
  readonly signing: SigningService;
}

async function startKeysLogAndTsa(w: Wiring, { store, readModel, keyStore, secrets }: Stores, runtime: ProjectionRuntime): Promise<Core> {
  const { config, logger, now, metrics } = w;
  const log = new LogService({ store, runtime, readModel, keyStore, logger, now, origin: config.logOrigin, intervalMs: config.checkpointIntervalMs });
  await log.init();
  // Each batch may complete leaves: wake the checkpoint waiters, then maybe publish a checkpoint.
  w.afterBatch.push(() => {
    log.settle();
    log.onBatch();
  });
  w.cleanups.push(() => log.stop());
  log.onBatch();
  const keyring = new KeyringService({ store, runtime, keyStore, readModel, logger, now });
  const active = await keyring.ensureActiveKey();
  logger.info({ keyId: active.keyId, backend: active.backend }, 'signing key ready');
  const tsa = new TsaService({ store, logger, now, secrets });
  await tsa.init();
  const signing = new SigningService({ store, runtime, readModel, keyring, log, tsa, metrics, now });
  return { keyring, log, tsa, signing };
}

// ---------------------------------------------------------------------------------------------
// Approvers, trust anchors, ceremonies, rotations and their schedule.

interface Trust {
  readonly anchors: AnchorsService;
  readonly ceremonies: CeremonyService;
  readonly rotations: RotationService;
  /** Stops background work (schedule, expiry, rotations) and waits for a running rotation step. */
  readonly stop: () => Promise<void>;
}

async function startTrust(w: Wiring, { store, readModel, keyStore }: Stores, runtime: ProjectionRuntime, { keyring, tsa, log }: Core, approverKeys: readonly Buffer[] | undefined): Promise<Trust> {
  const { config, logger, now, metrics } = w;
  const approvers = new ApproversService({ store, runtime, logger, now });
  // Until anchors version 1 exists the ledger is new (a first start may have failed after its
  // keys were made): the configured thresholds, about to be recorded, must be reachable.
  if ((await store.readStream(ANCHORS_STREAM, { maxCount: 1 })).length === 0) {
    const already = (await approvers.list()).length;
    assertThresholdsReachable(config, already > 0 ? already : undefined);
  }
  const enrolled = await approvers.bootstrap(approverKeys ?? (await ensureDevApprovers(config.dataDir)));
  const anchors = new AnchorsService({ store, runtime, readModel, logger, now, initialThresholds: config.ceremonyThresholds });
  await anchors.ensureInitial();
  if (Object.keys(config.ceremonyThresholds).length > 0 && !sameThresholds(anchors.thresholds(), config.ceremonyThresholds)) {
    logger.warn({ configured: config.ceremonyThresholds, inForce: anchors.thresholds() }, 'SIGLEDGER_CEREMONY_THRESHOLDS differs from the thresholds in the trust anchors; after initialisation thresholds change only through an update-anchors ceremony');
  }
  const unreachable = unreachableInForce(anchors.thresholds(), enrolled.length);
  if (unreachable.length > 0) {
    logger.warn({ enrolled: enrolled.length, unreachable }, 'some ceremonies cannot be approved: their thresholds in the trust anchors need more approvals than there are enrolled approvers; enroll approvers (enroll-approver ceremonies) while that is still possible');
  }
  const ceremonies = new CeremonyService({ store, runtime, readModel, keyring, keyStore, approvers, anchors, logger, now, ttlSeconds: config.ceremonyTtlSeconds });
  const rotations = new RotationService({ store, runtime, readModel, keyring, tsa, log, anchors, ceremonies, logger, metrics, now, batchSize: config.resignBatchSize, pauseMs: config.resignPauseMs });
  ceremonies.onApproved((ceremonyId) => void rotations.execute(ceremonyId));
  w.cleanups.push(() => rotations.stop());
  // Other instances may rotate: after each fold announce new anchors versions and, when one
  // arrived (every key change publishes one), pick up a newly active key.
  w.afterBatch.push(() => {
    if (anchors.notify()) pickUpActiveKey(w, keyring, readModel);
  });
  anchors.notify();
  // Resume from read models that reflect the whole history (after a projection's rebuild they
  // are filled at start-up; until then an approved ceremony would look absent).
  await runtime.waitFor(await store.headPosition(), STARTUP_CATCH_UP_TIMEOUT_MS);
  await rotations.resume();
  const expiry = setInterval(() => void ceremonies.expireDue().catch((err: unknown) => logger.warn({ message: (err as Error).message }, 'ceremony expiry sweep failed')), 60_000);
  expiry.unref();
  w.cleanups.push(() => clearInterval(expiry));
  const scheduler = config.rotationCron === null ? undefined : await startRotationSchedule(w, config.rotationCron, { store, runtime, keyring, ceremonies });
  return {
    anchors,
    ceremonies,
    rotations,
    stop: () => {
      scheduler?.stop();
      clearInterval(expiry);
      rotations.stop();
      return rotations.idle();
    },
  };
}

/** Loads the key the registry now names active, when it is not the one this instance signs with. */
function pickUpActiveKey({ logger }: Wiring, keyring: KeyringService, readModel: SqliteReadModelStore): void {
  const active = keyRegistry.list(readModel).find((k) => k.status === 'active');
  if (active && active.keyId !== keyring.active().keyId) void keyring.refresh().catch((err: unknown) => logger.error({ message: (err as Error).message }, 'cannot load the newly active key'));
}

async function startRotationSchedule(
  w: Wiring,
  cron: string,
  { store, runtime, keyring, ceremonies }: { store: EventStore; runtime: ProjectionRuntime; keyring: KeyringService; ceremonies: CeremonyService },
): Promise<RotationScheduler> {
  const scheduler = new RotationScheduler({
    store,
    runtime,
    cron,
    now: w.now,
    logger: w.logger,
    baseline: async () => (await keyring.state()).keys[keyring.active().keyId]?.validFor.start,
    open: async (due) => {
      await ceremonies.open('rotate-key', {}, `scheduled rotation (${due.period})`, { actor: 'system:schedule', ceremonyId: due.ceremonyId, rotationId: due.rotationId });
    },
  });
  await scheduler.start();
  w.cleanups.push(() => scheduler.stop());
  return scheduler;
}

// ---------------------------------------------------------------------------------------------
// Release integrity (OCI referrers) and the remaining HTTP pieces.

function startRelease({ config, logger, now, metrics }: Wiring, { log, tsa, keyring }: Core, { anchors }: Trust): ReleaseService {
  const release = new ReleaseService({
    config: config.release,
    credentials: loadRegistryCredentials(config.release.registryCredentials),
    anchors: () => anchors.latest(),
    trustedRoot: () => trustedRootDocument(log, tsa),
    keyStatus: (keyId) => keyring.get(keyId)?.status,
    logger,
    now,
    onVerdict: (result, cached) => metrics.releaseVerdicts.inc({ result, cached: String(cached) }),
  });
  if (config.authMode === 'jwks' && config.release.allowedRegistries === null) {
    logger.warn('SIGLEDGER_REGISTRIES is not set: GET /api/v1/signer/verify/referrers may make this service contact any public registry a caller names; list the registries it may contact');
  }
  if (release.required) logger.info({ cacheSeconds: config.release.cacheSeconds, registries: config.release.allowedRegistries ?? 'any' }, 'release verification required: signing needs a trusted scanner release');
  return release;
}

/** Callers without a token share one small timestamping plan, have one each (per client), and a daily budget. */
const anonymousTimestampQuotas = ({ tsaAnonymousQps: qps, limits }: Config) => ({
  anonymous: createQuotas({ plans: { anonymous: { qps, burst: qps * 2, concurrency: 16, maxArtifactBytes: 64 * 1024 } } }),
  anonymousClients: createQuotas({ plans: { 'anonymous-client': { qps: limits.tsaAnonymousClientQps, burst: limits.tsaAnonymousClientQps * 2, concurrency: 4, maxArtifactBytes: 64 * 1024 } } }),
  anonymousDaily: createDailyQuota({ perClient: limits.tsaAnonymousClientDaily, total: limits.tsaAnonymousDaily }),
});

// ---------------------------------------------------------------------------------------------
// Graceful shutdown.

interface Running {
  /** Flags responses with `connection: close` and ends the SSE tails. */
  readonly startDraining: () => void;
  /** Stops background work before the stores close. */
  readonly stopBackground: () => Promise<void>;
  readonly stores: Stores;
  readonly runtime: ProjectionRuntime;
  readonly log: LogService;
}

function shutdown({ config, logger }: Wiring, http: HttpListener, running: Running): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      running.startDraining();
      logger.info('shutting down: draining in-flight requests');
      await http.drain(config.shutdownTimeoutMs, () => logger.warn('drain timeout: closing remaining connections'));
      await running.stopBackground();
      running.log.stop();
      await running.log.drain();
      await running.runtime.stop();
      await running.stores.store.close(); // flushes appends still queued for group commit
      running.stores.readModel.close();
      await running.stores.keyStore.close();
      logger.info('shutdown complete');
      logger.flush();
    })());
}
