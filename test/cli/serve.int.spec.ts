import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startServe } from '../support/cli.ts';
import { useTempDir } from '../support/temp-dir.ts';

describe('sigledger CLI', () => {
  const dir = useTempDir('sigledger-cli-');

  describe('when asked for help', () => {
    it('lists the commands and exits 0', async () => {
      const r = await runCli(['--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('serve');
      expect(r.stdout).toContain('--store sqlite|esdb');
    });
  });

  describe('when the configuration is invalid', () => {
    const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
      ['a non-numeric port', ['serve', '--port', 'eighty'], {}, /--port/],
      ['a port out of range', ['serve'], { SIGLEDGER_PORT: '123456' }, /SIGLEDGER_PORT/],
      ['an unknown store', ['serve', '--store', 'mongo'], {}, /sqlite" or "esdb/],
      ['esdb without a URL', ['serve', '--store', 'esdb'], {}, /SIGLEDGER_ESDB_URL/],
      ['an unknown flag', ['serve', '--bogus'], {}, /Unknown option/],
      ['an unknown command', ['frobnicate'], {}, /unknown command/],
    ];
    for (const [what, args, env, message] of cases) {
      it(`prints one clear line for ${what} and exits 2`, async () => {
        const r = await runCli(args, { SIGLEDGER_DATA_DIR: dir(), ...env });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
      });
    }

    it('refuses a data dir() that cannot be created', async () => {
      const file = join(dir(), 'a-file');
      writeFileSync(file, 'x');
      const r = await runCli(['serve', '--port', '0', '--data', join(file, 'sub')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/cannot create the data directory/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  });

  describe('when serving', () => {
    it('prints its URL, answers, and exits 0 on SIGTERM', async () => {
      const serve = await startServe(['--port', '0', '--data', dir()]);
      const health = await fetch(`${serve.url}/healthz`);
      expect(health.status).toBe(200);
      const inflight = Array.from({ length: 20 }, () => fetch(`${serve.url}/metrics`).then((r) => r.status));
      await inflight[0];
      serve.child.kill('SIGTERM');
      const statuses = await Promise.allSettled(inflight);
      const { code, signal } = await serve.exited;
      expect(signal).toBeNull();
      expect(code).toBe(0);
      expect(statuses.filter((s) => s.status === 'fulfilled' && s.value === 200).length).toBeGreaterThan(0);
      expect(serve.output().stderr).not.toMatch(/\n\s+at /);
    });

    it('exits 0 on SIGINT and refuses a second instance on the same port with exit 2', async () => {
      const serve = await startServe(['--port', '0', '--data', dir()]);
      const port = new URL(serve.url).port;
      const second = await runCli(['serve', '--port', port, '--data', join(dir(), 'second')]);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(/already in use/);
      serve.child.kill('SIGINT');
      expect((await serve.exited).code).toBe(0);
    });
  });
});
