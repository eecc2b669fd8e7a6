/**
 * Anonymous timestamps cannot grow the store without bound: a daily budget per client (the peer
 * address) and for all anonymous callers together. Clients are told apart by their real peer
 * address: requests go over the real listener from 127.0.0.2 and 127.0.0.3.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TSA_STREAM } from '../../src/domain/timestamping.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { buildQuery, parseTimeStampResp } from '../support/tsa-client.ts';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

describe('anonymous timestamp budget', () => {
  let svc: TestService;
  let n = 0;

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10', SIGLEDGER_TSA_ANONYMOUS_CLIENT_DAILY: '3', SIGLEDGER_TSA_ANONYMOUS_DAILY: '5' });
  });
  afterAll(async () => {
    await svc.stop();
  });

  /** POST /api/v1/timestamp from `localAddress` (a fresh query each time unless `body` is given). */
  const stamp = (localAddress: string, headers: Record<string, string> = {}, body: Buffer = buildQuery(Buffer.from(`budget ${n++}`), { certReq: true })) =>
    new Promise<Answer>((resolve, reject) => {
      const { hostname, port } = new URL(svc.url);
      const req = request({ host: hostname, port, localAddress, method: 'POST', path: '/api/v1/timestamp', headers: { 'content-type': 'application/timestamp-query', 'content-length': String(body.length), connection: 'close', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.once('error', reject);
      req.end(body);
    });
  const issued = async () => (await svc.ledger.store.readStream(TSA_STREAM)).filter((e) => e.type === 'TimestampIssued').length;
  /** Events appended after `position`, the log's own checkpoints (published in the background) aside. */
  const appendedSince = async (position: number) => (await svc.ledger.store.readAll({ after: position })).filter((e) => e.stream !== 'log');
  const problem = (a: Answer) => JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;

  describe('when one client uses up its daily budget', () => {
    it('grants its first 3 timestamps (a rejected query does not count), then refuses with 429 and Retry-After, appending nothing', async () => {
      const rejected = await stamp('127.0.0.2', {}, Buffer.from('not a query'));
      expect(rejected.status).toBe(200);
      expect(parseTimeStampResp(rejected.body).status).toBe(2);
      for (let i = 0; i < 3; i++) {
        const granted = await stamp('127.0.0.2');
        expect(granted.status).toBe(200);
        expect(parseTimeStampResp(granted.body).status).toBe(0);
      }
      const before = await svc.ledger.store.headPosition();
      const tokensBefore = await issued();
      const refused = await stamp('127.0.0.2');
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toBe('application/problem+json');
      expect(problem(refused)).toMatchObject({ code: 'rate_limited', reason: 'daily_client_quota', limit: 3 });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(86_400);
      expect(await issued()).toBe(tokensBefore);
      expect(await appendedSince(before)).toEqual([]);
    });
  });

  describe('when all anonymous clients together use up the daily total', () => {
    it('refuses another client too, while a caller with a token is still served (and recorded)', async () => {
      // 3 of the 5 are used by 127.0.0.2 above.
      expect((await stamp('127.0.0.3')).status).toBe(200);
      expect((await stamp('127.0.0.3')).status).toBe(200);
      const tokensBefore = await issued();
      const refused = await stamp('127.0.0.3');
      expect(refused.status).toBe(429);
      expect(problem(refused)).toMatchObject({ code: 'rate_limited', reason: 'daily_quota', limit: 5 });
      expect(await issued()).toBe(tokensBefore);

      const withToken = await stamp('127.0.0.3', await svc.tokens());
      expect(withToken.status).toBe(200);
      expect(parseTimeStampResp(withToken.body).status).toBe(0);
      expect(await issued()).toBe(tokensBefore + 1);
    });
  });
});
