/**
 * The HTTP listener of `serve`, bound before anything else happens: a port that is in use is
 * refused before a data directory is initialised, and there is no window between "the port was
 * free" and "we listen on it". Requests that arrive while the service is still starting (opening
 * stores, folding projections) are answered at once with 503 `not_ready` and `Retry-After`: a
 * start-up can take long or fail, and a request must never wait on it without a deadline.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { ConfigError, LedgerError } from '../errors.ts';
import { PROBLEM_CONTENT_TYPE, problemOf } from '../http/problem.ts';

/** The Node request and response ride along as Hono's `env` (the body reader uses them). */
type Bindings = HttpBindings | Http2Bindings;
type Handler = (request: Request, env: Bindings) => Response | Promise<Response>;

export interface HttpListener {
  /** `http://host:port` as bound (the real port when 0 was asked for). */
  readonly url: string;
  /** Starts answering with `handler` (until then every request gets 503 `not_ready`). */
  attach(handler: Handler): void;
  /**
   * Start-up failed: stop accepting and release the port. Requests in flight get their 503;
   * connections still open after a short grace (a client sending half a request) are destroyed,
   * so a failed start never waits on a client.
   */
  abort(): Promise<void>;
  /**
   * Graceful close: stop accepting, let in-flight requests end, close idle keep-alive
   * connections as they go idle, and force the rest closed after `timeoutMs`.
   */
  drain(timeoutMs: number, onTimeout: () => void): Promise<void>;
}

/** How long an aborted start waits for connections to end before it destroys them. */
const ABORT_GRACE_MS = 500;
/** What a client is told to wait before it tries again while the service starts. */
const STARTING_RETRY_AFTER_SECONDS = 1;

const notReady = (detail: string, retry: boolean): Response =>
  new Response(JSON.stringify(problemOf(new LedgerError('not_ready', detail))), {
    status: 503,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', connection: 'close', ...(retry ? { 'retry-after': String(STARTING_RETRY_AFTER_SECONDS) } : {}) },
  });

export async function bindHttp(host: string, port: number): Promise<HttpListener> {
  let handler: Handler | undefined;
  let failed = false;
  const fetch = (request: Request, env: Bindings): Response | Promise<Response> => {
    if (handler) return handler(request, env);
    return failed ? notReady('the service failed to start', false) : notReady('the service is starting', true);
  };

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch, port, hostname: host }, () => resolve(s as Server)) as Server;
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`port ${port} on ${host} is already in use`));
      else if (err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') reject(new ConfigError(`cannot listen on ${host}:${port} (${err.code})`));
      else reject(new LedgerError('internal', `cannot listen (${err.code ?? 'error'})`));
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const closed = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    url: `http://${shown}:${address.port}`,
    attach(next) {
      handler = next;
    },
    async abort() {
      failed = true;
      const done = closed();
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), ABORT_GRACE_MS);
      await done;
      clearTimeout(force);
    },
    async drain(timeoutMs, onTimeout) {
      const timer = setTimeout(() => {
        onTimeout();
        server.closeAllConnections();
      }, timeoutMs);
      // A keep-alive connection whose response ends during the drain (an ended SSE tail) is closed once idle.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      const done = closed();
      server.closeIdleConnections();
      await done;
      clearTimeout(timer);
      clearInterval(sweep);
    },
  };
}
