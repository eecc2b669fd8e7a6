/**
 * Issue 16 finding 6 (SSRF by default), at the OCI client: with a network policy (as the service
 * uses it) a registry host is connected to only when every address it resolves to is public or
 * the host is allow-listed — literals in any spelling, names resolving to loopback, redirects and
 * Bearer realms included — and the connection goes to the address that was checked (a second
 * DNS answer cannot move it). Local servers count the TCP connections they accept, so "never
 * contacted" means no connection at all, not merely no HTTP request.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { allowListMatcher } from '../../src/oci/address-policy.ts';
import { OciClient, sha256Digest, type OciClientOptions } from '../../src/oci/client.ts';
import { AddressNotAllowedError, OciError } from '../../src/oci/errors.ts';
import { parseRepository } from '../../src/oci/reference.ts';
import type { ResolvedAddress, Resolver } from '../../src/oci/transport.ts';
import { MEDIA_TYPE } from '../../src/oci/types.ts';

interface Local {
  readonly host: string;
  readonly port: number;
  readonly requests: string[];
  connections: number;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function local(handler: (req: IncomingMessage, res: ServerResponse, url: URL) => void = (_q, res) => res.writeHead(404).end()): Promise<Local> {
  const me: Local = { host: '', port: 0, requests: [], connections: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    me.requests.push(`${req.method} ${url.pathname}`);
    handler(req, res, url);
  });
  server.on('connection', (s) => {
    me.connections++;
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return Object.assign(me, { host: `127.0.0.1:${port}`, port });
}

const MANIFEST = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageManifest, config: {}, layers: [] }));
const sendManifest = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': MEDIA_TYPE.imageManifest, 'content-length': String(MANIFEST.length), 'docker-content-digest': sha256Digest(MANIFEST) });
  res.end(MANIFEST);
};

const serveManifest = (_q: IncomingMessage, res: ServerResponse) => sendManifest(res);

/** A resolver answering from a table (names no system resolver knows), counting its calls. */
function table(answers: Record<string, readonly (readonly ResolvedAddress[])[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    const n = calls.filter((c) => c === hostname).length;
    calls.push(hostname);
    const list = answers[hostname];
    if (!list) throw Object.assign(new Error(`no such name ${hostname}`), { code: 'ENOTFOUND' });
    return list[Math.min(n, list.length - 1)]!;
  };
  return Object.assign(resolve, { calls });
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });

/** A client as the service makes one: network policy with `allowList` (SIGLEDGER_REGISTRIES). */
const guarded = (registry: string, allowList: readonly string[] = [], o: Partial<OciClientOptions> = {}) =>
  new OciClient({ registry, scheme: 'http', timeoutMs: 5_000, network: { allowListed: allowListMatcher(allowList) }, ...o });

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
}

async function expectAddressRefused(p: Promise<unknown>): Promise<void> {
  const e = await failure(p);
  expect(e, String(e)).toBeInstanceOf(AddressNotAllowedError);
  expect(e).toMatchObject({ code: 'registry_not_allowed', details: { reason: 'address_not_allowed' } });
}

