/**
 * OCI client against a real Distribution 2.8 (Debian's docker-registry, started by
 * test/support/registry.ts on loopback with filesystem storage). 2.8 has no referrers API, so
 * listReferrers goes through the referrers tag schema fallback. Where the registry cannot be
 * installed or started the suite is reported skipped, with the reason.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { OciClient, sha256Digest } from '../../src/oci/client.ts';
import { OciError } from '../../src/oci/errors.ts';
import { MEDIA_TYPE, EMPTY_JSON, artifactManifest, type OciDescriptor } from '../../src/oci/types.ts';
import { pushTestImage, startRegistry } from '../support/registry.ts';

const registry = await startRegistry();
const skipped = 'skipped' in registry ? registry.skipped : undefined;
const reg = 'skipped' in registry ? undefined : registry;

afterAll(async () => {
  await reg?.stop();
});

if (skipped !== undefined) {
  console.log(`[oci registry] SKIPPED: ${skipped}`);
  describe('oci client against docker-registry', () => {
    it.skip(`SKIPPED: ${skipped}`, () => undefined);
  });
}

const enc = (s: string) => new TextEncoder().encode(s);
const SBOM = 'application/vnd.example.sbom.v1+json';

async function expectOciError(p: Promise<unknown>, code: string): Promise<OciError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, `expected ${code}`).toBeInstanceOf(OciError);
  expect((e as OciError).code).toBe(code);
  return e as OciError;
}


/** Pushes an artifact referring to `subject` (as `sigledger attach` will) and records it in the fallback index. */
async function attach(client: OciClient, repo: string, subject: OciDescriptor, artifactType: string, content: string, layerType: string) {
  await client.pushBlob(repo, EMPTY_JSON, MEDIA_TYPE.empty);
  const blob = await client.pushBlob(repo, enc(content), layerType);
  const manifest = artifactManifest({ artifactType, layers: [blob], subject });
  const bytes = enc(JSON.stringify(manifest));
  const pushed = await client.pushManifest(repo, sha256Digest(bytes), bytes, MEDIA_TYPE.imageManifest);
  const descriptor: OciDescriptor = { mediaType: MEDIA_TYPE.imageManifest, digest: pushed.digest, size: pushed.size, artifactType };
  const update = await client.addReferrerToFallbackIndex(repo, subject.digest, descriptor);
  return { descriptor, pushed, update, blob };
}

