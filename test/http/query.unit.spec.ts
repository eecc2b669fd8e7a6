/**
 * Issue 16 (finding 9): repeated query parameters are refused the same way on every route
 * (src/http/query.ts), instead of some routes taking the first value and others refusing.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.ts';
import { refuseRepeatedQuery, repeatedParameters } from '../../src/http/query.ts';
import { expectProblem } from '../support/problem.ts';
import { baseDeps } from './fakes.ts';

describe('repeated query parameters', () => {
  describe('when the names of a URL are listed', () => {
    it('names each parameter given more than once, decoded', () => {
      expect(repeatedParameters('http://x/a?b=1&c=2')).toEqual([]);
      expect(repeatedParameters('http://x/a?b=1&b=2&c=1&c=1&d')).toEqual(['b', 'c']);
      expect(repeatedParameters('http://x/a?size=1&si%7Ae=2')).toEqual(['size']);
      expect(repeatedParameters('http://x/a?k&k')).toEqual(['k']);
      expect(repeatedParameters('http://x/a#?k&k')).toEqual([]);
    });
  });

  describe('when any route of the app is asked with a repeated parameter', () => {
    const app = createApp(baseDeps().deps);
    it.each(['/healthz?x=1&x=2', '/metrics?a=&a=', '/openapi.json?v=1&v=1', '/api/v1/no-such-route?q=1&q=2'])('refuses %s with 400 repeated_parameter', async (path) => {
      await expectProblem(await app.request(path), 400, 'bad_request', { reason: 'repeated_parameter' });
    });

    it('lets distinct parameters through', async () => {
      expect((await app.request('/healthz?x=1&y=2')).status).toBe(200);
    });
  });

  describe('when a route reads a parameter as a list', () => {
    it('lets only that route repeat only those names', async () => {
      const { Hono } = await import('hono');
      const app = new Hono();
      app.use(refuseRepeatedQuery({ '/list': ['type'] }));
      app.get('/list', (c) => c.json(c.req.queries('type') ?? []));
      app.get('/other', (c) => c.text('ok'));
      app.onError((err, c) => c.json({ message: err.message }, 400));
      expect(await (await app.request('/list?type=a&type=b')).json()).toEqual(['a', 'b']);
      expect((await app.request('/list?type=a&after=1&after=2')).status).toBe(400);
      expect((await app.request('/other?type=a&type=b')).status).toBe(400);
    });
  });
});
