/**
 * Issue 9: hostile registry answers reach the service through `verify/referrers` and release
 * gating — huge manifests and blobs, wrong content types, redirects to other hosts, slow and
 * trickling answers — and each is bounded (time, bytes), answered with a stable code, and leaves
 * the service answering and its history untouched. The registry is a local node:http server
 * speaking the OCI 1.1 referrers API.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_ARTIFACT_TYPE } from '../../src/oci/bundle-artifact.ts';
import { sha256Digest } from '../../src/oci/client.ts';
import { MEDIA_TYPE } from '../../src/oci/types.ts';
import { http, type Json } from '../support/http.ts';
import { closeHostileServers, pumpBytes, serveHostile, type Handler } from '../support/hostile-registry.ts';
import { startTestService, type TestService } from '../support/service.ts';

const TIMEOUT_MS = 1_000;
const SUBJECT = sha256Digest(new TextEncoder().encode('hostile subject'));
const enc = (s: string) => new TextEncoder().encode(s);

/** An artifact manifest (bundle layer) referring to SUBJECT, and the index listing it. */
const BUNDLE_BYTES = enc('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
const ARTIFACT = enc(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.imageManifest,
    artifactType: BUNDLE_ARTIFACT_TYPE,
    config: { mediaType: MEDIA_TYPE.empty, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 },
    layers: [{ mediaType: BUNDLE_ARTIFACT_TYPE, digest: sha256Digest(BUNDLE_BYTES), size: BUNDLE_BYTES.length }],
    subject: { mediaType: MEDIA_TYPE.imageManifest, digest: SUBJECT, size: 100 },
  }),
);
const ARTIFACT_DIGEST = sha256Digest(ARTIFACT);
const index = (size = ARTIFACT.length) =>
  enc(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageIndex, manifests: [{ mediaType: MEDIA_TYPE.imageManifest, digest: ARTIFACT_DIGEST, size, artifactType: BUNDLE_ARTIFACT_TYPE }] }));

const send = (res: ServerResponse, type: string, body: Uint8Array) => {
  res.writeHead(200, { 'content-type': type, 'content-length': String(body.length), 'docker-content-digest': sha256Digest(body) });
  res.end(body);
};

/** A registry that behaves, except where `override` answers (return true when it did). */
const registry =
  (override: (req: Parameters<Handler>[0], res: ServerResponse, url: URL) => boolean): Handler =>
  (req, res, url) => {
    if (override(req, res, url)) return;
    if (url.pathname.includes('/referrers/')) return send(res, MEDIA_TYPE.imageIndex, index());
    if (url.pathname.endsWith(`/manifests/${ARTIFACT_DIGEST}`)) return send(res, MEDIA_TYPE.imageManifest, ARTIFACT);
    if (url.pathname.includes('/blobs/')) return send(res, 'application/octet-stream', BUNDLE_BYTES);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
  };

const slow = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': MEDIA_TYPE.imageIndex });
  res.write('{');
  const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 50);
  res.on('close', () => clearInterval(t));
};

