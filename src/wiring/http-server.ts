/**
 * The HTTP listener of `serve`, bound before anything else happens: a port that is in use is
 * refused before a data directory is initialised, and there is no window between "the port was
 * free" and "we listen on it". Requests that arrive while the service is still starting (opening
 * stores, folding projections) are answered at once with 503 `not_ready` and `Retry-After`: a
 * start-up can take long or fail, and a request must never wait on it without a deadline.
 *
 * Read deadlines: a client has `headersTimeoutMs` to send its headers and `requestTimeoutMs` for
 * the whole request (Node's `server.headersTimeout` / `server.requestTimeout`, checked every
 * `connectionsCheckingInterval`); each request's body has `bodyTimeoutMs` once a route starts
 * reading it (src/http/body.ts). Past a deadline the client gets 408 `request_timeout`
 * (problem+json) and its connection is closed.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { serve, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { ConfigError, LedgerError } from '../errors.ts';
import { DEFAULT_BODY_TIMEOUT_MS, setBodyTimeout } from '../http/body.ts';
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

export interface HttpListenerOptions {
  /** Time to receive a request's headers (ms; default 10 s). */
  readonly headersTimeoutMs?: number;
  /** Time to receive a whole request, headers and body (ms; default 60 s; not less than headersTimeoutMs). */
  readonly requestTimeoutMs?: number;
  /** Time a route waits for a body it reads (ms; default DEFAULT_BODY_TIMEOUT_MS). */
  readonly bodyTimeoutMs?: number;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** How long an aborted start waits for connections to end before it destroys them. */
const ABORT_GRACE_MS = 500;
/** What a client is told to wait before it tries again while the service starts. */
const STARTING_RETRY_AFTER_SECONDS = 1;

const notReady = (detail: string, retry: boolean): Response =>
  new Response(JSON.stringify(problemOf(new LedgerError('not_ready', detail))), {
    status: 503,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', connection: 'close', ...(retry ? { 'retry-after': String(STARTING_RETRY_AFTER_SECONDS) } : {}) },
  });

/** Raw answers for what the HTTP parser refuses before any route sees the request. */
const RAW_BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const RAW_HEADERS_TOO_LARGE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';

function rawRequestTimeout(): string {
  const body = JSON.stringify(problemOf(new LedgerError('request_timeout', 'the request did not arrive completely in time', { reason: 'request_timeout' })));
  return `HTTP/1.1 408 Request Timeout\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** Node's own clientError answers, except that a timed-out request gets problem+json 408. */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (socket.writable && socket.bytesWritten === 0 && err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
    socket.write(err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? rawRequestTimeout() : err.code === 'HPE_HEADER_OVERFLOW' ? RAW_HEADERS_TOO_LARGE : RAW_BAD_REQUEST);
    socket.end();
  }
  socket.destroySoon();
}

function timeoutOf(value: number | undefined, fallback: number, name: string): number {
  const ms = value ?? fallback;
  if (!Number.isSafeInteger(ms) || ms < 1) throw new ConfigError(`${name} must be a positive number of milliseconds`);
  return ms;
}

export async function bindHttp(host: string, port: number, options: HttpListenerOptions = {}): Promise<HttpListener> {
  const headersTimeout = timeoutOf(options.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS, 'the headers timeout');
  const requestTimeout = timeoutOf(options.requestTimeoutMs, Math.max(DEFAULT_REQUEST_TIMEOUT_MS, headersTimeout), 'the request timeout');
  const bodyTimeout = timeoutOf(options.bodyTimeoutMs, DEFAULT_BODY_TIMEOUT_MS, 'the body timeout');
  if (headersTimeout > requestTimeout) throw new ConfigError('the headers timeout must not be longer than the request timeout');
  let handler: Handler | undefined;
  let failed = false;
  const fetch = (request: Request, env: Bindings): Response | Promise<Response> => {
    const incoming = (env as { incoming?: IncomingMessage }).incoming;
    if (incoming) setBodyTimeout(incoming, bodyTimeout);
    if (handler) return handler(request, env);
    return failed ? notReady('the service failed to start', false) : notReady('the service is starting', true);
  };
  // Node checks the deadlines every connectionsCheckingInterval (default 30 s): often enough for short ones.
  const serverOptions = { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 4))) };

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch, port, hostname: host, serverOptions }, () => resolve(s as Server)) as Server;
    s.on('clientError', onClientError);
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
