/**
 * `sigledger attach` in-process (`main([...], io)`) against a real Distribution 2.8 (Debian's
 * docker-registry, test/support/registry.ts) and real bundles from a real in-process service.
 * 2.8 has no referrers API, so every attach goes through the referrers tag schema index. Where
 * the registry cannot be installed or started its cases are reported skipped, with the reason;
 * usage errors and an unreachable registry are checked without it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { BUNDLE_ARTIFACT_TYPE } from '../../src/oci/bundle-artifact.ts';
import { OciClient, sha256Digest } from '../../src/oci/client.ts';
import { OciError } from '../../src/oci/errors.ts';
import type { Digest } from '../../src/oci/reference.ts';
import { MEDIA_TYPE, type OciDescriptor } from '../../src/oci/types.ts';
import { http, type Json } from '../support/http.ts';
import { pushTestImage, startRegistry } from '../support/registry.ts';
import { startTestService, type TestService } from '../support/service.ts';

const registry = await startRegistry();
const skipped = 'skipped' in registry ? registry.skipped : undefined;
const reg = 'skipped' in registry ? undefined : registry;

afterAll(async () => {
  await reg?.stop();
});

if (skipped !== undefined) console.log(`[oci registry] SKIPPED: ${skipped}`);

const enc = (s: string) => new TextEncoder().encode(s);

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

/** Runs the CLI in-process with captured output and only the environment given. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out, err };
}


/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('sigledger attach', () => {
  let svc: TestService;
  let work: string;
  let signer: Record<string, string>;

  /** Signs an in-toto statement naming `digest` and writes the response's bundle to a file. */
  const bundleFor = async (digest: Digest, file: string, name = 'registry.example/acme/app'): Promise<string> => {
    const r = await http(svc, '/api/v1/signer/sign/dsse', {
      method: 'POST',
      headers: signer,
      json: {
        statement: {
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ name, digest: { sha256: digest.slice('sha256:'.length) } }],
          predicateType: 'https://slsa.dev/provenance/v1',
          predicate: { buildDefinition: { buildType: 'attach-test' } },
        },
      },
    });
    expect([200, 201]).toContain(r.status);
    const path = join(work, file);
    writeFileSync(path, `${JSON.stringify((r.body as Json).bundle, null, 2)}\n`);
    return path;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sigledger-attach-'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' });
    signer = await svc.tokens();
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  if (skipped !== undefined) {
    describe('when docker-registry cannot be started', () => {
      it.skip(`SKIPPED: ${skipped}`, () => undefined);
    });
  }

  if (reg) {
    describe('when the registry has no referrers API (Distribution 2.8)', () => {
      const client = new OciClient({ registry: reg.host, timeoutMs: 10_000 });
      const repo = 'acme/app';
      let image: OciDescriptor;
      let bundlePath: string;
      let first: Json;

      beforeAll(async () => {
        image = await pushTestImage(client, repo, 'attach');
        bundlePath = await bundleFor(image.digest, 'app.bundle.json');
      });

      it('pushes the bundle as an artifact referring to the image and lists it in the referrers tag index', async () => {
        const r = await cli(['attach', '--registry', reg.url, '--image', `${reg.host}/${repo}@${image.digest}`, '--bundle', bundlePath, '--json']);
        expect(r.err).toEqual([]);
        expect(r.code).toBe(0);
        expect(r.out).toHaveLength(1);
        first = JSON.parse(r.out[0]!) as Json;
        expect(first).toMatchObject({
          image: `${reg.host}/${repo}@${image.digest}`,
          subject: { mediaType: MEDIA_TYPE.imageManifest, digest: image.digest, size: image.size },
          artifact: { artifactType: BUNDLE_ARTIFACT_TYPE },
          referrers: 'tag',
          index: { changed: true },
        });

        const found = await client.listReferrers(repo, image.digest, { artifactType: BUNDLE_ARTIFACT_TYPE });
        expect(found.source).toBe('referrers_tag');
        expect(found.manifests).toHaveLength(1);
        expect(found.manifests[0]).toMatchObject({ mediaType: MEDIA_TYPE.imageManifest, digest: first.artifact.digest, size: first.artifact.size, artifactType: BUNDLE_ARTIFACT_TYPE });
        expect(found.manifests[0]!.annotations).toMatchObject({ 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': 'https://slsa.dev/provenance/v1' });

        const artifact = await client.getManifest(repo, first.artifact.digest as string, [MEDIA_TYPE.imageManifest]);
        expect(artifact.json).toMatchObject({
          artifactType: BUNDLE_ARTIFACT_TYPE,
          config: { mediaType: MEDIA_TYPE.empty },
          subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
        });
        const layers = artifact.json.layers as OciDescriptor[];
        expect(layers).toHaveLength(1);
        expect(layers[0]!.mediaType).toBe(BUNDLE_ARTIFACT_TYPE);
        // the file's exact bytes (pretty-printed, trailing newline), not a re-serialisation
        const blob = await client.getBlob(repo, layers[0]!.digest);
        expect(Buffer.from(blob).equals(readFileSync(bundlePath))).toBe(true);
      });

      it('is idempotent: the same bundle again gives the same artifact and leaves the index unchanged', async () => {
        const r = await cli(['attach', '--registry', reg.url, '--image', `${repo}@${image.digest}`, '--bundle', bundlePath]);
        expect(r.err).toEqual([]);
        expect(r.code).toBe(0);
        const tag = image.digest.replace(':', '-');
        expect(r.out).toEqual([`attached ${bundlePath} to ${reg.host}/${repo}@${image.digest} as ${first.artifact.digest} (already listed in referrers tag ${tag})`]);

        const json = await cli(['attach', '--registry', reg.url, '--image', `${reg.host}/${repo}@${image.digest}`, '--bundle', bundlePath, '--json']);
        expect(json.code).toBe(0);
        const again = JSON.parse(json.out[0]!) as Json;
        expect(again.artifact).toEqual(first.artifact);
        expect(again.index).toEqual({ digest: first.index.digest, changed: false });
        expect((await client.listReferrers(repo, image.digest)).manifests.map((m) => m.digest)).toEqual([first.artifact.digest]);
      });

      it('refuses a bundle whose statement names another digest and pushes nothing', async () => {
        const other = await bundleFor(sha256Digest(enc('another image')), 'other.bundle.json');
        const before = await client.listReferrers(repo, image.digest);
        const r = await cli(['attach', '--registry', reg.url, '--image', `${reg.host}/${repo}@${image.digest}`, '--bundle', other]);
        expect(r.code).toBe(1);
        expect(r.out).toEqual([]);
        expect(r.err).toHaveLength(1);
        expect(r.err[0]).toMatch(/^sigledger attach: refusing to attach: no subject of the in-toto statement has the digest sha256:[0-9a-f]{64}/);
        expect(await client.listReferrers(repo, image.digest)).toEqual(before);
        const blob = await client.getBlob(repo, sha256Digest(readFileSync(other))).catch((e: unknown) => e);
        expect(blob).toBeInstanceOf(OciError);
        expect((blob as OciError).code).toBe('oci_not_found');
      });

      it('refuses a file that is not a Sigstore bundle', async () => {
        const path = join(work, 'not-a-bundle.json');
        writeFileSync(path, '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","a":1,"a":2}');
        const r = await cli(['attach', '--registry', reg.url, '--image', `${repo}@${image.digest}`, '--bundle', path]);
        expect(r.code).toBe(1);
        expect(r.err[0]).toMatch(/^sigledger attach: the bundle file is not strict JSON: duplicate key "a"$/);
      });
    });

    describe('when the image is not in the registry', () => {
      it('exits 1 with "image not found in registry"', async () => {
        const digest = sha256Digest(enc('never pushed'));
        const path = await bundleFor(digest, 'missing.bundle.json');
        const r = await cli(['attach', '--registry', reg.url, '--image', `${reg.host}/acme/missing@${digest}`, '--bundle', path]);
        expect(r.code).toBe(1);
        expect(r.out).toEqual([]);
        expect(r.err).toEqual([`sigledger attach: oci_not_found: image not found in registry: ${reg.host}/acme/missing@${digest}`]);
      });
    });
  }

  describe('when the registry is unreachable', () => {
    it('exits 1 with oci_unreachable', async () => {
      const port = await closedPort();
      const digest = sha256Digest(enc('unreachable image'));
      const path = await bundleFor(digest, 'unreachable.bundle.json');
      const r = await cli(['attach', '--registry', `http://127.0.0.1:${port}`, '--image', `127.0.0.1:${port}/acme/app@${digest}`, '--bundle', path]);
      expect(r.code).toBe(1);
      expect(r.out).toEqual([]);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^sigledger attach: oci_unreachable: /);
    });
  });

  describe('when the command line is wrong', () => {
    const digest = sha256Digest(enc('usage image'));
    let path: string;
    beforeAll(async () => {
      path = await bundleFor(digest, 'usage.bundle.json');
    });
    const usage = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> => {
      const r = await cli(['attach', ...args], env);
      expect(r.code).toBe(2);
      expect(r.out).toEqual([]);
      expect(r.err.join('\n')).not.toMatch(/\n\s+at /); // never a stack trace
      return r.err[0]!;
    };

    it('exits 2 when a flag is missing', async () => {
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--image', `acme/app@${digest}`])).toBe('sigledger attach: --registry, --image and --bundle are required');
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--bundle', path])).toMatch(/required/);
      expect(await usage(['--image', `acme/app@${digest}`, '--bundle', path])).toMatch(/required/);
      expect(await usage(['--registry'])).toMatch(/^sigledger attach: /);
    });

    it('exits 2 for an image pinned by tag only, or by a tag and a digest', async () => {
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--image', '127.0.0.1:5000/acme/app:v1', '--bundle', path])).toMatch(/pin the image by digest/);
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--image', `acme/app:v1@${digest}`, '--bundle', path])).toMatch(/pin the image by digest/);
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--image', 'acme/app@sha256:ABC', '--bundle', path])).toMatch(/sha256:<64 lowercase hex>/);
    });

    it('exits 2 for an image on another registry', async () => {
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--image', `registry.example/acme/app@${digest}`, '--bundle', path])).toMatch(/names the registry registry\.example, not --registry's 127\.0\.0\.1:5000/);
    });

    it('exits 2 for a registry that is not http(s)://HOST[:PORT]', async () => {
      for (const bad of ['garbage', 'ftp://127.0.0.1:5000', 'http://user:pw@127.0.0.1:5000', 'http://127.0.0.1:5000/v2/', 'http://127.0.0.1:5000/?x=1', 'http://127.0.0.1:99999']) {
        const line = await usage(['--registry', bad, '--image', `acme/app@${digest}`, '--bundle', path]);
        expect(line).toMatch(/^sigledger attach: --registry /);
        expect(line).not.toContain('pw@');
      }
      expect(await usage(['--registry', 'https://robot:hunter2@registry.example', '--image', `acme/app@${digest}`, '--bundle', path])).toMatch(/^sigledger attach: --registry https:\/\/\*\*\*@registry\.example must not carry credentials/);
    });

    it('exits 2 when only one of the basic-auth variables is set, and never prints them', async () => {
      const registry = ['--registry', 'http://127.0.0.1:5000', '--image', `acme/app@${digest}`, '--bundle', path];
      const a = await usage(registry, { SIGLEDGER_REGISTRY_USERNAME: 'robot-user' });
      expect(a).toBe('sigledger attach: set both SIGLEDGER_REGISTRY_USERNAME and SIGLEDGER_REGISTRY_PASSWORD, or neither');
      const b = await usage(registry, { SIGLEDGER_REGISTRY_PASSWORD: 's3cret-pass' });
      expect(b).not.toContain('s3cret-pass');
      expect(b).toMatch(/set both/);
    });

    it('exits 2 for a bundle file that cannot be read', async () => {
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--image', `acme/app@${digest}`, '--bundle', join(work, 'absent.json')])).toMatch(/cannot read --bundle .*absent\.json \(ENOENT\)/);
      expect(await usage(['--registry', 'http://127.0.0.1:5000', '--image', `acme/app@${digest}`, '--bundle', work])).toMatch(/is not a regular file/);
    });
  });
});
