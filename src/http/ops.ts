/** Operations routes: liveness, readiness, Prometheus metrics. */
import { Hono } from 'hono';
import type { Ledger } from '../app/common/ledger.ts';
import type { Metrics } from '../app/common/metrics.ts';
import { problemResponse } from './problem.ts';

export function opsRoutes(deps: { ledger: Ledger; metrics: Metrics; version: string }): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ status: 'ok', version: deps.version }));

  app.get('/readyz', async (c) => {
    const r = await deps.ledger.readiness();
    if (r.ready) return c.json({ status: 'ready', checks: r.checks });
    return problemResponse(c, {
      type: 'https://sigledger.dev/problems/not_ready',
      title: 'Service Unavailable',
      status: 503,
      code: 'not_ready',
      detail: !r.checks.store.ok ? 'event store unreachable' : 'projections are catching up',
      checks: r.checks,
    });
  });

  app.get('/metrics', async (c) => {
    await deps.ledger.refreshGauges();
    return c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType });
  });

  return app;
}
