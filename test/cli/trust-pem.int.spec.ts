/**
 * `sigledger trust pem` through the real bin against a real in-process service: the PEM files it
 * writes are exactly what `openssl ts -verify` needs for a timestamp from the service's TSA.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { startTestService, type TestService } from '../support/service.ts';

const openssl = (args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });

describe('sigledger trust pem', () => {
  let svc: TestService;
  let work: string;
  const pem = (out: string, ...extra: string[]) => runCli(['trust', 'pem', '--url', svc.url, '--out', out, ...extra]);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sigledger-pem-'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' });
  });
  afterAll(async () => {
    await svc?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('when a timestamp of the service is verified with openssl and the files it wrote', () => {
    let result: Awaited<ReturnType<typeof runCli>>;
    let dir: string;
    beforeAll(async () => {
      dir = join(work, 'pem');
      result = await pem(dir);
    });

    it('writes tsa.pem, tsa-root.pem and tsa-chain.pem and says how to use them', () => {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      for (const f of ['tsa.pem', 'tsa-root.pem', 'tsa-chain.pem']) expect(readFileSync(join(dir, f), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
      expect(readFileSync(join(dir, 'tsa-chain.pem'), 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect(result.stdout).toMatch(/SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
      expect(result.stdout).toContain(`-CAfile ${join(dir, 'tsa-root.pem')} -untrusted ${join(dir, 'tsa-chain.pem')}`);
    });

    it('lets `openssl ts -verify` accept a reply of POST /api/v1/timestamp: "Verification: OK"', async () => {
      writeFileSync(join(work, 'data.txt'), 'what was timestamped\n');
      const query = join(work, 'q.tsq');
      const reply = join(work, 'r.tsr');
      execFileSync('openssl', ['ts', '-query', '-data', join(work, 'data.txt'), '-sha256', '-cert', '-out', query], { stdio: 'pipe' });
      const res = await fetch(`${svc.url}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: readFileSync(query) });
      expect(res.status).toBe(200);
      writeFileSync(reply, Buffer.from(await res.arrayBuffer()));
      const ok = openssl(['ts', '-verify', '-in', reply, '-queryfile', query, '-CAfile', join(dir, 'tsa-root.pem'), '-untrusted', join(dir, 'tsa-chain.pem')]);
      expect(`${ok.stdout}${ok.stderr}`).toMatch(/Verification: OK/);
      const leafOnly = openssl(['ts', '-verify', '-in', reply, '-queryfile', query, '-CAfile', join(dir, 'tsa-root.pem'), '-untrusted', join(dir, 'tsa.pem')]);
      expect(`${leafOnly.stdout}${leafOnly.stderr}`).toMatch(/Verification: OK/);
      // The check can fail: the leaf is no trust anchor.
      const wrong = openssl(['ts', '-verify', '-in', reply, '-queryfile', query, '-CAfile', join(dir, 'tsa.pem')]);
      expect(`${wrong.stdout}${wrong.stderr}`).not.toMatch(/Verification: OK/);
    });
  });

  describe('when the files exist already', () => {
    it('refuses with exit 2 naming them and leaves them as they were', async () => {
      const dir = join(work, 'busy');
      mkdirSync(dir);
      writeFileSync(join(dir, 'tsa-root.pem'), 'mine');
      const r = await pem(dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^sigledger trust: --out .* already has tsa-root\.pem; nothing was written \(add --force to replace it\)\n$/);
      expect(readFileSync(join(dir, 'tsa-root.pem'), 'utf8')).toBe('mine');
      expect(existsSync(join(dir, 'tsa.pem'))).toBe(false);
    });

    it('replaces them with --force', async () => {
      const dir = join(work, 'busy');
      const r = await pem(dir, '--force');
      expect(r.code).toBe(0);
      expect(readFileSync(join(dir, 'tsa-root.pem'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    });
  });

  describe('when the command is used wrongly', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['no subcommand', () => ['trust', '--url', svc.url, '--out', join(work, 'x')], /unknown subcommand "\(none\)"/],
      ['--out missing', () => ['trust', 'pem', '--url', svc.url], /--url and --out are required/],
      ['a URL that is not http(s)', () => ['trust', 'pem', '--url', 'ftp://example.com', '--out', join(work, 'x')], /--url must be an http\(s\) URL/],
    ];
    for (const [what, args, message] of cases) {
      it(`exits 2 with one line for ${what}`, async () => {
        const r = await runCli(args());
        expect(r.code).toBe(2);
        expect(r.stderr.split('\n')[0]).toMatch(message);
        expect(existsSync(join(work, 'x'))).toBe(false);
      });
    }
  });
});
