/**
 * `createApp(deps)` builds the whole HTTP surface as a Hono app, with no server attached, so
 * tests drive it through `app.request()`. One `onError` turns every error into problem+json.
 */
import { Hono } from 'hono';
import type { Logger } from '../app/common/logger.ts';
import type { Ledger } from '../app/common/ledger.ts';
import type { Metrics } from '../app/common/metrics.ts';
import { LedgerError } from '../errors.ts';
import { openApiDocument } from './openapi.ts';
import { opsRoutes } from './ops.ts';
import { problemOf, problemResponse } from './problem.ts';
import { refuseRepeatedQuery } from './query.ts';
import type { LogService } from '../app/transparency/log-service.ts';
import { logRoutes } from './log.ts';
import { timestampRoutes, type TimestampRouteDeps } from './timestamp.ts';
import { registryRoutes, type RegistryRouteDeps } from './registry.ts';
import { signerRoutes, type CallerAuthenticator, type QuotaGate } from './signer.ts';
import { ceremonyRoutes, type CeremonyRouteDeps } from './ceremonies.ts';
import { auditRoutes, type AuditRouteDeps } from './audit.ts';
import { releaseRoutes } from './release.ts';
import type { ReleaseService } from '../app/release/release-service.ts';

export interface AppDeps {
  readonly ledger: Ledger;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly version: string;
  /** True once a graceful shutdown began: responses then ask clients to close the connection. */
  readonly draining?: () => boolean;
  /** Signing, bundles and keys; absent in an ops-only app. */
  readonly signing?: RegistryRouteDeps & { readonly auth: CallerAuthenticator; readonly quotas: QuotaGate; readonly release?: ReleaseService };
  /** Transparency log and trust routes. */
  readonly log?: LogService;
  /** RFC 3161 timestamping. */
  readonly timestamps?: Omit<TimestampRouteDeps, 'logger'>;
  /** Ceremonies and rotations. */
  readonly ceremonies?: CeremonyRouteDeps;
  /** Audit replay: the raw history, paged and as an SSE tail (scope ledger.audit or ledger.admin). */
  readonly audit?: AuditRouteDeps;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const log = deps.logger;

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    if (deps.draining?.()) c.header('connection', 'close');
    const route = c.res.status === 404 && c.req.routePath === '/*' ? 'unmatched' : c.req.routePath;
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    if (c.res.status >= 500) log.warn({ method: c.req.method, route, status: c.res.status, ms: seconds * 1000 }, 'request failed');
    else log.debug({ method: c.req.method, route, status: c.res.status, ms: seconds * 1000 }, 'request');
  });

  app.use(refuseRepeatedQuery()); // one reading of a query on every route (http/query.ts)
  app.route('/', opsRoutes(deps));
  if (deps.signing) {
    const s = deps.signing;
    app.route('/', signerRoutes({ signing: s.signing, auth: s.auth, quotas: s.quotas, metrics: deps.metrics, logger: log, ...(s.release ? { release: s.release } : {}) }));
    if (s.release) app.route('/', releaseRoutes({ release: s.release, auth: s.auth, quotas: s.quotas }));
    app.route('/', registryRoutes(s));
  }
  if (deps.log) app.route('/', logRoutes({ log: deps.log, ...(deps.timestamps ? { tsa: deps.timestamps.tsa } : {}) }));
  if (deps.timestamps) app.route('/', timestampRoutes({ ...deps.timestamps, logger: log }));
  if (deps.ceremonies) app.route('/', ceremonyRoutes(deps.ceremonies));
  if (deps.audit) app.route('/', auditRoutes(deps.audit));

  const openapi = JSON.stringify(openApiDocument(deps.version));
  app.get('/openapi.json', (c) => c.body(openapi, 200, { 'content-type': 'application/json' }));

  app.notFound((c) => problemResponse(c, problemOf(new LedgerError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`))));

  app.onError((err, c) => {
    const problem = problemOf(err);
    if (problem.status >= 500) {
      // Log the code and message, never the request body or headers.
      log.error({ code: problem.code, err: err instanceof LedgerError ? { code: err.code, message: err.message } : { name: err.name, message: err.message } }, 'request error');
    }
    // A refused body may still be streaming in: do not keep the connection to drain it.
    return problemResponse(c, problem, problem.status === 413 ? { connection: 'close' } : undefined);
  });

  return app;
}