if (reg) {
  describe('oci client against docker-registry', () => {
    const client = new OciClient({ registry: reg.host, timeoutMs: 10_000 });
    afterEach(() => {
      vi.restoreAllMocks();
    });

    describe('when a tiny image is pushed', () => {
      it('reads the manifest back by tag and digest and verifies blobs', async () => {
        const repo = 'acme/image-roundtrip';
        const image = await pushTestImage(client, repo, 'roundtrip');
        const byTag = await client.getManifest(repo, 'v1', [MEDIA_TYPE.imageManifest]);
        expect(byTag.digest).toBe(image.digest);
        expect(byTag.mediaType).toBe(MEDIA_TYPE.imageManifest);
        const byDigest = await client.getManifest(repo, image.digest, [MEDIA_TYPE.imageManifest, MEDIA_TYPE.imageIndex]);
        expect(Buffer.from(byDigest.bytes).equals(Buffer.from(byTag.bytes))).toBe(true);
        const layer = (byDigest.json.layers as OciDescriptor[])[0]!;
        expect(new TextDecoder().decode(await client.getBlob(repo, layer.digest))).toBe('layer bytes roundtrip');
        // pushing the same blob again is a no-op (HEAD answers 200)
        expect((await client.pushBlob(repo, enc('layer bytes roundtrip'))).digest).toBe(layer.digest);
      });

      it('answers oci_not_found for a missing manifest or blob', async () => {
        await expectOciError(client.getManifest('acme/image-roundtrip', 'nope', [MEDIA_TYPE.imageManifest]), 'oci_not_found');
        await expectOciError(client.getBlob('acme/image-roundtrip', sha256Digest(enc('never pushed'))), 'oci_not_found');
      });
    });

    describe('when a bundle artifact is attached to an image', () => {
      it('lists it through the referrers tag fallback after the referrers API answered 404', async () => {
        const repo = 'acme/scanner';
        const image = await pushTestImage(client, repo, 'scanner');
        const bundle = JSON.stringify({ mediaType: MEDIA_TYPE.sigstoreBundle, dsseEnvelope: { payload: 'aGVsbG8=' } });
        const { descriptor, pushed, update } = await attach(client, repo, image, MEDIA_TYPE.sigstoreBundle, bundle, MEDIA_TYPE.sigstoreBundle);
        expect(pushed.ociSubject).toBeUndefined(); // 2.8 does not process subject
        expect(update.changed).toBe(true);

        // Distribution 2.8 has no referrers API: it answers 404 there, so the client falls back to the tag index.
        expect((await fetch(`${reg.url}/v2/${repo}/referrers/${image.digest}`)).status).toBe(404);
        expect((await fetch(`${reg.url}/v2/${repo}/manifests/${image.digest.replace(':', '-')}`, { method: 'HEAD', headers: { accept: MEDIA_TYPE.imageIndex } })).status).toBe(200);
        const found = await client.listReferrers(repo, image.digest);
        expect(found.source).toBe('referrers_tag');
        expect(found.manifests).toEqual([descriptor]);

        // the artifact manifest is what attach pushed: artifactType, empty config, subject = the image
        const artifact = await client.getManifest(repo, descriptor.digest, [MEDIA_TYPE.imageManifest]);
        expect(artifact.json).toMatchObject({ artifactType: MEDIA_TYPE.sigstoreBundle, subject: { digest: image.digest }, config: { mediaType: MEDIA_TYPE.empty } });
        const layer = (artifact.json.layers as OciDescriptor[])[0]!;
        expect(new TextDecoder().decode(await client.getBlob(repo, layer.digest))).toBe(bundle);
      });

      it('updates the fallback index idempotently', async () => {
        const repo = 'acme/idempotent';
        const image = await pushTestImage(client, repo, 'idem');
        const { descriptor, update } = await attach(client, repo, image, MEDIA_TYPE.sigstoreBundle, '{"a":1}', MEDIA_TYPE.sigstoreBundle);
        const again = await client.addReferrerToFallbackIndex(repo, image.digest, descriptor);
        expect(again).toEqual({ digest: update.digest, changed: false });
        const index = await client.getManifest(repo, image.digest.replace(':', '-'), [MEDIA_TYPE.imageIndex]);
        expect(index.digest).toBe(update.digest);
        expect((index.json.manifests as unknown[]).length).toBe(1);
      });
    });

    describe('when referrers of several artifact types exist', () => {
      it('filters by artifactType client-side', async () => {
        const repo = 'acme/filtered';
        const image = await pushTestImage(client, repo, 'filtered');
        const b = await attach(client, repo, image, MEDIA_TYPE.sigstoreBundle, '{"bundle":1}', MEDIA_TYPE.sigstoreBundle);
        const s = await attach(client, repo, image, SBOM, '{"sbom":1}', SBOM);
        expect((await client.listReferrers(repo, image.digest)).manifests.map((m) => m.digest)).toEqual([b.descriptor.digest, s.descriptor.digest]);
        expect((await client.listReferrers(repo, image.digest, { artifactType: MEDIA_TYPE.sigstoreBundle })).manifests).toEqual([b.descriptor]);
        expect((await client.listReferrers(repo, image.digest, { artifactType: SBOM })).manifests).toEqual([s.descriptor]);
        expect((await client.listReferrers(repo, image.digest, { artifactType: 'application/vnd.none+json' })).manifests).toEqual([]);
      });
    });

    describe('when a digest has no referrers', () => {
      it('answers an empty list (fallback tag absent)', async () => {
        const repo = 'acme/lonely';
        const image = await pushTestImage(client, repo, 'lonely');
        expect(await client.listReferrers(repo, image.digest)).toEqual({ manifests: [], source: 'referrers_tag' });
        expect(await client.listReferrers('acme/never-pushed', sha256Digest(enc('x')))).toEqual({ manifests: [], source: 'referrers_tag' });
      });
    });

    describe('when the registry is stopped', () => {
      it('answers oci_unreachable', async () => {
        const other = await startRegistry();
        if ('skipped' in other) throw new Error(other.skipped);
        const c = new OciClient({ registry: other.host, timeoutMs: 5_000 });
        expect((await c.listReferrers('acme/x', sha256Digest(enc('x')))).manifests).toEqual([]);
        await other.stop();
        await expectOciError(c.listReferrers('acme/x', sha256Digest(enc('x'))), 'oci_unreachable');
      });
    });
  });
}
