/**
 * Issue 16 finding 6 (SSRF by default), through HTTP: without SIGLEDGER_REGISTRIES the referrers
 * route and release gating refuse loopback, private and link-local registries (in any spelling,
 * and names resolving to them) with 403 `registry_not_allowed` / `address_not_allowed` before any
 * connection, appending nothing; with an allow-list a Bearer realm on another host is used only
 * when listed; and a caller cannot tell a closed port from a reset, a non-HTTP service or a
 * registry that never answers (no port scanner).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/oci/client.ts';
import { http, type Json } from '../support/http.ts';
import { startTestService, type TestService } from '../support/service.ts';

const DIGEST = sha256Digest(new TextEncoder().encode('network subject'));
const TIMEOUT_MS = 1_000;

const servers: Server[] = [];
const sockets = new Set<Socket>();

/** A TCP server doing `onSocket` with each connection it accepts (and counting them). */
async function tcp(onSocket: (s: Socket) => void): Promise<{ port: number; connections: () => number }> {
  let n = 0;
  const server = createTcpServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, connections: () => n };
}

/** An HTTP registry with no referrers (404 to everything but `/token`). */
async function registry(handler?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (handler?.(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, requests };
}

describe('release integrity: network boundaries', () => {
  let open: TestService;
  let listed: TestService;

  const ask = async (svc: TestService, repositoryHost: string) =>
    http(svc, `/api/v1/signer/verify/referrers?repository=${encodeURIComponent(`${repositoryHost}/acme/scanner`)}&digest=${DIGEST}`, { headers: await svc.tokens() });
  const head = async (svc: TestService) => (await http(svc, '/api/v1/audit/events?limit=1', { headers: await svc.tokens({ scopes: ['ledger.audit'] }) })).body.head as number;

  beforeAll(async () => {
    open = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_RELEASE_VERIFY: 'required', SIGLEDGER_REGISTRY_TIMEOUT_MS: String(TIMEOUT_MS) });
    listed = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_REGISTRY_TIMEOUT_MS: String(TIMEOUT_MS), SIGLEDGER_RELEASE_CACHE_SECONDS: '0', SIGLEDGER_REGISTRIES: '127.0.0.1' });
  });
  afterAll(async () => {
    await open?.stop();
    await listed?.stop();
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  describe('when SIGLEDGER_REGISTRIES is not set', () => {
    it('refuses a loopback registry in every spelling with 403 address_not_allowed, without connecting', async () => {
      const target = await tcp((s) => s.destroy());
      const before = await head(open);
      const p = target.port;
      for (const host of [`127.0.0.1:${p}`, `localhost:${p}`, `[::1]:${p}`, `0x7f.1:${p}`, `2130706433:${p}`, `127.1:${p}`, `[::ffff:127.0.0.1]:${p}`]) {
        const res = await ask(open, host);
        expect(res.status, host).toBe(403);
        expect(res.body, host).toMatchObject({ code: 'registry_not_allowed', reason: 'address_not_allowed' });
      }
      expect(target.connections()).toBe(0);
      expect(await head(open)).toBe(before);
    });

    it('refuses private, link-local, unique-local and CGNAT registries the same way', async () => {
      for (const host of ['10.1.2.3:5000', '172.20.0.1', '192.168.0.10:443', '169.254.169.254', '[fe80::1]:5000', '[fd00::5]', '100.64.1.1', '0.0.0.0:5000']) {
        const res = await ask(open, host);
        expect(res.status, host).toBe(403);
        expect(res.body, host).toMatchObject({ code: 'registry_not_allowed', reason: 'address_not_allowed' });
      }
    });

    it('refuses gated signing for a scanner image on loopback, appending nothing', async () => {
      const target = await tcp((s) => s.destroy());
      const before = await head(open);
      const res = await http(open, '/api/v1/signer/sign/dsse', {
        method: 'POST',
        headers: await open.tokens({ scannerImage: `127.0.0.1:${target.port}/acme/scanner@${DIGEST}` }),
        json: { payloadType: 'text/plain', payload: Buffer.from('gated').toString('base64') },
      });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'registry_not_allowed', reason: 'address_not_allowed' });
      expect(target.connections()).toBe(0);
      expect(await head(open)).toBe(before);
    });
  });

  describe('when the allow-listed registry sends its Bearer realm elsewhere', () => {
    it('refuses a realm on another host that is not listed, without contacting it', async () => {
      const realm = await registry((req, res) => (req.url?.startsWith('/token') ? (res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}'), true) : false));
      const reg = await registry((_req, res) => (res.writeHead(401, { 'www-authenticate': `Bearer realm="http://localhost:${realm.port}/token",service="s"` }).end(), true));
      const res = await ask(listed, `127.0.0.1:${reg.port}`);
      expect(res.status).toBe(502);
      expect(res.body).toMatchObject({ code: 'registry_error', reason: 'oci_unauthorized' });
      expect(realm.requests).toEqual([]);
    });

    it('uses a realm on a listed host', async () => {
      const realm = await registry((req, res) => (req.url?.startsWith('/token') ? (res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}'), true) : false));
      const reg = await registry((req, res) => (req.headers.authorization === 'Bearer t' ? false : (res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${realm.port}/token",service="s"` }).end(), true)));
      const res = await ask(listed, `127.0.0.1:${reg.port}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ trusted: false, reason: 'no_referrers' });
      expect(realm.requests).toHaveLength(1);
    });
  });

  describe('when an allow-listed registry cannot be reached, for whatever reason', () => {
    it('answers a closed port, a reset, a non-HTTP service, a TLS alert and silence identically', async () => {
      const closed = await tcp(() => undefined);
      const closedPort = closed.port;
      await new Promise<void>((r) => servers.pop()!.close(() => r()));
      const targets: Record<string, number> = {
        'closed port': closedPort,
        reset: (await tcp((s) => s.resetAndDestroy())).port,
        'another protocol': (await tcp((s) => s.end('SSH-2.0-OpenSSH_9.6\r\n'))).port,
        'a TLS alert': (await tcp((s) => s.end(Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28])))).port,
        // Accepts and never answers: the client's own bound (SIGLEDGER_REGISTRY_TIMEOUT_MS) ends it.
        silence: (await tcp(() => undefined)).port,
      };
      const seen: Record<string, string> = {};
      for (const [what, port] of Object.entries(targets)) {
        const res = await ask(listed, `127.0.0.1:${port}`);
        expect(res.status, what).toBe(503);
        seen[what] = JSON.stringify(res.body as Json).replaceAll(`127.0.0.1:${port}`, 'HOST');
      }
      const distinct = new Set(Object.values(seen));
      expect([...distinct], JSON.stringify(seen, null, 2)).toHaveLength(1);
      const body = JSON.parse([...distinct][0]!) as Json;
      expect(body).toMatchObject({ code: 'registry_unavailable', reason: 'oci_unreachable' });
      expect(JSON.stringify(body)).not.toMatch(/ECONN|EPIPE|HPE_|SSL|TLS|timeout|within|\d+ ms/i);
    });
  });
});
