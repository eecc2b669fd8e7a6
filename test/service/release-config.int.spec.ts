/**
 * Issue 9: how the service reaches registries — plain HTTP only for loopback and
 * SIGLEDGER_INSECURE_REGISTRIES (HTTPS for every other host, checked with a plain-HTTP server on a
 * non-loopback address), SIGLEDGER_REGISTRIES as the only registries contacted, and
 * SIGLEDGER_REGISTRY_CREDENTIALS for registries that want Basic auth (never echoed).
 */
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryCredentials } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { sha256Digest } from '../../src/oci/client.ts';
import { http } from '../support/http.ts';
import { closeHostileServers, serveHostile, type Handler, type Hostile } from '../support/hostile-registry.ts';
import { startTestService, type TestService } from '../support/service.ts';

const DIGEST = sha256Digest(new TextEncoder().encode('config subject'));
const PASSWORD = 's3cret-registry-password';

/** No referrers anywhere: the tag fallback answers 404 too. */
const empty: Handler = (_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
const basicOnly: Handler = (req, res, url) => {
  const expected = `Basic ${Buffer.from(`ci:${PASSWORD}`).toString('base64')}`;
  if (req.headers.authorization !== expected) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
  empty(req, res, url);
};

const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe('release integrity: reaching registries', () => {
  let svc: TestService;
  const r = {} as { insecure: Hostile; tls: Hostile; basic: Hostile; basicNoCredentials: Hostile; notAllowed: Hostile; bearerElsewhere: Hostile };

  const ask = async (h: Hostile) => http(svc, `/api/v1/signer/verify/referrers?repository=${encodeURIComponent(`${h.host}/acme/scanner`)}&digest=${DIGEST}`, { headers: await svc.tokens() });

  beforeAll(async () => {
    const address = external ?? '127.0.0.1';
    r.insecure = await serveHostile(empty, address);
    r.tls = await serveHostile(empty, address);
    r.basic = await serveHostile(basicOnly);
    r.basicNoCredentials = await serveHostile(basicOnly);
    r.notAllowed = await serveHostile(empty);
    // Allowed itself, but its Bearer challenge sends clients (with credentials) to a host that is not.
    r.bearerElsewhere = await serveHostile((_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${r.notAllowed.host}/token",service="x"` }).end());
    svc = await startTestService({
      SIGLEDGER_ROTATION_CRON: 'off',
      SIGLEDGER_REGISTRY_TIMEOUT_MS: '2000',
      SIGLEDGER_REGISTRIES: [r.insecure, r.tls, r.basic, r.basicNoCredentials, r.bearerElsewhere].map((h) => h.host).join(','),
      SIGLEDGER_INSECURE_REGISTRIES: r.insecure.host,
      SIGLEDGER_REGISTRY_CREDENTIALS: JSON.stringify({ [r.basic.host]: { username: 'ci', password: PASSWORD } }),
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await closeHostileServers();
  });

  if (external === undefined) {
    console.log('[release config] SKIPPED (HTTP vs HTTPS cases): no non-loopback IPv4 address on this machine');
    it.skip('SKIPPED: no non-loopback IPv4 address on this machine to tell HTTP from HTTPS', () => undefined);
  } else {
    describe('when a registry is not on loopback', () => {
      it('speaks plain HTTP to it only when SIGLEDGER_INSECURE_REGISTRIES lists it', async () => {
        const res = await ask(r.insecure);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ trusted: false, reason: 'no_referrers' });
        expect(r.insecure.requests.some((q) => q.startsWith(`GET /v2/acme/scanner/referrers/${DIGEST}`))).toBe(true);
      });

      it('uses HTTPS otherwise (a plain-HTTP server there never sees an HTTP request)', async () => {
        const res = await ask(r.tls);
        expect([502, 503]).toContain(res.status);
        expect(res.body.code).toMatch(/^registry_(unavailable|error)$/);
        expect(r.tls.requests).toEqual([]);
      });
    });
  }

  describe('when a registry wants Basic credentials', () => {
    it('sends SIGLEDGER_REGISTRY_CREDENTIALS for that registry', async () => {
      const res = await ask(r.basic);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ trusted: false, reason: 'no_referrers' });
    });

    it('answers 502 registry_error oci_unauthorized for a registry it has no credentials for, echoing none', async () => {
      const res = await ask(r.basicNoCredentials);
      expect(res.status).toBe(502);
      expect(res.body).toMatchObject({ code: 'registry_error', reason: 'oci_unauthorized' });
      expect(JSON.stringify(res.body)).not.toContain(PASSWORD);
      expect(JSON.stringify(res.body)).not.toContain(Buffer.from(`ci:${PASSWORD}`).toString('base64'));
    });
  });

  describe('when SIGLEDGER_REGISTRIES does not list the registry', () => {
    it('answers 403 registry_not_allowed without contacting it', async () => {
      const res = await ask(r.notAllowed);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'registry_not_allowed' });
      expect(r.notAllowed.requests).toEqual([]);
    });
  });

  describe('when an allowed registry sends clients to a token realm that is not allowed', () => {
    it('answers 502 oci_unauthorized without contacting the realm', async () => {
      const res = await ask(r.bearerElsewhere);
      expect(res.status).toBe(502);
      expect(res.body).toMatchObject({ code: 'registry_error', reason: 'oci_unauthorized' });
      expect(res.body.detail).toMatch(/is not an allowed host/);
      expect(r.notAllowed.requests).toEqual([]);
    });
  });

  describe('when SIGLEDGER_REGISTRY_CREDENTIALS is malformed', () => {
    const cases: [string, string, RegExp][] = [
      ['not JSON', '{nope', /is not JSON/],
      ['an array', '[]', /must be a JSON object keyed by registry host/],
      ['a URL as a host', JSON.stringify({ 'https://ghcr.io': { username: 'a', password: 'b' } }), /is not a registry host/],
      ['a missing password', JSON.stringify({ 'ghcr.io': { username: 'a' } }), /must be \{"username","password"\} strings/],
      ['a file that does not exist', '/nonexistent/creds.json', /cannot read the file \(ENOENT\)/],
    ];
    for (const [what, raw, message] of cases) {
      it(`refuses ${what} with one line that quotes no secret`, () => {
        expect(() => loadRegistryCredentials(raw)).toThrow(ConfigError);
        expect(() => loadRegistryCredentials(raw)).toThrow(message);
      });
    }
  });
});