describe('oci client network boundary', () => {
  describe('when the registry is a loopback, private or link-local literal and nothing is allow-listed', () => {
    it('refuses every spelling of loopback before connecting', async () => {
      const s = await local(serveManifest);
      for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `[::1]:${s.port}`, `0x7f.1:${s.port}`, `2130706433:${s.port}`, `0177.0.0.1:${s.port}`, `127.1:${s.port}`, `[::ffff:127.0.0.1]:${s.port}`, `[::ffff:7f00:1]:${s.port}`]) {
        await expectAddressRefused(guarded(host).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]));
      }
      expect(s.connections).toBe(0);
    });

    it('refuses private, link-local, unique-local, CGNAT, unspecified and multicast addresses', async () => {
      for (const host of ['10.0.0.1', '172.16.5.4:5000', '192.168.1.1', '169.254.169.254', '[fe80::1]', '[fd00::1]', '100.64.0.1', '0.0.0.0:5000', '[::]', '224.0.0.1', '[::ffff:10.0.0.1]', '[::ffff:a9fe:a9fe]']) {
        await expectAddressRefused(guarded(host).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]));
      }
    });
  });

  describe('when a name resolves to loopback', () => {
    it('refuses it, and a name with one loopback address among public ones too', async () => {
      const s = await local(serveManifest);
      const resolve = table({ 'registry.test': [[v4('127.0.0.1')]], 'mixed.test': [[v4('203.0.113.7'), v4('127.0.0.1')]], 'mapped.test': [[{ address: '::ffff:127.0.0.1', family: 6 }]] });
      for (const name of ['registry.test', 'mixed.test', 'mapped.test']) {
        await expectAddressRefused(guarded(`${name}:${s.port}`, [], { resolve }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]));
      }
      expect(resolve.calls).toEqual(['registry.test', 'mixed.test', 'mapped.test']);
      expect(s.connections).toBe(0);
    });
  });

  describe('when the host is allow-listed', () => {
    it('connects to the address it resolved (the system resolver does not know the name)', async () => {
      const s = await local(serveManifest);
      const resolve = table({ 'registry.test': [[v4('127.0.0.1')]] });
      const m = await guarded(`registry.test:${s.port}`, [`registry.test:${s.port}`], { resolve }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]);
      expect(m.digest).toBe(sha256Digest(MANIFEST));
      expect(s.requests).toEqual(['GET /v2/a/b/manifests/v1']);
    });

    it('resolves again on every redirect hop', async () => {
      const s = await local((_q, res, url) => (url.pathname.endsWith('/v1') ? res.writeHead(307, { location: '/v2/a/b/manifests/v2' }).end() : sendManifest(res)));
      const resolve = table({ 'registry.test': [[v4('127.0.0.1')]] });
      await guarded(`registry.test:${s.port}`, ['registry.test'], { resolve }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]);
      expect(resolve.calls).toEqual(['registry.test', 'registry.test']);
    });
  });

  describe('when the DNS answer changes between the check and the connect (rebinding)', () => {
    it('connects to the checked address, never to the second answer', async () => {
      const s = await local(serveManifest);
      // First answer public (TEST-NET-3, no host there), any later one loopback.
      const resolve = table({ 'rebind.test': [[v4('203.0.113.9')], [v4('127.0.0.1')]] });
      const e = await failure(guarded(`rebind.test:${s.port}`, [], { resolve, timeoutMs: 1_500 }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]));
      expect(e).toBeInstanceOf(OciError);
      expect(['oci_unreachable', 'oci_timeout']).toContain((e as OciError).code);
      expect(resolve.calls).toEqual(['rebind.test']);
      expect(s.connections).toBe(0);
    });
  });

  describe('when an allow-listed registry redirects to a loopback or private address', () => {
    it('refuses the redirect and never connects there', async () => {
      const target = await local(serveManifest);
      for (const location of [`http://127.0.0.1:${target.port}/x`, `http://[::ffff:127.0.0.1]:${target.port}/x`, `http://0x7f.1:${target.port}/x`, 'http://10.0.0.1/x', 'http://169.254.169.254/latest/meta-data/', `http://evil.test@127.0.0.1:${target.port}/x`]) {
        const s = await local((_q, res) => res.writeHead(302, { location }).end());
        const e = await failure(guarded(s.host, [s.host]).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]));
        expect(e, location).toBeInstanceOf(OciError);
        expect((e as OciError).code).toBe('oci_redirect_refused');
      }
      expect(target.connections).toBe(0);
    });
  });

  describe('when a Bearer challenge names a realm', () => {
    const bearer = (realm: () => string) => (req: IncomingMessage, res: ServerResponse, url: URL) => {
      if (url.pathname === '/token') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"tok-1"}');
      if (req.headers.authorization !== 'Bearer tok-1') return void res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm()}",service="s"` }).end();
      sendManifest(res);
    };
    const tokenServer = () => local((_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"tok-1"}'));

    it('refuses a realm on another host (another port, another name for it) and never contacts it', async () => {
      const realm = await tokenServer();
      for (const where of [`http://${realm.host}/token`, `http://localhost:${realm.port}/token`]) {
        const s = await local(bearer(() => where));
        const e = await failure(guarded(s.host, [s.host]).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]));
        expect(e).toBeInstanceOf(OciError);
        expect((e as OciError).code).toBe('oci_unauthorized');
        expect((e as OciError).message).toMatch(/is not an allowed host/);
      }
      expect(realm.connections).toBe(0);
    });

    it("uses a realm on the registry's own host", async () => {
      let self = '';
      const s = await local(bearer(() => `http://${self}/token`));
      self = s.host;
      const m = await guarded(s.host, [s.host]).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]);
      expect(m.digest).toBe(sha256Digest(MANIFEST));
      expect(s.requests).toContain('GET /token');
    });

    it('uses a realm on another host once that host is allow-listed', async () => {
      const realm = await tokenServer();
      const s = await local(bearer(() => `http://${realm.host}/token`));
      const m = await guarded(s.host, [s.host, realm.host]).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]);
      expect(m.digest).toBe(sha256Digest(MANIFEST));
      expect(realm.requests).toEqual(['GET /token']);
    });
  });

  describe('when a repository tries to smuggle another host past the parser', () => {
    it.each(['evil.test@127.0.0.1:5000/a/b', 'evil.test\\@127.0.0.1/a', '127.0.0.1\\evil.test/a', '%31%32%37.0.0.1/a', '127.0.0.1%2f@evil.test/a', 'http://127.0.0.1/a', '[::1%25lo]:5000/a', 'evil.test#@127.0.0.1/a', 'evil.test /a'])('refuses %s', (repository) => {
      expect(() => parseRepository(repository)).toThrow(OciError);
    });

    it('keeps the host the parser read as the host the client connects to', () => {
      for (const registry of ['0x7f.1:5000', '2130706433', '[::ffff:127.0.0.1]:5000']) {
        const c = new OciClient({ registry, scheme: 'http' });
        expect(['127.0.0.1:5000', '127.0.0.1', '[::ffff:7f00:1]:5000']).toContain(c.baseUrl.host);
      }
    });
  });
});
