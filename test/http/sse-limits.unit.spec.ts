import type { Context } from 'hono';
import type { SSEStreamingApi } from 'hono/streaming';
import { describe, expect, it } from 'vitest';
import { LedgerError } from '../../src/errors.ts';
import { StreamLimiter } from '../../src/http/sse-limits.ts';

const from = (remoteAddress: string) => ({ env: { incoming: { socket: { remoteAddress, destroy() {} } } } }) as unknown as Context;

function refusal(f: () => unknown): LedgerError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(LedgerError);
    return e as LedgerError;
  }
  throw new Error('expected a refusal');
}

/** The part of an SSE stream the limiter uses: onAbort subscribers and abort(). */
function fakeStream() {
  const subscribers: (() => void)[] = [];
  let aborted!: () => void;
  const abortedOnce = new Promise<void>((resolve) => (aborted = resolve));
  const stream = {
    onAbort: (f: () => void) => subscribers.push(f),
    abort: () => {
      subscribers.forEach((f) => f());
      aborted();
    },
  };
  return { stream: stream as unknown as SSEStreamingApi, abortedOnce };
}

const limits = { maxStreams: 3, maxPerClient: 2, maxLifetimeMs: 60_000, stallTimeoutMs: 60_000 };

describe('StreamLimiter', () => {
  describe('when one client opens more streams than it may', () => {
    it('refuses it with 429 too_many_client_streams and admits it again once one ends', () => {
      const l = new StreamLimiter(limits);
      const a = l.acquire(from('192.0.2.1'));
      l.acquire(from('192.0.2.1'));
      const err = refusal(() => l.acquire(from('192.0.2.1')));
      expect(err.code).toBe('concurrency_limited');
      expect(err.details).toMatchObject({ reason: 'too_many_client_streams', limit: 2, retryAfterSeconds: 5 });
      a.release();
      a.release(); // idempotent
      l.acquire(from('192.0.2.1'));
      expect(l.size).toBe(2);
    });

    it('counts the addresses of one IPv6 /64 as one client', () => {
      const l = new StreamLimiter(limits);
      l.acquire(from('2001:db8::1'));
      l.acquire(from('2001:db8::2'));
      expect(refusal(() => l.acquire(from('2001:db8::3'))).details).toMatchObject({ reason: 'too_many_client_streams' });
    });
  });

  describe('when all clients together reach the instance cap', () => {
    it('refuses every further stream with 429 too_many_streams', () => {
      const l = new StreamLimiter(limits);
      l.acquire(from('192.0.2.1'));
      l.acquire(from('192.0.2.2'));
      l.acquire(from('192.0.2.3'));
      expect(refusal(() => l.acquire(from('192.0.2.4'))).details).toMatchObject({ reason: 'too_many_streams', limit: 3 });
    });
  });

  describe('when a stream lives past its lifetime', () => {
    it('aborts it and frees its place', async () => {
      const l = new StreamLimiter({ ...limits, maxLifetimeMs: 50 });
      const lease = l.acquire(from('192.0.2.1'));
      const { stream, abortedOnce } = fakeStream();
      lease.attach(stream);
      await abortedOnce;
      expect(l.size).toBe(0);
    });
  });

  describe('when a client does not take a message', () => {
    it('answers false for the stalled write, aborts the stream and frees its place', async () => {
      const l = new StreamLimiter({ ...limits, stallTimeoutMs: 50 });
      const lease = l.acquire(from('192.0.2.1'));
      const { stream, abortedOnce } = fakeStream();
      lease.attach(stream);
      expect(await lease.write(() => Promise.resolve())).toBe(true);
      expect(await lease.write(() => new Promise(() => {}))).toBe(false);
      await abortedOnce;
      expect(l.size).toBe(0);
    });
  });
});
