/**
 * Bounds on server-sent event streams (the anchors stream and the audit tail): at most
 * `maxStreams` open at once on the instance and `maxPerClient` per client (src/http/client-address.ts:
 * the peer address, IPv6 per /64). Over a cap a stream is refused before anything is subscribed:
 * 429 `concurrency_limited` with `reason` `too_many_streams` (the instance) or
 * `too_many_client_streams` (this client) and a Retry-After. An open stream ends after
 * `maxLifetimeMs` (the client resumes with Last-Event-ID), and one whose client does not take a
 * message within `stallTimeoutMs` is closed with its connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { SSEStreamingApi } from 'hono/streaming';
import { LedgerError } from '../errors.ts';
import { clientOf } from './client-address.ts';

export interface StreamLimits {
  readonly maxStreams: number;
  readonly maxPerClient: number;
  readonly maxLifetimeMs: number;
  readonly stallTimeoutMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxStreams: 1_000, maxPerClient: 8, maxLifetimeMs: 3_600_000, stallTimeoutMs: 30_000 };

/** What a refused client is told to wait before it tries again. */
const RETRY_AFTER_SECONDS = 5;

/** One admitted stream: hand it the SSE stream once it exists; release when it ends (idempotent). */
export interface StreamLease {
  /** Starts the lifetime timer on `stream` (ended with `abort()`, so the route's onAbort runs). */
  attach(stream: SSEStreamingApi): void;
  /** Runs one write; false when it did not complete within the stall timeout (the connection is then closed). */
  write(write: () => Promise<unknown>): Promise<boolean>;
  release(): void;
}

export class StreamLimiter {
  private open = 0;
  private readonly perClient = new Map<string, number>();

  constructor(readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS) {}

  /** Streams open now, all clients. */
  get size(): number {
    return this.open;
  }

  /** Admits one stream for the request's client, or throws concurrency_limited (429). */
  acquire(c: Context): StreamLease {
    const client = clientOf(c);
    const held = this.perClient.get(client) ?? 0;
    if (this.open >= this.limits.maxStreams) {
      throw new LedgerError('concurrency_limited', `at most ${this.limits.maxStreams} event streams may be open at once`, { reason: 'too_many_streams', limit: this.limits.maxStreams, retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
    if (held >= this.limits.maxPerClient) {
      throw new LedgerError('concurrency_limited', `at most ${this.limits.maxPerClient} event streams may be open at once per client`, { reason: 'too_many_client_streams', limit: this.limits.maxPerClient, retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
    this.open++;
    this.perClient.set(client, held + 1);
    const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket;
    let released = false;
    let lifetime: NodeJS.Timeout | undefined;
    let current: SSEStreamingApi | undefined;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(lifetime);
      this.open--;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left <= 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
    };
    const { maxLifetimeMs, stallTimeoutMs } = this.limits;
    return {
      attach(stream) {
        current = stream;
        stream.onAbort(release);
        lifetime = setTimeout(() => stream.abort(), maxLifetimeMs);
        lifetime.unref();
      },
      async write(write) {
        let timer: NodeJS.Timeout | undefined;
        const stalled = new Promise<'stalled'>((resolve) => {
          timer = setTimeout(() => resolve('stalled'), stallTimeoutMs);
        });
        try {
          const done = await Promise.race([write().then(() => 'written' as const), stalled]);
          if (done === 'written') return true;
          // The client does not read: end the stream and drop its connection (its buffers too).
          current?.abort();
          socket?.destroy();
          release();
          return false;
        } finally {
          clearTimeout(timer);
        }
      },
      release,
    };
  }
}
