/**
 * `sigledger kit export` through the real bin against a real in-process service (signing, one
 * rotation approved with `sigledger approve`), and the route it walks the anchors history with,
 * `GET /api/v1/trust/anchors/versions/{n}`.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devApproverPath } from '../../src/app/trust/approvers-service.ts';
import { runCli } from '../support/cli.ts';
import { startTestService, type TestService } from '../support/service.ts';

type Json = Record<string, any>;

async function http(svc: TestService, path: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: Json; text: string }> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${svc.url}${path}`, { ...init, headers, ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}) });
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    /* text */
  }
  return { status: res.status, body, text };
}

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)).split('\\').join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Json;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('sigledger kit export', () => {
  let svc: TestService;
  let work: string;
  let a: Json;
  let b: Json;
  const exportKit = (out: string, ...extra: string[]) => runCli(['kit', 'export', '--url', svc.url, '--out', out, ...extra], {}, 60_000);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sigledger-kit-'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' });
    const signer = await svc.tokens();
    const sign = async (text: string) => {
      const r = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') } });
      expect(r.status).toBe(201);
      return r.body;
    };
    a = await sign('artifact a');
    b = await sign('artifact b');
    await new Promise((r) => setTimeout(r, 1100)); // the transition lands on a later whole second
    const admin = await svc.tokens({ scopes: ['ledger.admin'] });
    const rotation = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'monthly rotation' } });
    expect(rotation.status).toBe(202);
    for (const n of [1, 2]) {
      const r = await runCli(['approve', '--url', svc.url, '--ceremony', rotation.body.ceremonyId, '--key', devApproverPath(svc.dataDir, n), '--yes'], {}, 60_000);
      expect(r.code).toBe(0);
    }
  }, 120_000);

  afterAll(async () => {
    await svc?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('GET /api/v1/trust/anchors/versions/{n}', () => {
    it('answers every version from 1 to the latest, the latest being /api/v1/trust/anchors', async () => {
      const latest = (await http(svc, '/api/v1/trust/anchors')).body;
      expect(latest.version).toBe(2);
      for (let v = 1; v <= latest.version; v++) {
        const r = await http(svc, `/api/v1/trust/anchors/versions/${v}`);
        expect(r.status).toBe(200);
        expect(r.body.version).toBe(v);
      }
      expect((await http(svc, `/api/v1/trust/anchors/versions/${latest.version}`)).body).toEqual(latest);
      expect((await http(svc, '/api/v1/trust/anchors/versions/1')).body.ceremony).toBeNull();
    });

    it('answers 404 problem+json for a version not published yet', async () => {
      const r = await http(svc, '/api/v1/trust/anchors/versions/3');
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ status: 404, code: 'not_found', detail: 'no anchors version 3' });
    });

    for (const bad of ['0', '-1', '01', 'x', '1.5', '99999999999', '1e3']) {
      it(`answers 400 problem+json for the version "${bad}"`, async () => {
        const r = await http(svc, `/api/v1/trust/anchors/versions/${encodeURIComponent(bad)}`);
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ code: 'bad_request', reason: 'invalid_version' });
      });
    }
  });

  describe('when bundles are requested with --bundle', () => {
    let kit: string;
    let result: Awaited<ReturnType<typeof runCli>>;
    beforeAll(async () => {
      kit = join(work, 'kit');
      result = await exportKit(kit, '--bundle', a.bundleId, '--bundle', b.bundleId, '--bundle', a.bundleId);
    }, 60_000);

    it('exits 0 and writes the whole layout', () => {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`kit written to ${kit}`);
      expect(result.stdout).toMatch(/anchors: versions 1\.\.2, chain verified; version 1 sha256:[0-9a-f]{64} is trusted on first use/);
      expect(result.stdout).toContain('bundles: 2 (4 versions, 2 re-signing attestations)');
      const perBundle = (id: string) => [`bundles/${id}/history.json`, `bundles/${id}/v1.bundle.json`, `bundles/${id}/v2.attestation.json`, `bundles/${id}/v2.bundle.json`];
      expect(tree(kit)).toEqual(
        ['README.md', 'anchors.json', 'anchors/0000000001.json', 'anchors/0000000002.json', ...perBundle(a.bundleId), ...perBundle(b.bundleId), 'checkpoint', 'kit.json', 'trusted_root.json'].sort(),
      );
    });

    it('writes the trust material the service publishes', async () => {
      expect(readJson(join(kit, 'trusted_root.json'))).toEqual((await http(svc, '/api/v1/trust/trusted_root.json')).body);
      const latest = (await http(svc, '/api/v1/trust/anchors')).body;
      expect(readJson(join(kit, 'anchors.json'))).toEqual(latest);
      expect(readJson(join(kit, 'anchors', '0000000002.json'))).toEqual(latest);
      expect(readJson(join(kit, 'anchors', '0000000001.json'))).toEqual((await http(svc, '/api/v1/trust/anchors/versions/1')).body);
      const checkpoint = readFileSync(join(kit, 'checkpoint'), 'utf8');
      expect(checkpoint).toMatch(/^sigledger\.local\/log\n\d+\n[A-Za-z0-9+/=]{44}\n\n\u2014 sigledger\.local\/log /);
    });

    it('writes every version of each bundle and the re-signing attestation of each re-signed version', async () => {
      for (const id of [a.bundleId, b.bundleId]) {
        for (const v of [1, 2]) {
          const view = (await http(svc, `/api/v1/bundles/${id}/versions/${v}`)).body;
          const file = readJson(join(kit, 'bundles', id, `v${v}.bundle.json`));
          expect(file.dsseEnvelope).toEqual(view.bundle.dsseEnvelope);
          expect(file.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
          if (v === 2) expect(readJson(join(kit, 'bundles', id, 'v2.attestation.json')).dsseEnvelope).toEqual(view.attestation.dsseEnvelope);
        }
        const history = readJson(join(kit, 'bundles', id, 'history.json'));
        expect(history).toMatchObject({ bundleId: id, latestVersion: 2 });
        expect(history.versions.map((v: Json) => v.reason)).toEqual([expect.any(String), 'monthly rotation']);
      }
    });

    it('writes a README for the air-gapped verifier: each file, the fingerprints and the commands', () => {
      const readme = readFileSync(join(kit, 'README.md'), 'utf8');
      for (const f of ['trusted_root.json', 'anchors/<version>.json', 'anchors.json', 'checkpoint', 'bundles/<bundleId>/v<n>.bundle.json', 'bundles/<bundleId>/v<n>.attestation.json', 'bundles/<bundleId>/history.json', 'kit.json']) expect(readme).toContain(`\`${f}`);
      expect(readme).toMatch(/trusted on first use/);
      expect(readme).toContain(`sigledger verify --bundle bundles/${a.bundleId}/v2.bundle.json --trust .`);
      expect(readme).toContain('--artifact FILE');
      const manifest = readJson(join(kit, 'kit.json'));
      expect(readme).toContain(`sha256:${manifest.anchors.version1Sha256}`);
      expect(readme).toContain(`sha256:${manifest.trustedRootSha256}`);
    });

    it('writes a manifest listing every file with its SHA-256', () => {
      const manifest = readJson(join(kit, 'kit.json'));
      expect(manifest).toMatchObject({ kind: 'sigledger-offline-kit', formatVersion: 1, complete: true, exportedFrom: svc.url, anchors: { latestVersion: 2 } });
      expect(Object.keys(manifest.files).sort()).toEqual(tree(kit).filter((f) => f !== 'kit.json'));
      for (const [f, digest] of Object.entries(manifest.files)) expect(sha256(readFileSync(join(kit, f)))).toBe(digest);
    });

    it('verifies offline: every file of the kit passes `sigledger verify --trust <kit>`', async () => {
      for (const f of tree(kit).filter((p) => /^bundles\/.*\/v\d+\.(bundle|attestation)\.json$/.test(p))) {
        const r = await runCli(['verify', '--bundle', join(kit, f), '--trust', kit]);
        expect(r.code, r.stdout).toBe(0);
      }
    });
  });

  describe('when the output directory already holds a kit', () => {
    // Issue #15: an export into a previous kit used to delete the bundles not named again; it merges now.
    it('merges: keeps the bundles already there, adds the new ones, deletes nothing and says so', async () => {
      const kit = join(work, 'again');
      expect((await exportKit(kit, '--bundle', a.bundleId)).code).toBe(0);
      const r = await exportKit(kit, '--bundle', b.bundleId);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('bundles: 2 (4 versions, 2 re-signing attestations)');
      expect(r.stdout).toContain('kept 1 bundle already in the kit, exported again at its latest version; nothing was deleted');
      for (const id of [a.bundleId, b.bundleId]) expect(existsSync(join(kit, 'bundles', id, 'v2.bundle.json'))).toBe(true);
      expect(Object.keys(readJson(join(kit, 'kit.json')).bundles).sort()).toEqual([a.bundleId, b.bundleId].sort());
      expect(tree(kit).some((f) => f.endsWith('.tmp'))).toBe(false);
      expect(readFileSync(join(kit, 'README.md'), 'utf8')).toContain(`\`${a.bundleId}\``);
    });

    it('keeps a bundle an earlier export left on disk without listing it (an export that did not complete)', async () => {
      const kit = join(work, 'partial');
      expect((await exportKit(kit, '--bundle', a.bundleId)).code).toBe(0);
      const manifest = readJson(join(kit, 'kit.json'));
      writeFileSync(join(kit, 'kit.json'), JSON.stringify({ ...manifest, complete: false, bundles: {}, files: {} }));
      const r = await exportKit(kit);
      expect(r.code).toBe(0);
      expect(Object.keys(readJson(join(kit, 'kit.json')).bundles)).toEqual([a.bundleId]);
    });

    it('refuses, writing nothing, when a bundle of the kit is not on the service', async () => {
      const kit = join(work, 'foreign');
      expect((await exportKit(kit, '--bundle', a.bundleId)).code).toBe(0);
      const ghost = 'e'.repeat(64);
      mkdirSync(join(kit, 'bundles', ghost));
      const before = readFileSync(join(kit, 'kit.json'), 'utf8');
      const r = await exportKit(kit);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^sigledger kit export: bundle ${ghost}, already in the kit, is not on http://\\S+ \\(GET /api/v1/bundles/${ghost} answered HTTP 404.*\\); nothing was written: export into a new directory`));
      expect(readFileSync(join(kit, 'kit.json'), 'utf8')).toBe(before);
    });
  });

  describe('when the output directory holds a kit of another ledger', () => {
    it('refuses with exit 2 naming both anchors fingerprints, and writes nothing', async () => {
      const kit = join(work, 'other-ledger');
      const other = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off' });
      try {
        expect((await runCli(['kit', 'export', '--url', other.url, '--out', kit], {}, 60_000)).code).toBe(0);
      } finally {
        await other.stop();
      }
      const before = readFileSync(join(kit, 'kit.json'), 'utf8');
      const r = await exportKit(kit, '--bundle', a.bundleId);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/holds a kit of another ledger \(exported from http:\/\/\S+\): its anchors version 1 is sha256:[0-9a-f]{64}, \S+'s is sha256:[0-9a-f]{64}; nothing was written: export into a new directory\n$/);
      expect(readFileSync(join(kit, 'kit.json'), 'utf8')).toBe(before);
      expect(existsSync(join(kit, 'bundles'))).toBe(false);
    });
  });

  describe('when the kit\'s manifest and its anchors version 1 disagree', () => {
    it('refuses with exit 2, and writes nothing', async () => {
      const kit = join(work, 'lying-manifest');
      expect((await exportKit(kit)).code).toBe(0);
      const manifest = readJson(join(kit, 'kit.json'));
      writeFileSync(join(kit, 'kit.json'), JSON.stringify({ ...manifest, anchors: { ...manifest.anchors, version1Sha256: 'ab'.repeat(32) } }));
      const before = readFileSync(join(kit, 'kit.json'), 'utf8');
      const r = await exportKit(kit, '--bundle', a.bundleId);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is inconsistent: kit\.json names anchors version 1 sha256:(ab){32} but anchors\/0000000001\.json is sha256:[0-9a-f]{64}/);
      expect(readFileSync(join(kit, 'kit.json'), 'utf8')).toBe(before);
    });
  });

  describe('when the output directory holds anchors beyond the service\'s latest', () => {
    it('refuses with exit 1, and writes nothing', async () => {
      const kit = join(work, 'older-history');
      expect((await exportKit(kit)).code).toBe(0);
      copyFileSync(join(kit, 'anchors', '0000000002.json'), join(kit, 'anchors', '0000000003.json'));
      const before = readFileSync(join(kit, 'kit.json'), 'utf8');
      const r = await exportKit(kit, '--bundle', a.bundleId);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/holds anchors version 3 but the latest on \S+ is 2 .*nothing was written/);
      expect(readFileSync(join(kit, 'kit.json'), 'utf8')).toBe(before);
    });
  });

  describe('when a directory of the kit is a symbolic link', () => {
    it('refuses with exit 2 and writes nothing through the link', async () => {
      const kit = join(work, 'planted');
      const elsewhere = join(work, 'elsewhere');
      mkdirSync(elsewhere);
      expect((await exportKit(kit)).code).toBe(0);
      symlinkSync(elsewhere, join(kit, 'bundles'));
      const r = await exportKit(kit, '--bundle', a.bundleId);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/the kit's bundles\/ is a symbolic link/);
      expect(readdirSync(elsewhere)).toEqual([]);
    });

    it('refuses a linked bundle directory in a --force directory too', async () => {
      const dir = join(work, 'planted-force');
      const elsewhere = join(work, 'elsewhere-force');
      mkdirSync(join(dir, 'bundles'), { recursive: true });
      mkdirSync(elsewhere);
      symlinkSync(elsewhere, join(dir, 'bundles', a.bundleId));
      const r = await exportKit(dir, '--bundle', a.bundleId, '--force');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`the kit's bundles/${a.bundleId} is a symbolic link`));
      expect(readdirSync(elsewhere)).toEqual([]);
    });
  });

  describe('when the output directory is not empty and not a kit', () => {
    it('refuses with exit 2 and writes nothing', async () => {
      const dir = join(work, 'busy');
      mkdirSync(dir);
      writeFileSync(join(dir, 'notes.txt'), 'mine');
      const r = await exportKit(dir, '--bundle', a.bundleId);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^sigledger kit: --out .* is not empty and is not a sigledger kit \(no kit\.json\); choose an empty directory or add --force\n$/);
      expect(readdirSync(dir)).toEqual(['notes.txt']);
    });

    it('writes into it with --force and leaves the other files alone', async () => {
      const dir = join(work, 'busy');
      const r = await exportKit(dir, '--bundle', a.bundleId, '--force');
      expect(r.code).toBe(0);
      expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
      expect(existsSync(join(dir, 'bundles', a.bundleId, 'v1.bundle.json'))).toBe(true);
    });
  });

  describe('when no --bundle is given', () => {
    it('exports the trust material only and says so in the README', async () => {
      const kit = join(work, 'trust-only');
      const r = await exportKit(kit);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('bundles: 0 (0 versions, 0 re-signing attestations)');
      expect(tree(kit)).toEqual(['README.md', 'anchors.json', 'anchors/0000000001.json', 'anchors/0000000002.json', 'checkpoint', 'kit.json', 'trusted_root.json']);
      expect(readFileSync(join(kit, 'README.md'), 'utf8')).toContain('this kit holds the trust material only');
    });
  });

  describe('when a requested bundle does not exist', () => {
    it('exits 1 naming it and writes nothing', async () => {
      const kit = join(work, 'missing');
      const r = await exportKit(kit, '--bundle', a.bundleId, '--bundle', 'f'.repeat(64));
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`sigledger kit export: GET /api/v1/bundles/${'f'.repeat(64)} answered HTTP 404: not_found: no bundle ${'f'.repeat(64)}\n`);
      expect(existsSync(kit)).toBe(false);
    });
  });

  describe('when the service cannot be reached', () => {
    it('exits 1 with one line', async () => {
      const server = createServer();
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      const { port } = server.address() as AddressInfo;
      await new Promise((ok) => server.close(ok));
      const r = await runCli(['kit', 'export', '--url', `http://127.0.0.1:${port}`, '--out', join(work, 'unreachable')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`sigledger kit export: cannot reach http://127.0.0.1:${port} (ECONNREFUSED)\n`);
    });
  });

  describe('when the command is used wrongly', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['no subcommand', () => ['kit', '--url', svc.url, '--out', join(work, 'x')], /unknown subcommand "\(none\)"/],
      ['an unknown subcommand', () => ['kit', 'import', '--url', svc.url, '--out', join(work, 'x')], /unknown subcommand "import"/],
      ['--out missing', () => ['kit', 'export', '--url', svc.url], /--url and --out are required/],
      ['--url missing', () => ['kit', 'export', '--out', join(work, 'x')], /--url and --out are required/],
      ['a URL that is not http(s)', () => ['kit', 'export', '--url', 'ftp://example.com', '--out', join(work, 'x')], /--url must be an http\(s\) URL/],
      ['a bundle id that is not one', () => ['kit', 'export', '--url', svc.url, '--out', join(work, 'x'), '--bundle', '../../etc'], /--bundle must be a bundle id/],
      ['--out naming a file', () => ['kit', 'export', '--url', svc.url, '--out', join(work, 'busy', 'notes.txt')], /exists and is not a directory/],
    ];
    for (const [what, args, message] of cases) {
      it(`exits 2 with one line for ${what}`, async () => {
        const r = await runCli(args());
        expect(r.code).toBe(2);
        expect(r.stderr.split('\n')[0]).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(existsSync(join(work, 'x'))).toBe(false);
      });
    }
  });
});
