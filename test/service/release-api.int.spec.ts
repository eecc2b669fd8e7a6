/**
 * Issue 9 against a registry that *has* the OCI 1.1 referrers API and wants Basic credentials
 * (test/support/memory-registry.ts): `sigledger attach` with SIGLEDGER_REGISTRY_USERNAME/PASSWORD
 * lets the registry index the artifact (OCI-Subject) and writes no fallback index, and the
 * service, with SIGLEDGER_REGISTRY_CREDENTIALS, finds it through the referrers API and trusts it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { BUNDLE_ARTIFACT_TYPE } from '../../src/oci/bundle-artifact.ts';
import { OciClient } from '../../src/oci/client.ts';
import type { OciDescriptor } from '../../src/oci/types.ts';
import { closeHostileServers } from '../support/hostile-registry.ts';
import { http, type Json } from '../support/http.ts';
import { startMemoryRegistry, type MemoryRegistry } from '../support/memory-registry.ts';
import { pushTestImage } from '../support/registry.ts';
import { startTestService, type TestService } from '../support/service.ts';

const credentials = { username: 'ci-robot', password: 'memory-registry-password' };

describe('release integrity with the OCI 1.1 referrers API', () => {
  let registry: MemoryRegistry;
  let svc: TestService;
  let work: string;
  let image: OciDescriptor;
  let keyId: string;
  const repo = 'acme/scanner';

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sigledger-release-api-'));
    registry = await startMemoryRegistry({ basic: credentials });
    svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_REGISTRIES: registry.host, SIGLEDGER_REGISTRY_CREDENTIALS: JSON.stringify({ [registry.host]: credentials }) });
    image = await pushTestImage(new OciClient({ registry: registry.host, credentials }), repo, 'api');
    const signed = await http(svc, '/api/v1/signer/sign/dsse', {
      method: 'POST',
      headers: await svc.tokens({ scopes: ['signer.sign', 'signer.release'] }),
      json: { statement: { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: repo, digest: { sha256: image.digest.slice(7) } }], predicateType: 'https://sigledger.dev/attestations/release/v1', predicate: {} } },
    });
    expect(signed.status).toBe(201);
    keyId = signed.body.keyId as string;
    writeFileSync(join(work, 'bundle.json'), JSON.stringify(signed.body.bundle));
  });
  afterAll(async () => {
    await svc?.stop();
    await closeHostileServers();
    rmSync(work, { recursive: true, force: true });
  });

  describe('when sigledger attach pushes with credentials', () => {
    it('lets the registry index the artifact (OCI-Subject) and writes no referrers tag', async () => {
      const out: string[] = [];
      const err: string[] = [];
      const args = ['attach', '--registry', `http://${registry.host}`, '--image', `${registry.host}/${repo}@${image.digest}`, '--bundle', join(work, 'bundle.json'), '--json'];
      const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: { SIGLEDGER_REGISTRY_USERNAME: credentials.username, SIGLEDGER_REGISTRY_PASSWORD: credentials.password } });
      expect(err).toEqual([]);
      expect(code).toBe(0);
      const result = JSON.parse(out[0]!) as Json;
      expect(result).toMatchObject({ referrers: 'api', index: null, artifact: { artifactType: BUNDLE_ARTIFACT_TYPE } });
      expect(registry.referrers.get(image.digest)?.map((d) => d.digest)).toEqual([result.artifact.digest]);
      expect(registry.requests.some((r) => r.includes(`/manifests/${image.digest.replace(':', '-')}`))).toBe(false);
    });

    it('is refused without credentials (oci_unauthorized), and says so without echoing any', async () => {
      const err: string[] = [];
      const code = await main(['attach', '--registry', `http://${registry.host}`, '--image', `${registry.host}/${repo}@${image.digest}`, '--bundle', join(work, 'bundle.json')], { out: () => undefined, err: (l) => err.push(l), env: {} });
      expect(code).toBe(1);
      expect(err.join('\n')).toMatch(/^sigledger attach: oci_unauthorized: /);
    });
  });

  describe('when more than 16 other bundles were attached before the release attestation', () => {
    it('still looks at the release attestation first (by its annotation) and finds the release', async () => {
      const other = await pushTestImage(new OciClient({ registry: registry.host, credentials }), repo, 'crowded');
      const headers = await svc.tokens();
      const attachFile = async (file: string) => {
        const code = await main(['attach', '--registry', `http://${registry.host}`, '--image', `${registry.host}/${repo}@${other.digest}`, '--bundle', file], { out: () => undefined, err: () => undefined, env: { SIGLEDGER_REGISTRY_USERNAME: credentials.username, SIGLEDGER_REGISTRY_PASSWORD: credentials.password } });
        expect(code).toBe(0);
      };
      const statementFor = (predicateType: string, n: number) => ({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: repo, digest: { sha256: other.digest.slice(7) } }], predicateType, predicate: { n } });
      for (let n = 0; n < 20; n++) {
        const sbom = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers, json: { statement: statementFor('https://spdx.dev/Document', n) } });
        writeFileSync(join(work, `sbom-${n}.json`), JSON.stringify(sbom.body.bundle));
        await attachFile(join(work, `sbom-${n}.json`));
      }
      const release = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: await svc.tokens({ scopes: ['signer.sign', 'signer.release'] }), json: { statement: statementFor('https://sigledger.dev/attestations/release/v1', 0) } });
      writeFileSync(join(work, 'crowded-release.json'), JSON.stringify(release.body.bundle));
      await attachFile(join(work, 'crowded-release.json'));
      expect(registry.referrers.get(other.digest)).toHaveLength(21);

      const r = await http(svc, `/api/v1/signer/verify/referrers?repository=${encodeURIComponent(`${registry.host}/${repo}`)}&digest=${other.digest}`, { headers });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ trusted: true, release: true, unchecked: 5, signer: { predicateType: 'https://sigledger.dev/attestations/release/v1' } });
      expect(r.body.bundles).toHaveLength(16);
      expect(r.body.bundles[0]).toMatchObject({ verdict: 'trusted', predicateType: 'https://sigledger.dev/attestations/release/v1' });
    });
  });

  describe('when the service asks the referrers API', () => {
    it('finds the bundle there and trusts the digest', async () => {
      const r = await http(svc, `/api/v1/signer/verify/referrers?repository=${encodeURIComponent(`${registry.host}/${repo}`)}&digest=${image.digest}`, { headers: await svc.tokens() });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ trusted: true, release: true, source: 'referrers_api', signer: { keyId }, bundles: [{ verdict: 'trusted', reason: 'verified' }] });
      expect(registry.requests.some((q) => q.startsWith(`GET /v2/${repo}/referrers/${image.digest}?artifactType=`))).toBe(true);
    });
  });
});
