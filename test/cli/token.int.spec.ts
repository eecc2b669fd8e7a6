/**
 * `sigledger token` only loads the dev issuer a service created (issue #15): against a data
 * directory that is missing or was never served it refuses with exit 2, naming where it looked,
 * and creates nothing.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { useTempDir } from '../support/temp-dir.ts';
import { startTestService, type TestService } from '../support/service.ts';

describe('sigledger token', () => {
  const work = useTempDir('sigledger-token-', 'all');

  describe('when the data directory does not exist', () => {
    it('refuses with exit 2 naming it and creates nothing', async () => {
      const dir = join(work(), 'nope');
      const r = await runCli(['token', '--data', dir], { SIGLEDGER_AUTH_MODE: 'dev' });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`sigledger token: the data directory ${dir} does not exist: start the service once with it (sigledger serve --data ${dir}), or name the data directory the service uses with --data DIR or SIGLEDGER_DATA_DIR\n`);
      expect(r.stdout).toBe('');
      expect(existsSync(dir)).toBe(false);
    });
  });

  describe('when the data directory was never served (no dev issuer)', () => {
    it('refuses with exit 2 naming the directory and the files it looked for, and creates no issuer', async () => {
      const dir = mkdtempSync(join(work(), 'empty-'));
      const r = await runCli(['token'], { SIGLEDGER_DATA_DIR: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`sigledger token: no dev issuer in ${dir} (looked for dev/optok-issuer.key and dev/poe-issuer.key; sigledger token never creates one)`);
      expect(readdirSync(dir)).toEqual([]);
    });
  });

  describe('when the service initialised the data directory', () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off' });
    });
    afterAll(async () => svc?.stop());

    it('prints tokens the service accepts', async () => {
      const r = await runCli(['token', '--data', svc.dataDir, '--tenant', 'acme']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const t = JSON.parse(r.stdout) as { authorization: string; poe: string };
      expect(t.authorization).toMatch(/^Bearer ey/);
      const res = await fetch(`${svc.url}/api/v1/signer/sign/dsse`, {
        method: 'POST',
        headers: { authorization: t.authorization, 'x-proof-of-entitlement': t.poe, 'content-type': 'application/json' },
        body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from('x').toString('base64') }),
      });
      expect(res.status).toBe(201);
    });
  });
});
