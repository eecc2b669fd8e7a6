/**
 * The one place that wires adapters, application layer and HTTP together.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { instrumentStore } from './app/instrumented-store.ts';
import { Ledger } from './app/ledger.ts';
import { createLogger, type Logger } from './app/logger.ts';
import { createMetrics } from './app/metrics.ts';
import type { Config } from './config.ts';
import { ConfigError, isLedgerError, LedgerError } from './errors.ts';
import { createApp } from './http/app.ts';
import { ProjectionRuntime } from './projections/runtime.ts';
import { streamCatalog } from './projections/stream-catalog.ts';
import type { EventStore } from './store/port.ts';
import { SqliteEventStore } from './store/sqlite/sqlite-event-store.ts';
import { SqliteReadModelStore } from './store/sqlite/sqlite-read-model.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Service {
  readonly url: string;
  readonly app: Hono;
  readonly ledger: Ledger;
  readonly logger: Logger;
  /** Graceful shutdown: stop accepting, drain in-flight requests and commits, close stores. */
  close(): Promise<void>;
}

export const PROJECTIONS = [streamCatalog];

async function openStore(config: Config, onCommit: (appends: number) => void): Promise<EventStore> {
  if (config.store === 'sqlite') return new SqliteEventStore({ path: join(config.dataDir, 'events.db'), onCommit });
  const { openEsdbEventStore } = await import('./store/esdb/esdb-event-store.ts');
  return openEsdbEventStore(config.esdbUrl!);
}

export async function startService(config: Config, options: { logger?: Logger } = {}): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`cannot create the data directory ${config.dataDir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const metrics = createMetrics();
  const rawStore = await openStore(config, (appends) => metrics.groupCommitSize.observe(appends));
  const store = instrumentStore(rawStore, metrics);
  const readModel = new SqliteReadModelStore(join(config.dataDir, 'readmodel.db'));
  const runtime = new ProjectionRuntime({
    store,
    readModel,
    projections: PROJECTIONS,
    onError: (err, ctx) => {
      metrics.projectionErrors.inc({ projection: ctx.projection ?? 'subscription' });
      logger.error({ ...ctx, code: isLedgerError(err) ? err.code : 'internal', message: (err as Error)?.message }, 'projection error; retrying');
    },
  });
  runtime.start();
  const ledger = new Ledger({ store, readModel, runtime, metrics });

  let draining = false;
  const app = createApp({ ledger, metrics, logger, version: VERSION, draining: () => draining });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`${config.host}:${config.port} is already in use`));
      else if (err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') reject(new ConfigError(`cannot listen on ${config.host}:${config.port} (${err.code})`));
      else reject(new LedgerError('internal', `cannot listen (${err.code ?? 'error'})`));
    });
  }).catch(async (err: unknown) => {
    await runtime.stop();
    await store.close();
    readModel.close();
    throw err;
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, store: config.store, dataDir: config.dataDir }, 'sigledger listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      logger.info('shutting down: draining in-flight requests');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn('drain timeout: closing remaining connections');
          (server as import('node:http').Server).closeAllConnections?.();
        }, config.shutdownTimeoutMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        (server as import('node:http').Server).closeIdleConnections?.();
      });
      await runtime.stop();
      await store.close(); // flushes appends still queued for group commit
      readModel.close();
      logger.info('shutdown complete');
      logger.flush();
    })());

  return { url, app, ledger, logger, close };
}
