/**
 * Audit replay (SPEC §2 "Audit"): the paged history and the SSE live tail against a real
 * in-process service, its authorization (ledger.audit or ledger.admin), strict parameter parsing
 * (seeded fast-check, like fuzz.int.spec.ts) and the release of store subscriptions.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditService } from '../../src/app/audit/audit-service.ts';
import { createAuthenticator } from '../../src/app/access/auth/authenticator.ts';
import { ensureDevIssuer } from '../../src/app/access/auth/dev-issuer.ts';
import { createLogger } from '../../src/app/common/logger.ts';
import { createMetrics } from '../../src/app/common/metrics.ts';
import { createApp } from '../../src/http/app.ts';
import type { EventStore, RecordedEvent } from '../../src/store/event-store.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { expectProblem } from '../support/problem.ts';

const SEED = 20261123;
const EVERYTHING = 1_000_000;

type Json = Record<string, any>;
interface Page {
  events: RecordedEvent[];
  next: number | null;
  head: number;
}
interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comments: string[];
}

async function waitFor<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads SSE blocks (messages and comment-only blocks) from a response body. */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next(): Promise<SseMessage | undefined> {
      for (;;) {
        const i = buffer.indexOf('\n\n');
        if (i >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const m: SseMessage = { comments: [] };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) m.comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) m.id = line.slice(4);
            else if (line.startsWith('event: ')) m.event = line.slice(7);
            else if (line.startsWith('data: ')) m.data = (m.data === undefined ? '' : `${m.data}\n`) + line.slice(6);
          }
          return m;
        }
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    /** The next message that carries an event (skips keep-alive comments). */
    async event(): Promise<{ id: string; event: string; data: RecordedEvent }> {
      for (;;) {
        const m = await this.next();
        if (!m) throw new Error('stream ended');
        if (m.data !== undefined) return { id: m.id!, event: m.event!, data: JSON.parse(m.data) as RecordedEvent };
      }
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

describe('audit', () => {
  let svc: TestService;
  let auditor: Record<string, string>;
  let admin: Record<string, string>;
  let signer: Record<string, string>;
  const bundles: string[] = [];

  const signPayload = async (text: string): Promise<string> => {
    const res = await svc.app.request('/api/v1/signer/sign/dsse', { method: 'POST', headers: { ...signer, 'content-type': 'application/json' }, body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') }) });
    expect(res.status).toBe(201);
    return ((await res.json()) as Json).bundleId as string;
  };
  const get = async (query: string, headers = auditor) => {
    const res = await svc.app.request(`/api/v1/audit/events${query}`, { headers });
    return { res, body: (await res.json()) as Json };
  };
  /** Follows `next` from after=0 until null. */
  const pageAll = async (query: string, limit: number) => {
    const events: RecordedEvent[] = [];
    let after = 0;
    let pages = 0;
    for (;;) {
      const { res, body } = await get(`?after=${after}&limit=${limit}${query}`);
      expect(res.status).toBe(200);
      const page = body as Page;
      pages++;
      events.push(...page.events);
      if (page.next === null) return { events, head: page.head, pages };
      expect(page.next).toBeGreaterThan(after);
      after = page.next;
    }
  };
  const history = async (head: number, filter?: Parameters<EventStore['readAll']>[0]) =>
    (await svc.ledger.store.readAll({ maxCount: EVERYTHING, ...filter })).filter((e) => e.position <= head);

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '5', SIGLEDGER_ROTATION_CRON: 'off' });
    auditor = await svc.tokens({ scopes: ['ledger.audit'], subject: 'auditor' });
    admin = await svc.tokens({ scopes: ['ledger.admin'] });
    signer = await svc.tokens();
    for (let i = 0; i < 4; i++) bundles.push(await signPayload(`audit ${i}`));
    bundles.push(...(await Promise.all([signPayload('audit concurrent a'), signPayload('audit concurrent b')])));
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
  });

  describe('when an auditor pages through the history', () => {
    it('returns every event exactly once, in position order, as the store records it', async () => {
      const { events, head, pages } = await pageAll('', 7);
      expect(pages).toBeGreaterThan(2);
      const positions = events.map((e) => e.position);
      expect(new Set(positions).size).toBe(positions.length);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      expect(events).toEqual(await history(head));
      expect(events.filter((e) => e.type === 'BundleSigned')).toHaveLength(bundles.length);
      for (const e of events) expect(Object.keys(e).sort()).toEqual(['data', 'hash', 'id', 'metadata', 'position', 'revision', 'stream', 'type']);
    });

    it('answers the admin scope too, with no-store caching', async () => {
      const { res, body } = await get('?limit=2', admin);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(body.events).toHaveLength(2);
      expect(body.next).toBe(body.events[1].position);
    });
  });

  describe('when the page reaches the head', () => {
    it('answers next null with the head position, also after the head', async () => {
      const head = await svc.ledger.store.headPosition();
      for (const after of [head, head + 1000]) {
        const { res, body } = await get(`?after=${after}`);
        expect(res.status).toBe(200);
        expect(body.events).toEqual([]);
        expect(body.next).toBeNull();
        expect(body.head).toBeGreaterThanOrEqual(head);
      }
      const last = await history(head);
      const { body } = await get(`?after=${last[last.length - 3]!.position}&limit=1000`);
      expect(body.next).toBeNull();
      expect(body.events.map((e: RecordedEvent) => e.position)).toEqual(
        (await history(body.head as number)).map((e) => e.position).filter((p) => p > last[last.length - 3]!.position),
      );
    });
  });

  describe('when filtering by type', () => {
    it('returns only those types, repeated or comma-separated, as the store filters them', async () => {
      const one = await pageAll('&type=BundleSigned', 1000);
      expect(one.events).toHaveLength(bundles.length);
      expect(one.events).toEqual(await history(one.head, { filter: { types: ['BundleSigned'] } }));
      const types = ['BundleSigned', 'KeyActivated', 'AnchorsPublished'];
      const comma = await pageAll(`&type=${types.join(',')}`, 1000);
      const repeated = await pageAll(types.map((t) => `&type=${t}`).join(''), 1000);
      const expected = await history(Math.min(comma.head, repeated.head), { filter: { types } });
      expect(comma.events.filter((e) => e.position <= expected.at(-1)!.position)).toEqual(expected);
      expect(repeated.events.filter((e) => e.position <= expected.at(-1)!.position)).toEqual(expected);
      expect(new Set(expected.map((e) => e.type))).toEqual(new Set(types));
    });
  });

  describe('when filtering by stream', () => {
    it('returns one exact stream, or the streams of a prefix ending in *', async () => {
      const exact = await pageAll(`&stream=bundle-${bundles[0]}`, 10);
      expect(exact.events).toEqual(await svc.ledger.store.readStream(`bundle-${bundles[0]}`));
      const prefix = await pageAll('&stream=bundle-*', 1000);
      expect(prefix.events).toEqual(await history(prefix.head, { filter: { streamPrefixes: ['bundle-'] } }));
      expect(prefix.events).toHaveLength(bundles.length);
      const both = await pageAll(`&stream=bundle-${bundles[1]}&stream=bundle-${bundles[2]}&type=BundleSigned`, 1000);
      expect(both.events.map((e) => e.stream).sort()).toEqual([`bundle-${bundles[1]}`, `bundle-${bundles[2]}`].sort());
      expect(both.events[0]!.position).toBeLessThan(both.events[1]!.position);
      expect((await pageAll('&stream=bundle-&type=BundleSigned', 1000)).events).toEqual([]); // exact name, no such stream
    });
  });

  describe('when a filter matches rarely', () => {
    it('scans at most 10 × limit events per request and returns next to continue', async () => {
      const first = await svc.ledger.store.readAll({ maxCount: 30 });
      const { body } = await get('?type=NoSuchType&limit=1');
      expect(body.events).toEqual([]);
      expect(body.next).toBe(first[9]!.position);
      const { body: second } = await get(`?type=NoSuchType&limit=2&after=${body.next}`);
      expect(second.next).toBe(first[29]!.position); // 10 × 2 more
      const walk = await pageAll('&type=NoSuchType', 1);
      const total = (await history(walk.head)).length;
      expect(walk.events).toEqual([]);
      expect(walk.pages).toBe(Math.ceil(total / 10));
    });
  });

  describe('when the caller lacks the audit or admin scope', () => {
    it('answers 401 without a token and 403 missing_scope with a signer token, on both routes', async () => {
      for (const path of ['/api/v1/audit/events', '/api/v1/audit/events/stream']) {
        const anonymous = await svc.app.request(path);
        await expectProblem(anonymous, 401, 'unauthenticated', { reason: 'missing_token' });
        const res = await svc.app.request(path, { headers: signer });
        await expectProblem(res, 403, 'forbidden', { reason: 'missing_scope', requiredScope: 'ledger.audit' });
      }
      const noPoe = await svc.app.request('/api/v1/audit/events', { headers: { authorization: auditor.authorization! } });
      expect(noPoe.status).toBe(403);
      expect(await noPoe.json()).toMatchObject({ reason: 'missing_poe' });
    });
  });

  describe('when parameters are malformed', () => {
    const cases = [
      'after=-1', 'after=1.5', 'after=1e3', 'after=0x10', 'after=01', 'after=9007199254740992', 'after=%201', 'after=', 'after=1&after=2',
      'limit=0', 'limit=1001', 'limit=abc', 'limit=', 'limit=-5', 'limit=10&limit=20',
      'type=', 'type=a,,b', 'type=1abc', 'type=a%20b', `type=${'a'.repeat(129)}`, 'type=%00', `type=${Array.from({ length: 65 }, (_, i) => `T${i}`).join(',')}`,
      'stream=', 'stream=*', 'stream=%24all', 'stream=a%00b', `stream=${'s'.repeat(257)}`,
      'unknown=1', 'types=BundleSigned',
    ];
    it('answers 400 bad_request problem+json naming the reason', async () => {
      for (const q of cases) {
        const res = await svc.app.request(`/api/v1/audit/events?${q}`, { headers: auditor });
        const p = await expectProblem(res, 400, 'bad_request');
        expect(p.reason, q).toMatch(/^(invalid_(after|limit|type|stream)|unknown_parameter|repeated_parameter|too_many_selectors)$/);
      }
      for (const [q, h] of [['limit=5', {}], ['after=x', {}], ['', { 'last-event-id': '-1' }], ['', { 'last-event-id': '1e3' }]] as const) {
        const res = await svc.app.request(`/api/v1/audit/events/stream?${q}`, { headers: { ...auditor, ...h } });
        expect(res.status, q).toBe(400);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(((await res.json()) as Json).reason).toMatch(/^(unknown_parameter|invalid_after|invalid_event_id)$/);
      }
    });

    const hostile = fc.oneof(
      fc.nat().map(String),
      fc.integer({ min: 1, max: 1000 }).map(String),
      fc.integer().map(String),
      fc.constantFrom('', '-0', '1e3', '0x10', '9007199254740991', '9007199254740992', '99999999999999999999', ' 1', '1 ', '١', 'NaN', '00', '1000', '1001', 'BundleSigned', 'a,b', 'bundle-*', '*', '$x', '%00'),
      fc.string({ maxLength: 12 }),
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9._:-]{0,8}(,[A-Za-z][A-Za-z0-9._:-]{0,8}){0,3}$/),
    );
    const canonical = (v: string, min: number, max: number) => /^-?\d+$/.test(v) && String(Number(v)) === v && Number(v) >= min && Number(v) <= max;
    it('answers arbitrary after/limit/type values with 200 exactly when well formed, else 400 problem+json (seeded)', async () => {
      const name = fc.constantFrom('after', 'limit', 'type', 'other');
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(name, hostile), { maxLength: 4 }), async (params) => {
          const q = params.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&');
          const res = await svc.app.request(`/api/v1/audit/events?${q}`, { headers: auditor });
          const count = (n: string) => params.filter(([k]) => k === n).length;
          const valid = params.every(([n, v]) =>
            n === 'after' ? canonical(v, 0, Number.MAX_SAFE_INTEGER) && count('after') === 1
            : n === 'limit' ? canonical(v, 1, 1000) && count('limit') === 1
            : n === 'type' ? v.split(',').every((t) => /^[A-Za-z][A-Za-z0-9._:-]{0,127}$/.test(t))
            : false,
          );
          const text = await res.text();
          expect(res.status).toBe(valid ? 200 : 400);
          if (res.status === 400) {
            expect(res.headers.get('content-type')).toBe('application/problem+json');
            expect(JSON.parse(text)).toMatchObject({ code: 'bad_request' });
          } else {
            const page = JSON.parse(text) as Page;
            expect(Array.isArray(page.events)).toBe(true);
            expect(page.next === null || Number.isSafeInteger(page.next)).toBe(true);
          }
        }),
        { seed: SEED, numRuns: 300 },
      );
    });

    it('answers arbitrary stream selectors and Last-Event-IDs with 200 or 400 problem+json, never 5xx (seeded)', async () => {
      const values = fc.oneof(hostile, fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 8 }));
      await fc.assert(
        fc.asyncProperty(values, fc.string({ maxLength: 20 }).filter((x) => !/[\r\n\0]/.test(x) && x === x.trim() && /^[\x20-\x7e]*$/.test(x)), async (stream, lastEventId) => {
          const page = await svc.app.request(`/api/v1/audit/events?stream=${encodeURIComponent(stream)}&limit=3`, { headers: auditor });
          expect([200, 400]).toContain(page.status);
          if (page.status === 400) expect(page.headers.get('content-type')).toBe('application/problem+json');
          await page.arrayBuffer();
          const tail = await svc.app.request('/api/v1/audit/events/stream', { headers: { ...auditor, 'last-event-id': lastEventId } });
          expect([200, 400]).toContain(tail.status);
          if (tail.status === 200) expect(tail.headers.get('content-type')).toContain('text/event-stream');
          else expect(tail.headers.get('content-type')).toBe('application/problem+json');
          await tail.body?.cancel().catch(() => {});
        }),
        { seed: SEED, numRuns: 150 },
      );
      await waitFor(() => svc.internals.audit.liveTails(), (n) => n === 0);
      expect(svc.internals.audit.liveTails()).toBe(0);
    });
  });

  describe('when a client follows the live tail and reconnects', () => {
    it('delivers events appended after connecting, and Last-Event-ID resumes without gaps or duplicates', async () => {
      const start = await svc.ledger.store.headPosition();
      const ac = new AbortController();
      const res = await fetch(`${svc.url}/api/v1/audit/events/stream?after=${start}`, { headers: auditor, signal: ac.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const sse = sseReader(res);
      const signed = [await signPayload('tail 1'), await signPayload('tail 2')];
      const seen: RecordedEvent[] = [];
      const waiting = new Set(signed.map((b) => `bundle-${b}`));
      while (waiting.size > 0) {
        const m = await sse.event();
        expect(m.id).toBe(String(m.data.position));
        expect(m.event).toBe(m.data.type);
        seen.push(m.data);
        if (m.data.type === 'BundleSigned') waiting.delete(m.data.stream);
      }
      expect(seen[0]!.position).toBeGreaterThan(start);
      const lastId = seen.at(-1)!.position;
      ac.abort();
      await waitFor(() => svc.internals.audit.liveTails(), (n) => n === 0);
      expect(svc.internals.audit.liveTails()).toBe(0);

      const later = await signPayload('tail 3');
      const head = await svc.ledger.store.headPosition();
      // Last-Event-ID wins over after=0.
      const ac2 = new AbortController();
      const res2 = await fetch(`${svc.url}/api/v1/audit/events/stream?after=0`, { headers: { ...auditor, 'last-event-id': String(lastId) }, signal: ac2.signal });
      expect(res2.status).toBe(200);
      const sse2 = sseReader(res2);
      for (;;) {
        const m = await sse2.event();
        if (m.data.position > head) break;
        seen.push(m.data);
        if (m.data.position === head) break;
      }
      ac2.abort();
      expect(seen.map((e) => e.position)).toEqual((await history(head, { after: start })).map((e) => e.position));
      expect(seen).toEqual(await history(head, { after: start }));
      expect(seen.some((e) => e.stream === `bundle-${later}` && e.type === 'BundleSigned')).toBe(true);
      await waitFor(() => svc.internals.audit.liveTails(), (n) => n === 0);
    });

    it('filters the tail by type', async () => {
      const start = await svc.ledger.store.headPosition();
      const ac = new AbortController();
      const res = await fetch(`${svc.url}/api/v1/audit/events/stream?after=${start}&type=BundleSigned`, { headers: auditor, signal: ac.signal });
      const sse = sseReader(res);
      const ids = [await signPayload('typed 1'), await signPayload('typed 2')];
      const got = [await sse.event(), await sse.event()];
      ac.abort();
      expect(got.map((m) => m.event)).toEqual(['BundleSigned', 'BundleSigned']);
      expect(got.map((m) => m.data.stream)).toEqual(ids.map((b) => `bundle-${b}`));
      await waitFor(() => svc.internals.audit.liveTails(), (n) => n === 0);
    });
  });

  describe('when a client aborts the tail', () => {
    it('releases the store subscription; the service keeps answering', async () => {
      const ac = new AbortController();
      const res = await fetch(`${svc.url}/api/v1/audit/events/stream?after=0`, { headers: admin, signal: ac.signal });
      const sse = sseReader(res);
      await sse.event();
      expect(svc.internals.audit.liveTails()).toBe(1);
      ac.abort();
      expect(await waitFor(() => svc.internals.audit.liveTails(), (n) => n === 0)).toBe(0);
      await signPayload('after abort');
      // HEAD is answered by the GET handler with its body dropped: it must not open a tail.
      const head = await svc.app.request('/api/v1/audit/events/stream', { method: 'HEAD', headers: admin });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toContain('text/event-stream');
      expect(svc.internals.audit.liveTails()).toBe(0);
      const { res: page } = await get('?limit=1');
      expect(page.status).toBe(200);
    });
  });

  describe('when tails are driven in-process with a counting store', () => {
    it('sends keep-alives while idle, refuses tails beyond the bound with 429, and ends each store subscription on cancel', async () => {
      const base = svc.ledger.store;
      let open = 0;
      const store: EventStore = {
        kind: base.kind,
        appendToStream: (s, e, o) => base.appendToStream(s, e, o),
        readStream: (s, o) => base.readStream(s, o),
        readAll: (o) => base.readAll(o),
        subscribeToAll: (o) =>
          (async function* () {
            open++;
            try {
              yield* base.subscribeToAll(o);
            } finally {
              open--;
            }
          })(),
        headPosition: () => base.headPosition(),
        ping: () => base.ping(),
        close: async () => {},
      };
      const audit = new AuditService({ store, maxTails: 1 });
      const auth = createAuthenticator((await ensureDevIssuer(svc.dataDir, { create: false })).authenticatorOptions());
      const app = createApp({ ledger: svc.ledger, metrics: createMetrics(), logger: createLogger('silent'), version: 'test', audit: { audit, auth, keepAliveMs: 20 } });
      const head = await base.headPosition();

      const res = await app.request(`/api/v1/audit/events/stream?after=${head}`, { headers: auditor });
      expect(res.status).toBe(200);
      const sse = sseReader(res);
      // Idle: keep-alive comments (events a background checkpoint may append are skipped).
      let m = await sse.next();
      while (m && m.data !== undefined) m = await sse.next();
      expect(m?.comments).toEqual(['keep-alive']);
      expect(open).toBe(1);
      expect(audit.liveTails()).toBe(1);

      const refused = await app.request('/api/v1/audit/events/stream', { headers: auditor });
      expect(refused.status).toBe(429);
      expect(await refused.json()).toMatchObject({ code: 'concurrency_limited', reason: 'too_many_tails' });

      await sse.cancel();
      expect(await waitFor(() => open, (n) => n === 0)).toBe(0);
      expect(audit.liveTails()).toBe(0);

      const again = await app.request(`/api/v1/audit/events/stream?after=${head}`, { headers: auditor });
      expect(again.status).toBe(200);
      await again.body!.cancel();
      expect(await waitFor(() => open, (n) => n === 0)).toBe(0);

      audit.stop();
      const stopped = await app.request('/api/v1/audit/events/stream', { headers: auditor });
      expect(stopped.status).toBe(503);
      await stopped.arrayBuffer();
    });
  });
});

describe('audit tails at shutdown', () => {
  describe('when the service stops while a tail is open', () => {
    it('ends the tail and does not wait for the drain timeout', async () => {
      const svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_SHUTDOWN_TIMEOUT_MS: '20000' });
      const auditor = await svc.tokens({ scopes: ['ledger.audit'] });
      const res = await fetch(`${svc.url}/api/v1/audit/events/stream`, { headers: auditor });
      const sse = sseReader(res);
      await sse.event();
      const started = Date.now();
      await svc.stop();
      expect(Date.now() - started).toBeLessThan(2000);
      for (;;) {
        const m = await sse.next().catch(() => undefined);
        if (!m) break;
      }
    });
  });
});
