/**
 * The HTTP listener of `serve`, bound before anything else happens: a port that is in use is
 * refused before a data directory is initialised, and there is no window between "the port was
 * free" and "we listen on it". Requests that arrive while the service is still starting wait for
 * it (as they would in the kernel's accept queue) and are answered once the app is attached.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { ConfigError, LedgerError } from '../errors.ts';

/** The Node request and response ride along as Hono's `env` (the body reader uses them). */
type Bindings = HttpBindings | Http2Bindings;
type Handler = (request: Request, env: Bindings) => Response | Promise<Response>;

export interface HttpListener {
  /** `http://host:port` as bound (the real port when 0 was asked for). */
  readonly url: string;
  /** Starts answering with `handler`; requests that arrived before it are released to it. */
  attach(handler: Handler): void;
  /** Start-up failed: waiting requests get 503 and the port is released. */
  abort(): Promise<void>;
  /**
   * Graceful close: stop accepting, let in-flight requests end, close idle keep-alive
   * connections as they go idle, and force the rest closed after `timeoutMs`.
   */
  drain(timeoutMs: number, onTimeout: () => void): Promise<void>;
}

const notStarted = () => new Response(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the service did not start' }), { status: 503, headers: { 'content-type': 'application/problem+json' } });

export async function bindHttp(host: string, port: number): Promise<HttpListener> {
  let handler: Handler | undefined;
  let failed = false;
  const waiting: (() => void)[] = [];
  const release = () => waiting.splice(0).forEach((go) => go());
  const fetch = async (request: Request, env: Bindings): Promise<Response> => {
    if (!handler && !failed) await new Promise<void>((go) => waiting.push(go));
    return handler ? handler(request, env) : notStarted();
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
      release();
    },
    async abort() {
      failed = true;
      release();
      const done = closed();
      server.closeIdleConnections();
      await done;
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
