/**
 * A tiny node:http server playing a hostile (or merely unusual) OCI registry: each test gives the
 * handler. Servers started here are closed by `closeHostileServers()` (call it in afterEach).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export interface Hostile {
  readonly host: string;
  readonly port: number;
  /** `METHOD /path?query` of every request received. */
  readonly requests: string[];
  close(): Promise<void>;
}

const servers: Hostile[] = [];

export async function closeHostileServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => s.close()));
}

/** Listens on `address` (default 127.0.0.1) on a free port. */
export async function serveHostile(handler: Handler, address = '127.0.0.1'): Promise<Hostile> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    res.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    handler(req, res, url);
  });
  // Once per connection, not per request: a keep-alive socket carries many requests, and one
  // listener each would pile up past the EventEmitter limit (MaxListenersExceededWarning).
  server.on('connection', (socket) => socket.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, address, r));
  const port = (server.address() as AddressInfo).port;
  const h: Hostile = {
    host: `${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  servers.push(h);
  return h;
}

/** Streams `total` bytes (chunked, no Content-Length) until the client goes away; `sent()` tells how many went out. */
export function pumpBytes(res: ServerResponse, total: number, contentType: string): { sent(): number; finished(): boolean } {
  let sent = 0;
  let finished = false;
  res.writeHead(200, { 'content-type': contentType });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const pump = () => {
    while (sent < total) {
      if (res.destroyed) return;
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    finished = true;
    res.end();
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
  return { sent: () => sent, finished: () => finished };
}
