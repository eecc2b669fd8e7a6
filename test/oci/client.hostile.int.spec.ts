/**
 * OCI client against hostile / unusual registry answers from a tiny local node:http server:
 * oversize bodies, wrong content types, cross-origin redirects, slow answers, auth flows, and
 * the OCI 1.1 referrers API path that Distribution 2.8 does not have.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { OciClient, sha256Digest, type OciClientOptions } from '../../src/oci/client.ts';
import { OciError } from '../../src/oci/errors.ts';
import { MEDIA_TYPE } from '../../src/oci/types.ts';
import { closeHostileServers, pumpBytes, serveHostile, type Hostile } from '../support/hostile-registry.ts';

afterEach(closeHostileServers);

const client = (h: Hostile, o: Partial<OciClientOptions> = {}) => new OciClient({ registry: h.host, timeoutMs: 2_000, ...o });

async function expectOciError(p: Promise<unknown>, code: string): Promise<OciError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, `expected ${code}`).toBeInstanceOf(OciError);
  expect((e as OciError).code, (e as Error).message).toBe(code);
  return e as OciError;
}

const MANIFEST = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageManifest, config: {}, layers: [] }));
const sendManifest = (res: ServerResponse, type: string = MEDIA_TYPE.imageManifest, body: Uint8Array = MANIFEST) => {
  res.writeHead(200, { 'content-type': type, 'content-length': String(body.length), 'docker-content-digest': sha256Digest(body) });
  res.end(body);
};
const SUBJECT = sha256Digest(new TextEncoder().encode('subject'));

describe('oci client (hostile registry)', () => {
  describe('when a manifest is larger than the limit', () => {
    it('refuses a streamed body with oci_too_large without reading it all', async () => {
      let pumped: ReturnType<typeof pumpBytes> | undefined;
      const h = await serveHostile((_req, res) => {
        pumped = pumpBytes(res, 256 * 1024 * 1024, MEDIA_TYPE.imageManifest);
      });
      const e = await expectOciError(client(h, { maxManifestBytes: 1024 * 1024 }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_too_large');
      expect(e.message).toMatch(/1048576-byte limit/);
      await new Promise((r) => setTimeout(r, 100));
      expect(pumped!.finished()).toBe(false);
      expect(pumped!.sent()).toBeLessThan(32 * 1024 * 1024);
    });

    it('refuses a declared Content-Length above the limit before reading', async () => {
      const h = await serveHostile((_req, res) => {
        res.writeHead(200, { 'content-type': MEDIA_TYPE.imageManifest, 'content-length': String(1024 ** 3) });
        res.write('{');
      });
      const t0 = Date.now();
      const e = await expectOciError(client(h).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_too_large');
      expect(e.message).toMatch(/1073741824 bytes/);
      expect(Date.now() - t0).toBeLessThan(1_500);
    });
  });

  describe('when the content type is wrong', () => {
    it('refuses a manifest served as text/html or as another manifest type', async () => {
      const h = await serveHostile((_req, res, url) => sendManifest(res, url.pathname.endsWith('/html') ? 'text/html; charset=utf-8' : MEDIA_TYPE.dockerManifest));
      await expectOciError(client(h).getManifest('a/b', 'html', [MEDIA_TYPE.imageManifest]), 'oci_bad_response');
      await expectOciError(client(h).getManifest('a/b', 'docker', [MEDIA_TYPE.imageManifest]), 'oci_bad_response');
    });

    it('refuses a referrers answer that is not an OCI image index', async () => {
      const h = await serveHostile((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ schemaVersion: 2, manifests: [] }));
      });
      await expectOciError(client(h).listReferrers('a/b', SUBJECT), 'oci_bad_response');
    });

    it('refuses content whose digest does not match', async () => {
      const h = await serveHostile((_req, res, url) => {
        if (url.pathname.includes('/blobs/')) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          return void res.end('not the content');
        }
        res.writeHead(200, { 'content-type': MEDIA_TYPE.imageManifest, 'docker-content-digest': SUBJECT });
        res.end(MANIFEST);
      });
      await expectOciError(client(h).getBlob('a/b', SUBJECT), 'oci_bad_response');
      await expectOciError(client(h).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_bad_response');
    });
  });

  describe('when the registry redirects', () => {
    it('refuses a redirect to another host (and never contacts it)', async () => {
      let contacted = 0;
      const other = await serveHostile((_req, res) => {
        contacted++;
        sendManifest(res);
      });
      const h = await serveHostile((_req, res) => {
        res.writeHead(307, { location: `http://localhost:${other.port}/v2/a/b/manifests/v1` });
        res.end();
      });
      const e = await expectOciError(client(h).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_redirect_refused');
      expect(e.message).toContain(`localhost:${other.port}`);
      expect(contacted).toBe(0);
    });

    it('follows a same-origin redirect but refuses more than 3', async () => {
      const h = await serveHostile((_req, res, url) => {
        const m = /\/manifests\/hop(\d+)$/.exec(url.pathname);
        if (m && Number(m[1]) > 0) {
          res.writeHead(302, { location: `/v2/a/b/manifests/hop${Number(m[1]) - 1}` });
          return void res.end();
        }
        sendManifest(res);
      });
      expect((await client(h).getManifest('a/b', 'hop3', [MEDIA_TYPE.imageManifest])).digest).toBe(sha256Digest(MANIFEST));
      await expectOciError(client(h).getManifest('a/b', 'hop4', [MEDIA_TYPE.imageManifest]), 'oci_redirect_refused');
    });

    it('refuses an upload location on another host', async () => {
      const h = await serveHostile((req, res) => {
        if (req.method === 'HEAD') return void res.writeHead(404).end();
        res.writeHead(202, { location: 'http://evil.example/upload/1' });
        res.end();
      });
      await expectOciError(client(h).pushBlob('a/b', new Uint8Array([1, 2, 3])), 'oci_redirect_refused');
    });
  });

  describe('when the registry is slow', () => {
    it('gives up with oci_timeout when no headers come', async () => {
      const h = await serveHostile(() => undefined); // never answers
      const t0 = Date.now();
      const e = await expectOciError(client(h, { timeoutMs: 300 }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_timeout');
      expect(Date.now() - t0).toBeLessThan(1_500);
      expect(e.message).toMatch(/300 ms/);
    });

    it('gives up with oci_timeout when the body trickles', async () => {
      const h = await serveHostile((_req, res) => {
        res.writeHead(200, { 'content-type': MEDIA_TYPE.imageIndex });
        res.write('{');
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 50);
        res.on('close', () => clearInterval(t));
      });
      const t0 = Date.now();
      await expectOciError(client(h, { timeoutMs: 400 }).listReferrers('a/b', SUBJECT), 'oci_timeout');
      expect(Date.now() - t0).toBeLessThan(1_500);
    });

    it('reports a caller abort as oci_aborted', async () => {
      const h = await serveHostile(() => undefined);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await expectOciError(client(h).listReferrers('a/b', SUBJECT, { signal: ac.signal }), 'oci_aborted');
    });
  });

  describe('when the registry is down', () => {
    it('answers oci_unreachable', async () => {
      const h = await serveHostile(() => undefined);
      const c = client(h);
      await h.close();
      await expectOciError(c.listReferrers('a/b', SUBJECT), 'oci_unreachable');
    });
  });

  describe('when the registry asks for a bearer token', () => {
    const bearerRegistry = async () => {
      const tokenQueries: URLSearchParams[] = [];
      const h = await serveHostile((req, res, url) => {
        if (url.pathname === '/token') {
          tokenQueries.push(url.searchParams);
          if (req.headers.authorization !== `Basic ${Buffer.from('alice:s3cret-pw').toString('base64')}`) return void res.writeHead(401).end();
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(JSON.stringify({ token: 'tok-123', expires_in: 300 }));
        }
        if (req.headers.authorization !== 'Bearer tok-123') {
          res.writeHead(401, {
            'www-authenticate': `Bearer realm="http://${h.host}/token",service="hostile.test",scope="repository:a/b:pull"`,
            'content-type': 'application/json',
          });
          return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        }
        sendManifest(res);
      });
      return { h, tokenQueries };
    };

    it('fetches a token from the realm with the credentials and retries once', async () => {
      const { h, tokenQueries } = await bearerRegistry();
      const c = client(h, { credentials: { username: 'alice', password: 's3cret-pw' } });
      const m = await c.getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]);
      expect(m.digest).toBe(sha256Digest(MANIFEST));
      expect(tokenQueries).toHaveLength(1);
      expect(tokenQueries[0]!.get('service')).toBe('hostile.test');
      expect(tokenQueries[0]!.getAll('scope')).toEqual(['repository:a/b:pull']);
      expect(h.requests).toEqual(['GET /v2/a/b/manifests/v1', 'GET /token?service=hostile.test&scope=repository%3Aa%2Fb%3Apull', 'GET /v2/a/b/manifests/v1']);
      // the token is reused for the same scope
      await c.getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]);
      expect(tokenQueries).toHaveLength(1);
    });

    it('answers oci_unauthorized with wrong credentials, without leaking them', async () => {
      const { h } = await bearerRegistry();
      const e = await expectOciError(
        client(h, { credentials: { username: 'alice', password: 'wrong-pw-XYZ' } }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]),
        'oci_unauthorized',
      );
      expect(e.message).not.toContain('wrong-pw-XYZ');
      expect(e.message).not.toContain(Buffer.from('alice:wrong-pw-XYZ').toString('base64'));
      await expectOciError(client(h).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_unauthorized');
    });

    it.each([
      ['a file: realm', 'file:///etc/passwd'],
      ['a realm with userinfo', 'http://user:pw@127.0.0.1:1/token'],
      ['no realm', ''],
    ])('refuses %s with oci_unauthorized and fetches nothing', async (_why, realm) => {
      const h = await serveHostile((_req, res) => {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="x"` });
        res.end();
      });
      const e = await expectOciError(client(h).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_unauthorized');
      expect(e.message).not.toContain('user:pw');
      expect(h.requests).toEqual(['GET /v2/a/b/manifests/v1']);
    });
  });

  describe('when the registry asks for basic credentials', () => {
    it('sends them after the challenge', async () => {
      const h = await serveHostile((req, res) => {
        if (req.headers.authorization !== `Basic ${Buffer.from('bob:pw').toString('base64')}`) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' });
          return void res.end();
        }
        sendManifest(res);
      });
      expect((await client(h, { credentials: { username: 'bob', password: 'pw' } }).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest])).size).toBe(MANIFEST.length);
      await expectOciError(client(h).getManifest('a/b', 'v1', [MEDIA_TYPE.imageManifest]), 'oci_unauthorized');
    });
  });

  describe('when the registry has the OCI 1.1 referrers API', () => {
    it('uses it, follows pagination and filters client-side when the server did not', async () => {
      const d = (n: string, artifactType: string) => ({ mediaType: MEDIA_TYPE.imageManifest, digest: sha256Digest(new TextEncoder().encode(n)), size: 10, artifactType });
      const h = await serveHostile((_req, res, url) => {
        const page2 = url.searchParams.get('page') === '2';
        res.writeHead(200, {
          'content-type': MEDIA_TYPE.imageIndex,
          ...(page2 ? {} : { link: `</v2/a/b/referrers/${SUBJECT}?page=2>; rel="next"` }),
        });
        res.end(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageIndex, manifests: page2 ? [d('2', 'application/x.sbom')] : [d('1', MEDIA_TYPE.sigstoreBundle)] }));
      });
      const all = await client(h).listReferrers('a/b', SUBJECT);
      expect(all.source).toBe('referrers_api');
      expect(all.manifests.map((m) => m.artifactType)).toEqual([MEDIA_TYPE.sigstoreBundle, 'application/x.sbom']);
      const bundles = await client(h).listReferrers('a/b', SUBJECT, { artifactType: MEDIA_TYPE.sigstoreBundle });
      expect(bundles.manifests).toEqual([d('1', MEDIA_TYPE.sigstoreBundle)]);
      expect(h.requests.filter((r) => r.includes('artifactType='))).toHaveLength(1);
    });

    it('refuses a malformed descriptor in the index', async () => {
      const h = await serveHostile((_req, res) => {
        res.writeHead(200, { 'content-type': MEDIA_TYPE.imageIndex });
        res.end(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageIndex, manifests: [{ mediaType: MEDIA_TYPE.imageManifest, digest: 'sha256:XYZ', size: 1 }] }));
      });
      await expectOciError(client(h).listReferrers('a/b', SUBJECT), 'oci_bad_response');
    });
  });
});
