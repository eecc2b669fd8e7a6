/**
 * Issue 9, release integrity through OCI referrers, end to end: a real Distribution 2.8 (Debian's
 * docker-registry, no referrers API, so the referrers tag fallback is what gets exercised) on
 * loopback with filesystem storage, real services, bundles attached with `sigledger attach`,
 * verified with the real `@sigstore/verify` by `GET /api/v1/signer/verify/referrers`, and signing
 * gated on the caller's scanner release with SIGLEDGER_RELEASE_VERIFY=required.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { BUNDLE_ARTIFACT_TYPE, bundleArtifactManifest } from '../../src/oci/bundle-artifact.ts';
import { OciClient, sha256Digest } from '../../src/oci/client.ts';
import { EMPTY_JSON, MEDIA_TYPE } from '../../src/oci/types.ts';
import type { Digest } from '../../src/oci/reference.ts';
import { devApproval } from '../support/approvers.ts';
import { http, type Json } from '../support/http.ts';
import { pushTestImage, startRegistry, type TestRegistry } from '../support/registry.ts';
import { startTestService, type TestService } from '../support/service.ts';

const registry = await startRegistry();
const skipped = 'skipped' in registry ? registry.skipped : undefined;
const reg = 'skipped' in registry ? undefined : (registry as TestRegistry);
if (skipped !== undefined) console.log(`[release integrity] SKIPPED: ${skipped}`);

const statement = (digest: Digest, predicate: Json = { purpose: 'release' }) => ({
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'scanner', digest: { sha256: digest.slice('sha256:'.length) } }],
  predicateType: 'https://sigledger.dev/attestations/release/v1',
  predicate,
});

describe('release integrity through OCI referrers', () => {
  if (!reg) {
    it.skip(`SKIPPED: ${skipped}`, () => undefined);
    return;
  }
  const repo = 'acme/scanner';
  const repository = `${reg.host}/${repo}`;
  const client = new OciClient({ registry: reg.host, timeoutMs: 10_000 });
  let svc: TestService;
  let stranger: TestService;
  let work: string;
  const NAMES = ['trusted', 'foreign', 'tampered', 'mismatch', 'bare', 'uncached', 'selfVouched'] as const;
  const images = {} as Record<(typeof NAMES)[number], Digest>;
  let trustedKeyId: string;

  const sign = async (s: TestService, body: Json, headers?: Record<string, string>) =>
    http(s, '/api/v1/signer/sign/dsse', { method: 'POST', headers: headers ?? (await s.tokens()), json: body });

  const writeBundle = (name: string, bundle: unknown) => {
    const path = join(work, name);
    writeFileSync(path, JSON.stringify(bundle));
    return path;
  };

  const attach = async (digest: Digest, bundlePath: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['attach', '--registry', reg.url, '--image', `${repository}@${digest}`, '--bundle', bundlePath], { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
    expect(err, 'attach stderr').toEqual([]);
    expect(code).toBe(0);
  };

  const verifyReferrers = async (digest: string, headers?: Record<string, string>) =>
    http(svc, `/api/v1/signer/verify/referrers?repository=${encodeURIComponent(repository)}&digest=${encodeURIComponent(digest)}`, { headers: headers ?? (await svc.tokens()) });

  const head = async () => (await http(svc, '/api/v1/audit/events?limit=1', { headers: await svc.tokens({ scopes: ['ledger.audit'] }) })).body.head as number;

  const attachDirect = async (subject: Digest, bundle: unknown) => {
    // As `sigledger attach` does, without its subject check (a hostile publisher would skip it).
    const bytes = new TextEncoder().encode(JSON.stringify(bundle));
    await client.pushBlob(repo, EMPTY_JSON, MEDIA_TYPE.empty);
    const layer = await client.pushBlob(repo, bytes, BUNDLE_ARTIFACT_TYPE);
    const image = await client.getManifest(repo, subject, [MEDIA_TYPE.imageManifest]);
    const manifest = new TextEncoder().encode(JSON.stringify(bundleArtifactManifest(layer, { mediaType: image.mediaType, digest: image.digest, size: image.size })));
    const pushed = await client.pushManifest(repo, sha256Digest(manifest), manifest, MEDIA_TYPE.imageManifest);
    await client.addReferrerToFallbackIndex(repo, subject, { mediaType: MEDIA_TYPE.imageManifest, digest: pushed.digest, size: pushed.size, artifactType: BUNDLE_ARTIFACT_TYPE });
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sigledger-release-'));
    // The registry is on loopback: listed explicitly, as every non-public registry must be.
    const env = { SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_REGISTRIES: reg.host };
    svc = await startTestService({ ...env, SIGLEDGER_RELEASE_VERIFY: 'required' });
    stranger = await startTestService(env);
    for (const name of NAMES) images[name] = (await pushTestImage(client, repo, name)).digest;
    // The release pipeline (scope signer.release, not gated itself) signs the scanner releases.
    const pipeline = await svc.tokens({ scopes: ['signer.sign', 'signer.release'] });
    const release = async (digest: Digest, predicate?: Json) => {
      const r = await sign(svc, { statement: statement(digest, predicate) }, pipeline);
      expect(r.status).toBe(201);
      return r.body;
    };
    // One second after start-up: a revocation below can then date the compromise between the
    // key's creation and this release (timestamps have second precision).
    await new Promise((r) => setTimeout(r, 1100));
    const trusted = await release(images.trusted);
    trustedKeyId = trusted.keyId as string;
    await attach(images.trusted, writeBundle('trusted.json', trusted.bundle));
    await attach(images.uncached, writeBundle('uncached.json', (await release(images.uncached)).bundle));

    const foreign = await sign(stranger, { statement: statement(images.foreign) }, await stranger.tokens({ scopes: ['signer.sign', 'signer.release'] }));
    expect(foreign.status).toBe(201);
    await attach(images.foreign, writeBundle('foreign.json', foreign.body.bundle));

    // Tampered: the statement's predicate changed after signing (subject still names the image).
    const genuine = (await release(images.tampered)).bundle as Json;
    const forged = statement(images.tampered, { purpose: 'release', approvedBy: 'mallory' });
    const tampered = { ...genuine, dsseEnvelope: { ...genuine.dsseEnvelope, payload: Buffer.from(JSON.stringify(forged)).toString('base64') } };
    await attach(images.tampered, writeBundle('tampered.json', tampered));

    // A tenant without signer.release (running the trusted scanner) vouching for its own image
    // with another kind of statement.
    const self = await sign(svc, { statement: { ...statement(images.selfVouched), predicateType: 'https://slsa.dev/provenance/v1' } }, await svc.tokens({ tenant: 'mallory', scannerImage: `${repository}@${images.trusted}` }));
    expect(self.status).toBe(201);
    await attach(images.selfVouched, writeBundle('self.json', self.body.bundle));

    // A genuine bundle for another image, attached to this one.
    await attachDirect(images.mismatch, (await release(images.trusted, { purpose: 'copied' })).bundle);
  });

  afterAll(async () => {
    await svc?.stop();
    await stranger?.stop();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  });

  describe('GET /api/v1/signer/verify/referrers', () => {
    describe('when a bundle by the ledger\'s key refers to the digest', () => {
      it('says trusted and names the signing key', async () => {
        const r = await verifyReferrers(images.trusted);
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({
          digest: images.trusted,
          repository,
          trusted: true,
          release: true,
          reason: null,
          signer: { predicateType: 'https://sigledger.dev/attestations/release/v1', keyId: trustedKeyId, algorithm: 'ed25519', status: 'active', validFor: { start: expect.any(String) }, signedAt: expect.stringMatching(/^\d{4}-/), logIndex: expect.stringMatching(/^\d+$/) },
          bundles: [{ verdict: 'trusted', reason: 'verified', keyId: trustedKeyId }],
          source: 'referrers_tag',
          anchorsVersion: 1,
        });
        expect(r.body.signer.bundleDigest).toBe(r.body.bundles[0].digest);
      });
    });

    const untrusted: [string, keyof typeof images, string, RegExp][] = [
      ['a key the trust anchors do not know', 'foreign', 'unknown_key', /is not a key of the trust anchors/],
      ['a payload changed after signing', 'tampered', 'log_entry_mismatch', /payload hash mismatch/i],
      ['a genuine bundle whose statement names another image', 'mismatch', 'subject_mismatch', /no subject of the in-toto statement has the digest/],
    ];
    for (const [what, image, reason, detail] of untrusted) {
      describe(`when the only bundle has ${what}`, () => {
        it(`says untrusted with reason ${reason}`, async () => {
          const r = await verifyReferrers(images[image]);
          expect(r.status).toBe(200);
          expect(r.body).toMatchObject({ digest: images[image], trusted: false, reason: 'no_trusted_bundle', signer: null });
          expect(r.body.bundles).toHaveLength(1);
          expect(r.body.bundles[0]).toMatchObject({ verdict: 'untrusted', reason });
          expect(r.body.bundles[0].detail).toMatch(detail);
        });
      });
    }

    describe('when the only bundle is genuine but not a release attestation', () => {
      it('says trusted (a trusted key signed it) but not a release', async () => {
        const r = await verifyReferrers(images.selfVouched);
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ trusted: true, release: false, reason: null, signer: { predicateType: 'https://slsa.dev/provenance/v1' }, bundles: [{ verdict: 'trusted', reason: 'verified', predicateType: 'https://slsa.dev/provenance/v1' }] });
      });
    });

    describe('when nothing refers to the digest', () => {
      it('says untrusted with reason no_referrers', async () => {
        const r = await verifyReferrers(images.bare);
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ digest: images.bare, trusted: false, reason: 'no_referrers', signer: null, bundles: [] });
      });
    });

    describe('when the query is malformed', () => {
      const cases: [string, string, string][] = [
        ['no digest', `repository=${encodeURIComponent(repository)}`, 'missing_parameter'],
        ['a digest that is not sha256:<hex>', `repository=${encodeURIComponent(repository)}&digest=sha256:XYZ`, 'invalid_reference'],
        ['a repository with a scheme', `repository=${encodeURIComponent(`http://${repository}`)}&digest=sha256:${'a'.repeat(64)}`, 'invalid_reference'],
        ['a repeated parameter', `repository=${encodeURIComponent(repository)}&digest=sha256:${'a'.repeat(64)}&digest=sha256:${'b'.repeat(64)}`, 'repeated_parameter'],
        ['an unknown parameter', `repository=${encodeURIComponent(repository)}&digest=sha256:${'a'.repeat(64)}&url=http://evil`, 'unknown_parameter'],
      ];
      for (const [what, query, reason] of cases) {
        it(`answers ${what} with 400 ${reason}`, async () => {
          const r = await http(svc, `/api/v1/signer/verify/referrers?${query}`, { headers: await svc.tokens() });
          expect(r.status).toBe(400);
          expect(r.body.reason).toBe(reason);
        });
      }
    });
  });

  describe('signing with SIGLEDGER_RELEASE_VERIFY=required', () => {
    const payload = (n: string) => ({ payloadType: 'text/plain', payload: Buffer.from(`scan report ${n}`).toString('base64') });

    describe('when the caller\'s scanner image has a trusted bundle', () => {
      it('signs', async () => {
        const r = await sign(svc, payload('trusted'), await svc.tokens({ scannerImage: `${repository}@${images.trusted}` }));
        expect(r.status).toBe(201);
      });
    });

    describe('when it has not', () => {
      const refusals: [string, () => Promise<Record<string, string>>, string][] = [
        ['a bundle by an unknown key', () => svc.tokens({ scannerImage: `${repository}@${images.foreign}` }), 'no_trusted_bundle'],
        ['a tampered bundle', () => svc.tokens({ scannerImage: `${repository}@${images.tampered}` }), 'no_trusted_bundle'],
        ['no bundle at all', () => svc.tokens({ scannerImage: `${repository}@${images.bare}` }), 'no_referrers'],
        ['only a genuine bundle that is not a release attestation', () => svc.tokens({ tenant: 'mallory', scannerImage: `${repository}@${images.selfVouched}` }), 'no_release_attestation'],
        ['no scanner image in its OpTok', () => svc.tokens(), 'no_scanner_image'],
      ];
      for (const [what, tokens, reason] of refusals) {
        it(`refuses ${what} with 403 release_untrusted (${reason}) and appends nothing`, async () => {
          const before = await head();
          const r = await sign(svc, payload(what), await tokens());
          expect(r.status).toBe(403);
          expect(r.body).toMatchObject({ code: 'release_untrusted', reason });
          expect(await head()).toBe(before);
        });
      }
    });

    describe('when a caller without signer.release asks for a release attestation', () => {
      const payloads: [string, () => Json][] = [
        ['as a statement', () => ({ statement: statement(images.bare) })],
        ['as a raw in-toto payload', () => ({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.from(JSON.stringify(statement(images.bare))).toString('base64') })],
        ['with the predicate type written with JSON escapes', () => ({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.from(JSON.stringify(statement(images.bare)).replace('"https://sigledger.dev/attestations/release/v1"', '"\\u0068ttps://sigledger.dev/attestations/release/v1"')).toString('base64') })],
      ];
      for (const [what, body] of payloads) {
        it(`refuses it ${what} with 403 missing_scope and appends nothing`, async () => {
          const before = await head();
          const r = await sign(svc, body(), await svc.tokens({ tenant: 'mallory', scannerImage: `${repository}@${images.trusted}` }));
          expect(r.status).toBe(403);
          expect(r.body).toMatchObject({ code: 'forbidden', reason: 'missing_scope', requiredScope: 'signer.release' });
          expect(await head()).toBe(before);
        });
      }
    });

    describe('when the registry is down', () => {
      it('fails closed with 503 registry_unavailable and appends nothing', async () => {
        await reg.halt();
        const before = await head();
        const started = Date.now();
        const res = await fetch(`${svc.url}/api/v1/signer/sign/dsse`, {
          method: 'POST',
          headers: { ...(await svc.tokens({ scannerImage: `${repository}@${images.uncached}` })), 'content-type': 'application/json' },
          body: JSON.stringify(payload('registry down')),
        });
        const body = (await res.json()) as Json;
        expect(res.status).toBe(503);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(res.headers.get('retry-after')).toBe('5');
        expect(body).toMatchObject({ code: 'registry_unavailable', reason: 'oci_unreachable' });
        expect(body.detail).toMatch(new RegExp(`registry ${reg.host.replace(/[.]/g, '\\.')} unavailable`));
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(await head()).toBe(before);
        const route = await verifyReferrers(images.uncached);
        expect(route.status).toBe(503);
        expect(route.body.code).toBe('registry_unavailable');
      });

      it('still signs for a scanner whose trusted verdict is cached (bounded by SIGLEDGER_RELEASE_CACHE_SECONDS)', async () => {
        const r = await sign(svc, payload('cached verdict'), await svc.tokens({ scannerImage: `${repository}@${images.trusted}` }));
        expect(r.status).toBe(201);
      });

      it('answers again once the registry is back', async () => {
        await reg.resume();
        const r = await verifyReferrers(images.uncached);
        expect(r.status).toBe(200);
        expect(r.body.trusted).toBe(true);
      });

      it('counts verdicts and refusals in /metrics', async () => {
        const metrics = await (await fetch(`${svc.url}/metrics`)).text();
        expect(metrics).toMatch(/sigledger_release_verdicts_total\{result="trusted",cached="true"\} [1-9]/);
        expect(metrics).toMatch(/sigledger_release_verdicts_total\{result="error",cached="false"\} [1-9]/);
        expect(metrics).toMatch(/sigledger_sign_refusals_total\{reason="release_untrusted"\} [1-9]/);
      });
    });
  });

  describe('when the signing key rotates and is later revoked', () => {
    const approveAll = async (ceremonyId: string, approvers: number[]) => {
      const { proposal } = (await http(svc, `/api/v1/ceremonies/${ceremonyId}`)).body;
      for (const n of approvers) expect((await http(svc, `/api/v1/ceremonies/${ceremonyId}/approvals`, { method: 'POST', json: devApproval(svc.dataDir, n, proposal) })).status).toBe(200);
    };
    const until = async (what: string, ok: () => Promise<boolean>) => {
      const deadline = Date.now() + 30_000;
      while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    let signedAt: string;

    it('still trusts a release signed while the old key was valid, now a retired key of the new anchors version', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      const rotation = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'release integrity across a rotation' } });
      expect(rotation.status).toBe(202);
      await approveAll(rotation.body.ceremonyId, [1, 2]);
      await until('the rotation', async () => (await http(svc, `/api/v1/rotations/${rotation.body.rotationId}`)).body.state === 'completed');
      const r = await verifyReferrers(images.trusted);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ trusted: true, signer: { keyId: trustedKeyId, status: 'retired', validFor: { start: expect.any(String), end: expect.any(String) } } });
      expect(r.body.anchorsVersion).toBeGreaterThan(1);
      signedAt = r.body.signer.signedAt;
    });

    it('stops trusting it once the key is revoked from before that signing (key_not_valid), and gating refuses', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      const since = new Date(Math.floor(Date.parse(signedAt) / 1000) * 1000 - 1000).toISOString().replace('.000Z', 'Z');
      const revoke = await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'revoke-key', keyId: trustedKeyId, compromisedSince: since }, reason: 'scanner release key compromised' } });
      expect(revoke.status).toBe(201);
      await approveAll(revoke.body.ceremonyId, [2, 3]);
      await until('the revocation', async () => (await http(svc, `/api/v1/ceremonies/${revoke.body.ceremonyId}`)).body.state === 'executed');
      await until('the new anchors', async () => (await verifyReferrers(images.trusted)).body.trusted === false);
      const r = await verifyReferrers(images.trusted);
      expect(r.body).toMatchObject({ trusted: false, reason: 'no_trusted_bundle', bundles: [{ verdict: 'untrusted', reason: 'key_not_valid', keyId: trustedKeyId }] });
      expect(r.body.bundles[0].detail).toMatch(/not valid for timestamp/);
      const refused = await sign(svc, { payloadType: 'text/plain', payload: Buffer.from('after the revocation').toString('base64') }, await svc.tokens({ scannerImage: `${repository}@${images.trusted}` }));
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ code: 'release_untrusted', reason: 'no_trusted_bundle' });
    });
  });
});