describe('release integrity against a hostile registry', () => {
  let svc: TestService;
  let rssBefore = 0;

  const ask = async (host: string) => {
    const t0 = Date.now();
    const r = await http(svc, `/api/v1/signer/verify/referrers?repository=${encodeURIComponent(`${host}/acme/scanner`)}&digest=${SUBJECT}`, { headers: await svc.tokens() });
    return { ...r, ms: Date.now() - t0 };
  };
  const head = async () => (await http(svc, '/api/v1/audit/events?limit=1', { headers: await svc.tokens({ scopes: ['ledger.audit'] }) })).body.head as number;

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_RELEASE_VERIFY: 'required', SIGLEDGER_REGISTRY_TIMEOUT_MS: String(TIMEOUT_MS), SIGLEDGER_RELEASE_CACHE_SECONDS: '0', SIGLEDGER_REGISTRIES: '127.0.0.1' });
    rssBefore = process.memoryUsage().rss;
  });
  afterEach(closeHostileServers);
  afterAll(async () => {
    // Still healthy after everything below, and memory did not balloon.
    expect((await http(svc, '/healthz')).status).toBe(200);
    const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`[release hostile] RSS grew ${grown.toFixed(1)} MiB over the suite`);
    expect(grown).toBeLessThan(256);
    await svc?.stop();
  });

  describe('when listing the referrers goes wrong', () => {
    const cases: [string, (other: string) => Handler, number, string][] = [
      ['a 256 MiB streamed index', () => registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (pumpBytes(res, 256 * 2 ** 20, MEDIA_TYPE.imageIndex), true) : false)), 502, 'oci_too_large'],
      ['an index declared as 1 GiB', () => registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (res.writeHead(200, { 'content-type': MEDIA_TYPE.imageIndex, 'content-length': String(2 ** 30) }), res.write('{'), true) : false)), 502, 'oci_too_large'],
      ['an index served as text/html', () => registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (send(res, 'text/html', index()), true) : false)), 502, 'oci_bad_response'],
      ['a redirect to another host', (other) => registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (res.writeHead(307, { location: `http://${other}${url.pathname}` }).end(), true) : false)), 502, 'oci_redirect_refused'],
      ['no answer at all', () => () => undefined, 503, 'oci_unreachable'],
      ['an answer that trickles', () => registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (slow(res), true) : false)), 503, 'oci_unreachable'],
    ];
    for (const [what, handler, status, reason] of cases) {
      it(`answers ${what} with ${status} ${reason}, within the time bound`, async () => {
        let contacted = 0;
        const other = await serveHostile((_q, res) => {
          contacted++;
          send(res, MEDIA_TYPE.imageIndex, index());
        });
        const h = await serveHostile(handler(other.host));
        const r = await ask(h.host);
        expect(r.status).toBe(status);
        expect(r.body).toMatchObject({ code: status === 503 ? 'registry_unavailable' : 'registry_error', reason });
        expect(r.ms).toBeLessThan(TIMEOUT_MS + 2_000);
        expect(contacted).toBe(0);
        expect(JSON.stringify(r.body)).not.toMatch(/\n\s+at /);
      });
    }
  });

  describe('when one referrer goes wrong', () => {
    const cases: [string, (other: string) => Handler, string, RegExp][] = [
      ['an artifact manifest streamed without end', () => registry((_q, res, url) => (url.pathname.includes('/manifests/') ? (pumpBytes(res, 256 * 2 ** 20, MEDIA_TYPE.imageManifest), true) : false)), 'unreadable', /oci_too_large/],
      ['an artifact manifest of 200 KiB the index says is small', () => registry((_q, res, url) => (url.pathname.includes('/manifests/') ? (send(res, MEDIA_TYPE.imageManifest, enc(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageManifest, pad: 'x'.repeat(200 * 1024) }))), true) : false)), 'unreadable', /oci_too_large/],
      ['an artifact manifest the index says is 100 MiB', () => registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (send(res, MEDIA_TYPE.imageIndex, index(100 * 2 ** 20)), true) : false)), 'unreadable', /oci_too_large/],
      ['an artifact manifest of the wrong content type', () => registry((_q, res, url) => (url.pathname.includes('/manifests/') ? (send(res, 'text/plain', ARTIFACT), true) : false)), 'unreadable', /oci_bad_response/],
      ['a bundle blob redirected to another host', (other) => registry((_q, res, url) => (url.pathname.includes('/blobs/') ? (res.writeHead(302, { location: `http://${other}/blob` }).end(), true) : false)), 'unreadable', /oci_redirect_refused/],
      ['a bundle blob of 256 MiB', () => registry((_q, res, url) => (url.pathname.includes('/blobs/') ? (pumpBytes(res, 256 * 2 ** 20, 'application/octet-stream'), true) : false)), 'unreadable', /oci_too_large/],
      ['a bundle blob that is not a bundle', () => registry(() => false), 'not_a_bundle', /not a Sigstore bundle/],
    ];
    for (const [what, handler, reason, detail] of cases) {
      it(`says untrusted for ${what} (${reason}), bounded`, async () => {
        let contacted = 0;
        const other = await serveHostile((_q, res) => {
          contacted++;
          send(res, 'application/octet-stream', BUNDLE_BYTES);
        });
        const h = await serveHostile(handler(other.host));
        const r = await ask(h.host);
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ trusted: false, reason: 'no_trusted_bundle', source: 'referrers_api', bundles: [{ digest: ARTIFACT_DIGEST, verdict: 'untrusted', reason }] });
        expect((r.body as Json).bundles[0].detail).toMatch(detail);
        expect(r.ms).toBeLessThan(TIMEOUT_MS + 2_000);
        expect(contacted).toBe(0);
      });
    }

    it('answers 503 when the only bundle cannot be fetched in time (not knowing is not "untrusted")', async () => {
      const h = await serveHostile(registry((_q, res, url) => (url.pathname.includes('/blobs/') ? (slow(res), true) : false)));
      const r = await ask(h.host);
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ code: 'registry_unavailable', reason: 'oci_unreachable' });
    });
  });

  describe('when the registry lists thousands of bundle referrers', () => {
    it('looks at 16, counts the rest, and answers a small verdict', async () => {
      const many = enc(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageIndex, manifests: Array.from({ length: 4_000 }, (_, i) => ({ mediaType: MEDIA_TYPE.imageManifest, digest: sha256Digest(enc(`many ${i}`)), size: 300, artifactType: BUNDLE_ARTIFACT_TYPE })) }));
      expect(many.length).toBeLessThan(2 ** 20);
      const h = await serveHostile(registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (send(res, MEDIA_TYPE.imageIndex, many), true) : false)));
      const res = await fetch(`${svc.url}/api/v1/signer/verify/referrers?repository=${encodeURIComponent(`${h.host}/acme/scanner`)}&digest=${SUBJECT}`, { headers: await svc.tokens() });
      const text = await res.text();
      expect(res.status).toBe(200);
      const body = JSON.parse(text) as Json;
      expect(body).toMatchObject({ trusted: false, reason: 'no_trusted_bundle', unchecked: 4_000 - 16 });
      expect(body.bundles).toHaveLength(16);
      expect(text.length).toBeLessThan(16 * 1024);
      expect(h.requests.filter((q) => q.includes('/manifests/')).length).toBe(16);
    });

    it('answers 502 for a listing page over 1 MiB', async () => {
      const h = await serveHostile(registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (send(res, MEDIA_TYPE.imageIndex, enc(`{"schemaVersion":2,"mediaType":"${MEDIA_TYPE.imageIndex}","manifests":[],"pad":"${'x'.repeat(2 ** 20)}"}`)), true) : false)));
      const r = await ask(h.host);
      expect(r.status).toBe(502);
      expect(r.body).toMatchObject({ code: 'registry_error', reason: 'oci_too_large' });
    });
  });

  describe('when the registry answers every call just inside the timeout', () => {
    it('bounds the whole lookup by twice SIGLEDGER_REGISTRY_TIMEOUT_MS, not 16 bundles × 2 calls of it', async () => {
      const many = enc(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.imageIndex, manifests: Array.from({ length: 16 }, (_, i) => ({ mediaType: MEDIA_TYPE.imageManifest, digest: sha256Digest(enc(`artifact ${i}`)), size: 300, artifactType: BUNDLE_ARTIFACT_TYPE })) }));
      const h = await serveHostile(
        registry((_q, res, url) => {
          if (url.pathname.includes('/referrers/')) return send(res, MEDIA_TYPE.imageIndex, many), true;
          if (url.pathname.includes('/manifests/')) return setTimeout(() => send(res, MEDIA_TYPE.imageManifest, ARTIFACT), TIMEOUT_MS - 150), true;
          return false;
        }),
      );
      const r = await ask(h.host);
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ code: 'registry_unavailable', reason: 'oci_unreachable' });
      expect(r.ms).toBeLessThan(2 * TIMEOUT_MS + 1_500);
      expect(h.requests.filter((q) => q.includes('/manifests/')).length).toBeLessThan(5);
    });
  });

  describe('when many callers ask a registry that never answers at once', () => {
    it('bounds every request and keeps serving others meanwhile', async () => {
      const h = await serveHostile(() => undefined);
      const t0 = Date.now();
      const asks = Array.from({ length: 20 }, () => ask(h.host));
      const health = await http(svc, '/healthz');
      expect(health.status).toBe(200);
      const results = await Promise.all(asks);
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(503));
      expect(Date.now() - t0).toBeLessThan(TIMEOUT_MS + 3_000);
      // One lookup in flight per (repository, digest): the registry saw one request, not 20.
      expect(h.requests.length).toBeLessThanOrEqual(2);
    });
  });

  describe('when a gated caller\'s scanner lives on a hostile registry', () => {
    const cases: [string, Handler, number, string][] = [
      ['that never answers', () => undefined, 503, 'registry_unavailable'],
      ['that redirects elsewhere', registry((_q, res, url) => (url.pathname.includes('/referrers/') ? (res.writeHead(307, { location: 'http://198.51.100.1/x' }).end(), true) : false)), 502, 'registry_error'],
      ['whose only bundle is garbage', registry(() => false), 403, 'release_untrusted'],
    ];
    for (const [what, handler, status, code] of cases) {
      it(`refuses to sign with ${status} ${code} for a registry ${what}, appending nothing`, async () => {
        const h = await serveHostile(handler);
        const before = await head();
        const r = await http(svc, '/api/v1/signer/sign/dsse', {
          method: 'POST',
          headers: await svc.tokens({ scannerImage: `${h.host}/acme/scanner@${SUBJECT}` }),
          json: { payloadType: 'text/plain', payload: Buffer.from(`hostile ${what}`).toString('base64') },
        });
        expect(r.status).toBe(status);
        expect(r.body.code).toBe(code);
        expect(await head()).toBe(before);
      });
    }
  });
});
