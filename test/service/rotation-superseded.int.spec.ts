/**
 * Issue #16, finding 3: two rotations open at once; the first executes; the second, approved
 * afterwards, has no outgoing key left to rotate. It must end (state `superseded`), and
 * `sigledger approve` following it must stop and say so instead of waiting forever. The history
 * then replays clean.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devApproverPath } from '../../src/app/trust/approvers-service.ts';
import { runCli } from '../support/cli.ts';
import { http } from '../support/http.ts';
import { startTestService, type TestService } from '../support/service.ts';

describe('rotation superseded by another (int)', () => {
  let dataDir: string;
  let svc: TestService;
  const approve = (ceremonyId: string, n: number) =>
    runCli(['approve', '--url', svc.url, '--ceremony', ceremonyId, '--key', devApproverPath(dataDir, n), '--yes', '--timeout', '60'], {}, 90_000);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sigledger-superseded-'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' }, { dataDir });
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('when a second rotation is approved after the first replaced the key', () => {
    it('ends superseded, approve exits 1 saying so, and replay is clean', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      const first = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'first' } });
      const second = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'second' } });
      expect([first.status, second.status]).toEqual([202, 202]);

      expect((await approve(first.body.ceremonyId, 1)).code).toBe(0);
      const done = await approve(first.body.ceremonyId, 2);
      expect(done.code).toBe(0);
      expect(done.stdout).toContain('"state":"completed"');

      expect((await approve(second.body.ceremonyId, 1)).code).toBe(0);
      const superseded = await approve(second.body.ceremonyId, 2);
      expect(superseded.code).toBe(1);
      expect(superseded.stderr + superseded.stdout).toMatch(/superseded: its outgoing key \S+ was already replaced by another rotation/);
      const view = await http(svc, `/api/v1/rotations/${second.body.rotationId}`);
      expect(view.body).toMatchObject({ state: 'superseded', progress: { resigned: 0, remaining: 0, failed: 0 } });
      expect((await http(svc, `/api/v1/ceremonies/${second.body.ceremonyId}`)).body.state).toBe('executed');

      await svc.stop();
      const replay = await runCli(['replay', '--data', dataDir, '--json'], {}, 120_000);
      expect(replay.stderr).toBe('');
      expect(JSON.parse(replay.stdout)).toMatchObject({ ok: true, problems: [] });
      svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off' }, { dataDir });
      expect((await http(svc, `/api/v1/rotations/${second.body.rotationId}`)).body.state).toBe('superseded');
    }, 180_000);
  });
});
