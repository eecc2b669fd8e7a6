/**
 * `sigledger replay` over a real history with signings, a rotation and a revocation: clean; then
 * one byte of one stored event changed, one checkpoint forged (with the hash chain re-sealed so
 * only the checkpoint check can see it), or one event deleted: exit 1 naming the position.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jcs } from '../../src/crypto/jcs.ts';
import { canonicalEventText, chainHash } from '../../src/store/chain.ts';
import { runCli } from '../support/cli.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { devApproval } from '../support/approvers.ts';

type Json = Record<string, any>;

async function call(svc: TestService, path: string, init: { method?: string; headers?: Record<string, string>; json?: unknown } = {}): Promise<Json> {
  const res = await fetch(`${svc.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  return (await res.json()) as Json;
}

async function approveWith(svc: TestService, ceremony: Json, n: number): Promise<void> {
  await call(svc, `/api/v1/ceremonies/${ceremony.ceremonyId}/approvals`, { method: 'POST', json: devApproval(svc.dataDir, n, ceremony.proposal) });
}

async function until(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await fn()); i++) await new Promise((r) => setTimeout(r, 25));
}

describe('sigledger replay', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-replay-'));
  const copies: string[] = [];
  const copy = () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigledger-replay-copy-'));
    cpSync(dataDir, dir, { recursive: true });
    copies.push(dir);
    return dir;
  };
  const rows = (dir: string, sql: string, ...args: unknown[]) => {
    const db = new Database(join(dir, 'events.db'));
    try {
      return db.prepare(sql).all(...args) as Json[];
    } finally {
      db.close();
    }
  };
  const exec = (dir: string, fn: (db: Database.Database) => void) => {
    const db = new Database(join(dir, 'events.db'));
    try {
      fn(db);
    } finally {
      db.close();
    }
  };

  /** Rewrites one event's data and recomputes every hash of its stream, so the chain still verifies. */
  const forgeAndReseal = (dir: string, position: number, forge: (data: Json) => void) => {
    const stream = rows(dir, 'SELECT stream FROM events WHERE position = ?', position)[0]!.stream as string;
    exec(dir, (db) => {
      let previous: string | null = null;
      for (const e of rows(dir, 'SELECT * FROM events WHERE stream = ? ORDER BY revision', stream)) {
        let dataJson = String(e.data);
        if (e.position === position) {
          const data = JSON.parse(dataJson) as Json;
          forge(data);
          dataJson = jcs(data);
        }
        const hash = chainHash(previous, canonicalEventText(e.stream, e.revision, { id: e.id, type: e.type, dataJson, metadataJson: e.metadata }));
        db.prepare('UPDATE events SET data = ?, hash = ? WHERE position = ?').run(dataJson, hash, e.position);
        previous = hash;
      }
    });
  };

  beforeAll(async () => {
    const svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10', SIGLEDGER_ROTATION_CRON: 'off' }, { dataDir });
    try {
      const signer = await svc.tokens();
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      for (let i = 0; i < 6; i++) await call(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from(`replay ${i}`).toString('base64') } });
      const rotation = await call(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'replay test' } });
      const ceremony = await call(svc, `/api/v1/ceremonies/${rotation.ceremonyId}`);
      await approveWith(svc, ceremony, 1);
      await approveWith(svc, ceremony, 2);
      await until(async () => (await call(svc, `/api/v1/rotations/${rotation.rotationId}`)).state === 'completed');
      const old = (await call(svc, `/api/v1/rotations/${rotation.rotationId}`)).oldKeyId;
      const revoke = await call(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'revoke-key', keyId: old }, reason: 'retire for good' } });
      await approveWith(svc, revoke, 2);
      await approveWith(svc, revoke, 3);
      await until(async () => (await call(svc, `/api/v1/ceremonies/${revoke.ceremonyId}`)).state === 'executed');
      await call(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from('after revoke').toString('base64') } });
      await new Promise((r) => setTimeout(r, 100)); // the last checkpoint
    } finally {
      await svc.stop();
    }
  }, 60_000);

  afterAll(() => {
    for (const d of [dataDir, ...copies]) rmSync(d, { recursive: true, force: true });
  });

  describe('when the history is intact', () => {
    it('reports clean with every check run, and exits 0', async () => {
      const r = await runCli(['replay', '--data', dataDir, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as Json;
      expect(report.ok).toBe(true);
      expect(report.problems).toEqual([]);
      expect(report.checks.signatures.checked).toBeGreaterThan(6 + 6 + 6 + 2);
      expect(report.checks.checkpoints.checked).toBeGreaterThan(0);
      expect(report.checks.ceremonies).toMatchObject({ executed: 2, approvals: 4 });
      expect(report.checks.anchors).toMatchObject({ versions: 3, chained: 2 });
      expect(report.checks.readModels.compared).toBeGreaterThan(5);
      expect(report.checks.readModels.skipped).toBeUndefined();
      const human = await runCli(['replay', '--data', dataDir]);
      expect(human.code).toBe(0);
      expect(human.stdout).toContain('clean: nothing was altered');
    });
  });

  describe('when one byte of one stored event is changed', () => {
    it('exits 1 naming that position', async () => {
      const dir = copy();
      const [target] = rows(dir, "SELECT position, data FROM events WHERE type = 'BundleSigned' ORDER BY position LIMIT 1 OFFSET 2");
      const data = String(target!.data);
      const i = data.indexOf('"payloadSha256":"') + 17;
      const flipped = data.slice(0, i) + (data[i] === 'a' ? 'b' : 'a') + data.slice(i + 1);
      exec(dir, (db) => db.prepare('UPDATE events SET data = ? WHERE position = ?').run(flipped, target!.position));
      const r = await runCli(['replay', '--data', dir]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`FAILED: first bad position ${target!.position}`);
      expect(r.stdout).toMatch(/\[chain\] .*hash mismatch/);
    });
  });

  describe('when a checkpoint is forged and the hash chain re-sealed over it', () => {
    it('exits 1 naming the checkpoint position (only the checkpoint check can see it)', async () => {
      const dir = copy();
      const target = rows(dir, "SELECT position FROM events WHERE stream = 'log' AND type = 'CheckpointPublished' AND revision > 2 ORDER BY revision LIMIT 1")[0]!;
      // Claim another root, and re-seal the log stream's hashes over it.
      forgeAndReseal(dir, target.position, (data) => (data.rootHash = Buffer.alloc(32, 7).toString('base64')));
      const r = await runCli(['replay', '--data', dir, '--json']);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as Json;
      expect(report.problems.some((p: Json) => p.check === 'chain')).toBe(false);
      expect(report.firstBadPosition).toBe(target.position);
      expect(report.problems[0]).toMatchObject({ position: target.position, check: 'checkpoints' });
    });
  });

  describe('when a signature is forged and the hash chain re-sealed over it', () => {
    it('exits 1: the worker threads find the signature that does not verify', async () => {
      const dir = copy();
      const [target] = rows(dir, "SELECT position FROM events WHERE type = 'BundleSigned' ORDER BY position LIMIT 1 OFFSET 1");
      forgeAndReseal(dir, target!.position, (data) => {
        const sig = Buffer.from(data.envelope.signatures[0].sig, 'base64');
        sig[5]! ^= 1;
        data.envelope.signatures[0].sig = sig.toString('base64');
      });
      const r = await runCli(['replay', '--data', dir, '--json']);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as Json;
      expect(report.firstBadPosition).toBe(target!.position);
      expect(report.problems).toContainEqual(expect.objectContaining({ position: target!.position, check: 'signatures', message: expect.stringContaining('does not verify') }));
      expect(report.problems.some((p: Json) => p.check === 'chain')).toBe(false);
    });
  });

  describe('when one event is deleted', () => {
    it('exits 1 naming the position where the gap shows', async () => {
      const dir = copy();
      const stream = rows(dir, "SELECT stream FROM events WHERE type = 'BundleResigned' LIMIT 1")[0]!.stream as string;
      const events = rows(dir, 'SELECT position, revision, type FROM events WHERE stream = ? ORDER BY revision', stream);
      expect(events.map((e) => e.type)).toEqual(['BundleSigned', 'BundleResigned', 'ResigningAttested']);
      exec(dir, (db) => db.prepare('DELETE FROM events WHERE position = ?').run(events[1]!.position));
      const r = await runCli(['replay', '--data', dir]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`FAILED: first bad position ${events[2]!.position}`);
      expect(r.stdout).toMatch(/an event is missing or reordered/);
    });
  });
});
