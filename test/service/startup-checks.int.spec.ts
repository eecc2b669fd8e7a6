/**
 * Start-up checks that must refuse before the data directory is touched: the real `sigledger
 * serve` on a fresh --data path exits 2 with one line and leaves nothing behind. An existing
 * ledger is never refused for its configured thresholds (the anchors' are in force).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startServe } from '../support/cli.ts';

const listening = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

describe('service start-up checks', () => {
  let root: string;
  let dataDir: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'sigledger-startup-'));
    dataDir = join(root, 'data');
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  describe('when the port is already in use', () => {
    let blocker: Server;
    beforeEach(() => {
      blocker = createServer();
    });
    afterEach(async () => {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    });

    it('exits 2 naming the port, and creates no data directory', async () => {
      const port = await listening(blocker);
      const r = await runCli(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', dataDir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(dataDir)).toBe(false);
    });
  });

  describe('when a ceremony threshold needs more approvals than there are approvers', () => {
    it('exits 2 with one line for 4 of 3 dev approvers, and writes nothing', async () => {
      const r = await runCli(['serve', '--port', '0', '--data', dataDir], { SIGLEDGER_CEREMONY_THRESHOLDS: '{"rotate-key":4}' });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/rotate-key needs 4/);
      expect(r.stderr).toMatch(/3 approvers \(dev mode\)/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(dataDir)).toBe(false);
      expect(readdirSync(root)).toEqual([]);
    });
  });

  describe('when the ledger exists and SIGLEDGER_CEREMONY_THRESHOLDS is changed to one it could not start with', () => {
    it('starts, warns that the anchors decide, and keeps the thresholds in force', async () => {
      const first = await startServe(['--port', '0', '--data', dataDir]);
      first.child.kill('SIGTERM');
      await first.exited; // how it stopped is serve.int.spec's subject; here only that the ledger exists

      const again = await startServe(['--port', '0', '--data', dataDir], { SIGLEDGER_CEREMONY_THRESHOLDS: '{"rotate-key":4}' });
      try {
        const anchors = (await (await fetch(`${again.url}/api/v1/trust/anchors`)).json()) as { thresholds?: Record<string, number> };
        expect(anchors.thresholds?.['rotate-key']).not.toBe(4);
        expect(again.output().stdout).toMatch(/differs from the thresholds in the trust anchors/);
        expect(again.output().stdout + again.output().stderr).not.toMatch(/cannot be reached/);
      } finally {
        again.child.kill('SIGTERM');
        await again.exited;
      }
    });
  });

  describe('when a first start failed after writing keys but before anchors version 1', () => {
    it('still treats the ledger as new: unreachable thresholds exit 2, reachable ones start', async () => {
      mkdirSync(join(dataDir, 'dev'), { recursive: true });
      writeFileSync(join(dataDir, 'dev', 'approvers'), 'not a directory'); // the dev approvers cannot be written
      const failed = await runCli(['serve', '--port', '0', '--data', dataDir]);
      expect(failed.code).not.toBe(0);
      expect(existsSync(join(dataDir, 'events.db'))).toBe(true);
      rmSync(join(dataDir, 'dev', 'approvers'));

      const refused = await runCli(['serve', '--port', '0', '--data', dataDir], { SIGLEDGER_CEREMONY_THRESHOLDS: '{"rotate-key":4}' });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/rotate-key needs 4/);

      const started = await startServe(['--port', '0', '--data', dataDir]);
      try {
        const anchors = (await (await fetch(`${started.url}/api/v1/trust/anchors`)).json()) as { version: number };
        expect(anchors.version).toBe(1);
      } finally {
        started.child.kill('SIGTERM');
        await started.exited;
      }
    });
  });
});
