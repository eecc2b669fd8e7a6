/**
 * The one place that wires adapters, application layer and HTTP together.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { createAuthenticator, type Authenticator } from './app/access/auth/authenticator.ts';
import { ensureDevIssuer } from './app/access/auth/dev-issuer.ts';
import { createKeySource } from './app/access/auth/jwks.ts';
import { instrumentStore } from './app/shared/instrumented-store.ts';
import { KeyringService } from './app/keys/keyring-service.ts';
import { LogService } from './app/transparency/log-service.ts';
import { parsePlans, withDevPlans } from './app/access/plans.ts';
import { createQuotas } from './app/access/quotas.ts';
import { SigningService } from './app/signing/signing-service.ts';
import { AnchorsService } from './app/trust/anchors-service.ts';
import { AuditService } from './app/audit/audit-service.ts';
import { ApproversService, ensureDevApprovers, loadApproverKeys } from './app/trust/approvers-service.ts';
import { CeremonyService } from './app/ceremonies/ceremony-service.ts';
import { RotationScheduler } from './app/ceremonies/rotation-scheduler.ts';
import { RotationService } from './app/ceremonies/rotation-service.ts';
import { TsaService } from './app/timestamping/tsa-service.ts';
import { loadRegistryCredentials, ReleaseService } from './app/release/release-service.ts';
import { trustedRootDocument } from './app/trust/trusted-root.ts';
import { Ledger } from './app/shared/ledger.ts';
import { createLogger, type Logger } from './app/shared/logger.ts';
import { createMetrics } from './app/shared/metrics.ts';
import type { Config } from './config.ts';
import { ConfigError, isLedgerError, LedgerError } from './errors.ts';
import { createApp } from './http/app.ts';
import { anchorsProjection } from './projections/anchors.ts';
import { bundlesProjection } from './projections/bundles.ts';
import { ceremoniesProjection } from './projections/ceremonies.ts';
import { keyRegistry } from './projections/key-registry.ts';
import { LogProjection } from './projections/log.ts';
import { ProjectionRuntime } from './projections/runtime.ts';
import type { KeyStore } from './store/key-store.ts';
import { openFileKeyStore } from './store/keys/file-key-store.ts';
import { resolveKek } from './store/keys/kek.ts';
import { sealedSecretStore } from './store/keys/sealed-secret.ts';
import type { EventStore } from './store/event-store.ts';
import { SqliteEventStore } from './store/sqlite/sqlite-event-store.ts';
import { SqliteReadModelStore } from './store/sqlite/sqlite-read-model.ts';

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

/** The KEK seals file-store keys and the TSA key (dev mode keeps one in the data dir, with a warning). */
function resolveKekFor(config: Config, logger: Logger): Buffer {
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

async function openAuthenticator(config: Config, logger: Logger): Promise<Authenticator> {
  if (config.authMode === 'dev') {
    const issuer = await ensureDevIssuer(config.dataDir);
    return createAuthenticator(issuer.authenticatorOptions());
  }
  const opTokKeys = createKeySource(config.auth.jwks!, { label: 'SIGLEDGER_JWKS' });
  const poeKeys = createKeySource(config.auth.poeJwks!, { label: 'SIGLEDGER_POE_JWKS' });
  // Fail fast on an unreadable or empty key set (a URL that is down only warns: the IdP may come back).
  await Promise.all(
    [opTokKeys, poeKeys].map(async (keys) => {
      try {
        await keys.load();
      } catch (err) {
        if (keys.kind !== 'remote') throw err;
        logger.warn({ jwks: keys.description }, 'JWKS unreachable at start-up; tokens are refused with 503 until it answers');
      }
    }),
  );
  return createAuthenticator({
    opTok: { keys: opTokKeys, issuer: config.auth.issuer!, audience: 'signer' },
    poe: { keys: poeKeys, issuer: config.auth.poeIssuer! },
  });
}

async function openStore(config: Config, onCommit: (appends: number, events: number, seconds: number) => void): Promise<EventStore> {
  if (config.store === 'sqlite') return new SqliteEventStore({ path: join(config.dataDir, 'events.db'), onCommit });
  const { openEsdbEventStore } = await import('./store/esdb/esdb-event-store.ts');
  return openEsdbEventStore(config.esdbUrl!);
}

export async function startService(config: Config, options: { logger?: Logger; now?: () => Date } = {}): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const now = options.now ?? (() => new Date());
  // Configuration that can be checked without touching anything is checked first.
  const plans = parsePlans(config.plans);
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`cannot create the data directory ${config.dataDir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {});
  };
  try {
    const metrics = createMetrics();
    const auth = await openAuthenticator(config, logger);
    const quotas = createQuotas({ plans: config.authMode === 'dev' ? withDevPlans(plans) : plans });
    const rawStore = await openStore(config, (appends, _events, seconds) => {
      metrics.groupCommitSize.observe(appends);
      metrics.groupCommitDuration.observe(seconds);
    });
    const store = instrumentStore(rawStore, metrics);
    cleanups.push(() => store.close());
    const readModel = new SqliteReadModelStore(join(config.dataDir, 'readmodel.db'));
    cleanups.push(() => readModel.close());
    let afterBatch = () => {};
    const runtime = new ProjectionRuntime({
      store,
      readModel,
      projections: projections(),
      onBatch: () => afterBatch(),
      onError: (err, ctx) => {
        metrics.projectionErrors.inc({ projection: ctx.projection ?? 'subscription' });
        logger.error({ ...ctx, code: isLedgerError(err) ? err.code : 'internal', message: (err as Error)?.message }, 'projection error; retrying');
      },
    });
    const head = await store.headPosition();
    runtime.start(head);
    const ahead = runtime.status().filter((p) => p.aheadOfHistory !== undefined);
    if (ahead.length > 0) logger.error({ head, ahead: ahead.map((p) => `${p.name}@${p.aheadOfHistory}`) }, 'read models were ahead of the event history: rebuilding them from the history');
    cleanups.push(() => runtime.stop());
    const kek = resolveKekFor(config, logger);
    const keyStore = await openKeyStore(config, kek);
    cleanups.push(() => keyStore.close());
    const log = new LogService({ store, runtime, readModel, keyStore, logger, now, origin: config.logOrigin, intervalMs: config.checkpointIntervalMs });
    await log.init();
    afterBatch = () => {
      log.settle();
      log.onBatch();
    };
    cleanups.push(() => log.stop());
    log.onBatch();
    const keyring = new KeyringService({ store, runtime, keyStore, readModel, logger, now });
    const active = await keyring.ensureActiveKey();
    logger.info({ keyId: active.keyId, backend: active.backend }, 'signing key ready');
    const tsa = new TsaService({ store, logger, now, secrets: sealedSecretStore(join(config.dataDir, 'keys'), kek) });
    await tsa.init();
    const signing = new SigningService({ store, runtime, readModel, keyring, log, tsa, metrics, now });

    // Approvers, trust anchors, ceremonies and rotations.
    const approvers = new ApproversService({ store, runtime, logger, now });
    await approvers.bootstrap(config.authMode === 'dev' ? await ensureDevApprovers(config.dataDir) : await loadApproverKeys(config.approvers));
    const anchors = new AnchorsService({ store, runtime, readModel, logger, now, initialThresholds: config.ceremonyThresholds });
    await anchors.ensureInitial();
    if (Object.keys(config.ceremonyThresholds).length > 0 && JSON.stringify(anchors.thresholds()) !== JSON.stringify(config.ceremonyThresholds)) {
      logger.warn({ configured: config.ceremonyThresholds, inForce: anchors.thresholds() }, 'SIGLEDGER_CEREMONY_THRESHOLDS differs from the thresholds in the trust anchors; after initialisation thresholds change only through an update-anchors ceremony');
    }
    let rotations: RotationService | undefined;
    const ceremonies = new CeremonyService({
      store,
      runtime,
      readModel,
      keyring,
      keyStore,
      approvers,
      anchors,
      logger,
      now,
      ttlSeconds: config.ceremonyTtlSeconds,
      onApproved: (id) => void rotations?.execute(id),
    });
    rotations = new RotationService({ store, runtime, readModel, keyring, tsa, anchors, ceremonies: () => ceremonies, logger, metrics, now, batchSize: config.resignBatchSize, pauseMs: config.resignPauseMs });
    cleanups.push(() => rotations!.stop());
    // Other instances may rotate: after each fold announce new anchors versions and, when one
    // arrived (every key change publishes one), pick up a newly active key.
    const previousAfterBatch = afterBatch;
    afterBatch = () => {
      previousAfterBatch();
      if (!anchors.notify()) return;
      const active = keyRegistry.list(readModel).find((k) => k.status === 'active');
      if (active && active.keyId !== keyring.active().keyId) void keyring.refresh().catch((err: unknown) => logger.error({ message: (err as Error).message }, 'cannot load the newly active key'));
    };
    anchors.notify();
    await rotations.resume();
    const expiry = setInterval(() => void ceremonies.expireDue().catch((err: unknown) => logger.warn({ message: (err as Error).message }, 'ceremony expiry sweep failed')), 60_000);
    expiry.unref();
    cleanups.push(() => clearInterval(expiry));
    let scheduler: RotationScheduler | undefined;
    if (config.rotationCron !== null) {
      scheduler = new RotationScheduler({
        store,
        runtime,
        cron: config.rotationCron,
        now,
        logger,
        baseline: async () => (await keyring.state()).keys[keyring.active().keyId]?.validFor.start,
        open: async (due) => {
          await ceremonies.open('rotate-key', {}, `scheduled rotation (${due.period})`, { actor: 'system:schedule', ceremonyId: due.ceremonyId, rotationId: due.rotationId });
        },
      });
      await scheduler.start();
      cleanups.push(() => scheduler!.stop());
    }
    const anonymous = createQuotas({ plans: { anonymous: { qps: config.tsaAnonymousQps, burst: config.tsaAnonymousQps * 2, concurrency: 16, maxArtifactBytes: 64 * 1024 } } });
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
      logger.warn('SIGLEDGER_REGISTRIES is not set: GET /api/v1/signer/verify/referrers may make this service contact any registry a caller names; list the registries it may contact');
    }
    if (release.required) logger.info({ cacheSeconds: config.release.cacheSeconds, registries: config.release.allowedRegistries ?? 'any' }, 'release verification required: signing needs a trusted scanner release');
    const ledger = new Ledger({ store, readModel, runtime, metrics });
    const audit = new AuditService({ store });
    return await listen(config, {
      logger,
      metrics,
      ledger,
      runtime,
      store,
      readModel,
      keyStore,
      signing: { signing, keyring, auth, quotas, readModel, anchors, release },
      log,
      timestamps: { tsa, auth, quotas, anonymous },
      internals: { runtime, keyring, tsa, rotations, audit },
      audit: { audit, auth },
      ceremonies: { ceremonies, rotations, auth, approvals: createQuotas({ plans: { approvals: { qps: 50, burst: 100, concurrency: 16, maxArtifactBytes: 16 * 1024 } } }) },
      stop: () => {
        scheduler?.stop();
        clearInterval(expiry);
        rotations!.stop();
        return rotations!.idle();
      },
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
}

interface Parts {
  readonly logger: Logger;
  readonly metrics: ReturnType<typeof createMetrics>;
  readonly ledger: Ledger;
  readonly runtime: ProjectionRuntime;
  readonly store: EventStore;
  readonly readModel: SqliteReadModelStore;
  readonly keyStore: KeyStore;
  readonly signing: NonNullable<Parameters<typeof createApp>[0]['signing']>;
  readonly log: LogService;
  readonly timestamps: NonNullable<Parameters<typeof createApp>[0]['timestamps']>;
  readonly tsa?: TsaService;
  readonly ceremonies: NonNullable<Parameters<typeof createApp>[0]['ceremonies']>;
  readonly audit: NonNullable<Parameters<typeof createApp>[0]['audit']>;
  readonly internals: ServiceInternals;
  /** Stops background work (schedule, expiry, rotations) before the stores close. */
  readonly stop: () => Promise<void>;
}

async function listen(config: Config, parts: Parts): Promise<Service> {
  const { logger, metrics, ledger, runtime, store, readModel, keyStore } = parts;
  let draining = false;
  const app = createApp({ ledger, metrics, logger, version: VERSION, draining: () => draining, signing: parts.signing, log: parts.log, timestamps: parts.timestamps, ceremonies: parts.ceremonies, audit: parts.audit });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`${config.host}:${config.port} is already in use`));
      else if (err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') reject(new ConfigError(`cannot listen on ${config.host}:${config.port} (${err.code})`));
      else reject(new LedgerError('internal', `cannot listen (${err.code ?? 'error'})`));
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, store: config.store, dataDir: config.dataDir }, 'sigledger listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      parts.audit.audit.stop(); // audit SSE tails end now rather than holding the drain open
      logger.info('shutting down: draining in-flight requests');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn('drain timeout: closing remaining connections');
          (server as import('node:http').Server).closeAllConnections?.();
        }, config.shutdownTimeoutMs);
        // A keep-alive connection whose response ends during the drain (an ended SSE tail) is closed once idle.
        const sweep = setInterval(() => (server as import('node:http').Server).closeIdleConnections?.(), 100);
        server.close(() => {
          clearTimeout(timer);
          clearInterval(sweep);
          resolve();
        });
        (server as import('node:http').Server).closeIdleConnections?.();
      });
      await parts.stop();
      parts.log.stop();
      await parts.log.drain();
      await runtime.stop();
      await store.close(); // flushes appends still queued for group commit
      readModel.close();
      await keyStore.close();
      logger.info('shutdown complete');
      logger.flush();
    })());

  return { url, app, ledger, logger, internals: parts.internals, close };
}
