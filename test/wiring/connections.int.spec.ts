/**
 * Slow and hostile connections against the real listener (src/wiring/http-server.ts, started by
 * the real service): raw sockets that send headers and a few body bytes, then nothing. Deadlines
 * are short here (1–2 s) and every assertion waits for an event (an answer, a close) with a
 * generous test timeout, so a busy machine makes the tests slower, never wrong.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CeremonyProposal } from '../../src/domain/ceremony.ts';
import { devApproval } from '../support/approvers.ts';
import { expectProblem } from '../support/problem.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { buildQuery } from '../support/tsa-client.ts';

const SLOW = 20; // more than the 16 approval and anonymous-timestamp slots

interface RawConnection {
  readonly socket: Socket;
  /** Everything the server sent, once it closed the connection. */
  readonly closed: Promise<string>;
}

function rawConnection(url: string, head: string, body: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(head + body);
      resolve({ socket, closed });
    });
    let text = '';
    socket.on('data', (d) => (text += d));
    const closed = new Promise<string>((done) => socket.once('close', () => done(text)));
    socket.once('error', reject);
  });
}

/** Headers of a POST declaring `length` body bytes. */
const postHead = (path: string, type: string, length: number) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`;

describe('slow connections (real listener)', () => {
  let svc: TestService;
  const held: Socket[] = [];

  beforeAll(async () => {
    svc = await startTestService({
      SIGLEDGER_ROTATION_CRON: 'off',
      SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10',
      SIGLEDGER_BODY_TIMEOUT_MS: '1500',
      SIGLEDGER_HEADERS_TIMEOUT_MS: '1500',
      SIGLEDGER_REQUEST_TIMEOUT_MS: '20000',
      SIGLEDGER_SSE_MAX_STREAMS_PER_CLIENT: '2',
    });
  });
  afterAll(async () => {
    for (const s of held.splice(0)) s.destroy();
    await svc.stop();
  });

  /** A full round trip on a new connection: the server has read what earlier connections sent. */
  const roundTrip = async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${svc.url}/healthz`, { headers: { connection: 'close' } })).status).toBe(200);
  };

  describe('when 20 connections hold partial approval and timestamp bodies', () => {
    it('still serves a genuine approval and an anonymous timestamp, then answers each slow one 408 request_timeout and closes it', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      const opened = await fetch(`${svc.url}/api/v1/ceremonies`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ action: { type: 'update-anchors' }, reason: 'slow connections' }),
      });
      expect(opened.status).toBe(201);
      const { ceremonyId, proposal } = (await opened.json()) as { ceremonyId: string; proposal: CeremonyProposal };

      const slow = await Promise.all([
        ...Array.from({ length: SLOW }, () => rawConnection(svc.url, postHead(`/api/v1/ceremonies/${ceremonyId}/approvals`, 'application/json', 200), '{"a')),
        ...Array.from({ length: SLOW }, () => rawConnection(svc.url, postHead('/api/v1/timestamp', 'application/timestamp-query', 200), '\x30\x82\x00')),
      ]);
      held.push(...slow.map((c) => c.socket));
      await roundTrip();

      const approval = await fetch(`${svc.url}/api/v1/ceremonies/${ceremonyId}/approvals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(devApproval(svc.dataDir, 1, proposal)) });
      expect(approval.status, await approval.clone().text()).toBe(200);
      const stamp = await fetch(`${svc.url}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: buildQuery(Buffer.from('while others hang'), { certReq: true }) });
      expect(stamp.status).toBe(200);
      expect(stamp.headers.get('content-type')).toBe('application/timestamp-reply');

      // Past the body deadline every slow request is answered and its connection closed.
      const answers = await Promise.all(slow.map((c) => c.closed));
      for (const text of answers) {
        expect(text).toMatch(/^HTTP\/1\.1 408 /);
        expect(text.toLowerCase()).toContain('content-type: application/problem+json');
        expect(text).toContain('"code":"request_timeout"');
        expect(text).toContain('"reason":"body_timeout"');
      }
    }, 60_000);
  });

  describe('when a client never finishes its headers', () => {
    it('answers 408 request_timeout as problem+json and closes the connection', async () => {
      const c = await rawConnection(svc.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'a');
      held.push(c.socket);
      const text = await c.closed;
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      expect(text).toContain('"code":"request_timeout"');
    }, 60_000);
  });

  describe('when one client opens more SSE streams than it may', () => {
    it('refuses the one over the cap with 429 concurrency_limited, and admits a stream again once one closes', async () => {
      const open = async () => {
        const ac = new AbortController();
        const res = await fetch(`${svc.url}/api/v1/trust/anchors/stream`, { signal: ac.signal });
        return { res, close: () => ac.abort() };
      };
      const first = await open();
      const second = await open();
      expect([first.res.status, second.res.status]).toEqual([200, 200]);
      const third = await open();
      await expectProblem(third.res, 429, 'concurrency_limited', { reason: 'too_many_client_streams', limit: 2 });
      expect(third.res.headers.get('retry-after')).toBe('5');
      // The audit tail counts against the same caps.
      const auditor = await svc.tokens({ scopes: ['ledger.audit'] });
      await expectProblem(await fetch(`${svc.url}/api/v1/audit/events/stream`, { headers: auditor }), 429, 'concurrency_limited', { reason: 'too_many_client_streams' });

      first.close();
      // The server frees the place when it sees the close: wait for it, without a fixed delay.
      let again: Awaited<ReturnType<typeof open>> | undefined;
      for (let i = 0; i < 100 && again?.res.status !== 200; i++) {
        if (again) await again.res.body?.cancel().catch(() => {});
        again = await open();
        if (again.res.status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(again!.res.status).toBe(200);
      again!.close();
      second.close();
    }, 60_000);
  });
});
