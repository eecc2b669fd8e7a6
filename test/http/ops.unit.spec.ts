import { describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/app/common/ledger.ts';
import { createApp } from '../../src/http/app.ts';
import { openApiDocument } from '../../src/http/openapi.ts';
import { expectProblem } from '../support/problem.ts';
import { baseDeps, fakeOf, READY } from './fakes.ts';

describe('ops routes (unit)', () => {
  describe('when probed for liveness', () => {
    it('answers ok with the version', async () => {
      const res = await createApp(baseDeps().deps).request('/healthz');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok', version: '9.9.9-test' });
    });
  });

  describe('when probed for readiness', () => {
    it('answers ready with the checks while store and projections are', async () => {
      const res = await createApp(baseDeps().deps).request('/readyz');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ready', checks: READY.checks });
    });

    it('answers 503 not_ready naming the store when it is unreachable', async () => {
      const down = { ready: false, checks: { store: { ok: false, kind: 'sqlite', error: 'store_closed' }, projections: { ok: false, position: 0, behind: ['bundles'] } } };
      const app = createApp(baseDeps(() => down).deps);
      await expectProblem(await app.request('/readyz'), 503, 'not_ready', { detail: 'event store unreachable', checks: down.checks });
    });

    it('answers 503 not_ready naming the projections while they catch up', async () => {
      const behind = { ready: false, checks: { store: { ok: true, kind: 'sqlite', head: 9 }, projections: { ok: false, position: 3, behind: ['log'] } } };
      const app = createApp(baseDeps(() => behind).deps);
      await expectProblem(await app.request('/readyz'), 503, 'not_ready', { detail: 'projections are catching up' });
    });
  });

  describe('when scraped', () => {
    it('refreshes the sampled gauges, then answers Prometheus text that counts the requests served', async () => {
      const { deps } = baseDeps();
      let refreshed = 0;
      const app = createApp({ ...deps, ledger: fakeOf<Ledger>('ledger', { refreshGauges: async () => void refreshed++ }) });
      await app.request('/healthz');
      const res = await app.request('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(deps.metrics.registry.contentType);
      expect(refreshed).toBe(1);
      expect(await res.text()).toMatch(/sigledger_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 1/);
    });
  });

  describe('when the OpenAPI document is fetched', () => {
    it('answers the document for this version as JSON', async () => {
      const res = await createApp(baseDeps().deps).request('/openapi.json');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument('9.9.9-test'))));
    });
  });

  describe('when the service is draining', () => {
    it('asks clients to close the connection', async () => {
      const { deps } = baseDeps();
      const res = await createApp({ ...deps, draining: () => true }).request('/healthz');
      expect(res.headers.get('connection')).toBe('close');
      const open = await createApp(deps).request('/healthz');
      expect(open.headers.get('connection')).toBeNull();
    });
  });
});
