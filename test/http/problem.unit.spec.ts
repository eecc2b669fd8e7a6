import { describe, expect, it } from 'vitest';
import type { CeremonyService } from '../../src/app/ceremonies/ceremony-service.ts';
import type { RotationService } from '../../src/app/ceremonies/rotation-service.ts';
import { LedgerError, type ErrorCode } from '../../src/errors.ts';
import { createApp } from '../../src/http/app.ts';
import { problemOf, STATUS_BY_CODE } from '../../src/http/problem.ts';
import { expectProblem } from '../support/problem.ts';
import { baseDeps, fakeOf } from './fakes.ts';

describe('problem details', () => {
  describe('when the error is a LedgerError', () => {
    it('maps every code through the one table, with a stable type URI', () => {
      for (const code of Object.keys(STATUS_BY_CODE) as ErrorCode[]) {
        const p = problemOf(new LedgerError(code, `message for ${code}`));
        expect(p.status).toBe(STATUS_BY_CODE[code]);
        expect(p.code).toBe(code);
        expect(p.type).toBe(`https://sigledger.dev/problems/${code}`);
      }
      expect(problemOf(new LedgerError('concurrency_conflict', 'x')).status).toBe(409);
      expect(problemOf(new LedgerError('invalid_event', 'x')).status).toBe(400);
      expect(problemOf(new LedgerError('store_unavailable', 'x')).status).toBe(503);
    });
  });

  describe('when the error is anything else', () => {
    it('answers 500 internal without the message or a stack', () => {
      const p = problemOf(new Error('secret path /etc/shadow and stack'));
      expect(p).toEqual({ type: 'https://sigledger.dev/problems/internal', title: 'Internal Server Error', status: 500, code: 'internal', detail: 'internal error' });
    });
  });
});

/** The app with one route whose service throws `error` (GET /api/v1/ceremonies/:id). */
function appThrowing(error: unknown | (() => unknown)) {
  const { deps, logLines } = baseDeps();
  const ceremonies = fakeOf<CeremonyService>('ceremonies', {
    get: async () => {
      throw typeof error === 'function' ? error() : error;
    },
  });
  const auth = { authenticate: async () => ({ subject: 's', tenant: 't', plan: 'p' }) };
  const app = createApp({ ...deps, ceremonies: { ceremonies, rotations: fakeOf<RotationService>('rotations', {}), auth } });
  return { request: () => app.request('/api/v1/ceremonies/cer-1'), app, logLines };
}

describe('problem answers of the app (unit)', () => {
  describe('when no route matches', () => {
    it('answers 404 not_found naming the path but not the query', async () => {
      const { app } = appThrowing(undefined);
      const p = await expectProblem(await app.request('/api/v1/nothing-here?x=<script>'), 404, 'not_found');
      expect(p.detail).toBe('no route for GET /api/v1/nothing-here');
    });

    it('answers a method a known path does not have with the same 404 (the app keeps no 405 table)', async () => {
      const { app } = appThrowing(undefined);
      await expectProblem(await app.request('/healthz', { method: 'DELETE' }), 404, 'not_found', { detail: 'no route for DELETE /healthz' });
      await expectProblem(await app.request('/api/v1/ceremonies/cer-1', { method: 'PUT' }), 404, 'not_found');
    });
  });

  describe('when a route throws a LedgerError', () => {
    it('answers each code with its status from the one table, as problem+json', async () => {
      let code: ErrorCode = 'internal';
      const { request } = appThrowing(() => new LedgerError(code, `refused: ${code}`));
      for (code of Object.keys(STATUS_BY_CODE) as ErrorCode[]) await expectProblem(await request(), STATUS_BY_CODE[code], code);
    });

    it('carries a client error’s details, and a Retry-After for 429 and 503', async () => {
      const limited = await appThrowing(new LedgerError('rate_limited', 'slow down', { reason: 'qps', retryAfterSeconds: 3, limit: 5 })).request();
      expect(limited.headers.get('retry-after')).toBe('3');
      await expectProblem(limited, 429, 'rate_limited', { reason: 'qps', retryAfterSeconds: 3, limit: 5 });
    });

    it('keeps a server error’s details and internal messages out of the answer, but not an upstream’s', async () => {
      await expectProblem(await appThrowing(new LedgerError('internal', 'failed at /var/lib/sigledger/keys')).request(), 500, 'internal', { detail: 'internal error' });
      const store = await expectProblem(await appThrowing(new LedgerError('store_unavailable', 'store down', { path: '/var/lib/x' })).request(), 503, 'store_unavailable');
      expect(store.path).toBeUndefined();
      await expectProblem(await appThrowing(new LedgerError('registry_error', 'bad answer', { registryStatus: 500 })).request(), 502, 'registry_error', { registryStatus: 500 });
    });

    it('closes the connection after a 413, so an unread body is not drained', async () => {
      const res = await appThrowing(new LedgerError('payload_too_large', 'too big')).request();
      expect(res.headers.get('connection')).toBe('close');
      await expectProblem(res, 413, 'payload_too_large');
    });
  });

  describe('when a route throws anything else', () => {
    it('answers 500 internal without message or stack, and logs the message without a stack', async () => {
      const err = new TypeError('cannot read /etc/secret');
      const { request, logLines } = appThrowing(err);
      const p = await expectProblem(await request(), 500, 'internal', { detail: 'internal error' });
      expect(JSON.stringify(p)).not.toContain('/etc/secret');
      const logged = logLines().find((l) => l.msg === 'request error');
      expect(logged).toMatchObject({ code: 'internal', err: { name: 'TypeError', message: 'cannot read /etc/secret' } });
      expect(JSON.stringify(logged)).not.toContain(err.stack!.split('\n')[1]!.trim());
    });
  });
});
