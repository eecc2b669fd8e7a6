import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi.ts';
import { expectProblem } from '../support/problem.ts';
import { startTestService, type TestService } from '../support/service.ts';

const TIME = '2026-11-23T00:00:00Z';

describe('http app', () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startTestService();
  });
  afterEach(async () => {
    await svc.stop();
  });

  describe('when probed', () => {
    it('answers /healthz with ok', async () => {
      const res = await svc.app.request('/healthz');
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ok' });
    });

    it('answers /readyz ready once projections reached the store head', async () => {
      const r = await svc.ledger.store.appendToStream('probe-1', [{ type: 'Probed', data: { n: 1 }, metadata: { time: TIME } }]);
      const deadline = Date.now() + 5000;
      let res = await svc.app.request('/readyz');
      while (res.status !== 200 && Date.now() < deadline) {
        await new Promise((ok) => setTimeout(ok, 20));
        res = await svc.app.request('/readyz');
      }
      expect(res.status).toBe(200);
      const body = (await res.json()) as { checks: { store: { head: number }; projections: { position: number } } };
      expect(body.checks.store.head).toBe(r.lastPosition);
      expect(body.checks.projections.position).toBe(r.lastPosition);
    });

    it('answers /readyz 503 problem+json when the store is unreachable', async () => {
      await svc.ledger.store.close();
      const res = await svc.app.request('/readyz');
      await expectProblem(res, 503, 'not_ready', { checks: { store: { ok: false, error: 'store_closed' } } });
    });
  });

  describe('when scraped', () => {
    it('exposes append latency and projection lag in Prometheus text', async () => {
      const count = async (re: RegExp) => Number(re.exec(await (await svc.app.request('/metrics')).text())?.[1] ?? NaN);
      const appends = /sigledger_store_append_duration_seconds_count\{store="sqlite"\} (\d+)/;
      const commits = /sigledger_store_group_commit_appends_count (\d+)/;
      const [a0, c0] = [await count(appends), await count(commits)];
      const r = await svc.ledger.store.appendToStream('metrics-1', [{ type: 'Counted', data: {}, metadata: { time: TIME } }]);
      expect(await count(appends)).toBe(a0 + 1);
      expect(await count(commits)).toBe(c0 + 1);
      const text = await (await svc.app.request('/metrics')).text();
      expect(text).toMatch(/sigledger_projection_lag_positions\{projection="bundles"\} \d+/);
      expect(r.lastPosition).toBeGreaterThan(0);
    });
  });

  describe('when asked for an unknown route', () => {
    it('answers 404 problem+json with a stable code', async () => {
      const res = await svc.app.request('/api/v1/nothing-here?x=<script>');
      await expectProblem(res, 404, 'not_found');
    });
  });

  describe('when the OpenAPI document is fetched', () => {
    it('describes exactly the routes the app registers', async () => {
      const res = await svc.app.request('/openapi.json');
      expect(res.status).toBe(200);
      const doc = (await res.json()) as ReturnType<typeof openApiDocument>;
      const described = new Set(
        Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
      );
      const registered = new Set(
        svc.app.routes
          .filter((r) => r.method !== 'ALL')
          .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)(\{[^}]*\})?/g, '{$1}').replace(/\/\*$/, '/{path}')}`),
      );
      expect([...registered].sort()).toEqual([...described].sort());
    });
  });
});
