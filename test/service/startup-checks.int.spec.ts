/**
 * Start-up checks that must refuse before the data directory is touched: the real `sigledger
 * serve` on a fresh --data path exits 2 with one line and leaves nothing behind.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

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
});
