/**
 * Log leaves of any size (issue 16, deliver 8): an event whose SPEC §3 leaf would exceed the 65535
 * bytes a C2SP entry bundle holds gets its digest leaf, so the log projection never stalls on it.
 * Through the real SQLite store: the projection folds past it (also after a restart from the
 * read model), and in the running service a checkpoint covers it, its inclusion proof verifies,
 * a later bundle verifies (kit export + `sigledger verify`) and `sigledger replay` is clean.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/hash.ts';
import { jcs, jcsBytes } from '../../src/crypto/jcs.ts';
import { inclusionProof } from '../../src/log/merkle.ts';
import { decodeEntryBundle } from '../../src/log/tiles.ts';
import { LogProjection, LogReader } from '../../src/projections/log.ts';
import { ProjectionRuntime } from '../../src/projections/runtime.ts';
import type { NewEvent } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { SqliteReadModelStore } from '../../src/store/sqlite/sqlite-read-model.ts';
import { runCli } from '../support/cli.ts';
import { leafHash, mth, verifyInclusion } from '../support/rfc9162-verifier.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { verifyBundle, type ApiKey } from '../support/sigstore.ts';

type Json = Record<string, any>;
const TIME = '2026-11-23T00:00:00Z';
const ev = (type: string, data: Json): NewEvent => ({ type, data: data as never, metadata: { time: TIME } });

/** An anchors-shaped document with `n` keys (each ~190 bytes of JCS: 600 keys is over 64 KiB). */
const anchorsDocument = (n: number) => ({
  version: 2,
  issuedAt: TIME,
  keys: Object.fromEntries(
    Array.from({ length: n }, (_, i) => [sha256Hex(`key ${i}`), { rawBytes: Buffer.alloc(44, i % 256).toString('base64'), keyDetails: 'PKIX_ED25519', validFor: { start: TIME } }]),
  ),
  signatures: [{ keyid: 'approver-1', sig: Buffer.alloc(64, 1).toString('base64') }],
});
/** The digest leaf, written out from docs/CONTRACT.md rather than with the code under test. */
const digestLeaf = (stream: string, revision: number, type: string, data: unknown) =>
  Buffer.from(`{"dataSha256":"${sha256Hex(jcs(data))}","revision":${revision},"stream":${JSON.stringify(stream)},"type":${JSON.stringify(type)}}`, 'utf8');
const fullLeaf = (stream: string, revision: number, type: string, data: unknown) => jcsBytes({ stream, revision, type, data });

describe('log projection', () => {
  let dir: string;
  let store: SqliteEventStore;
  let opened: { runtime: ProjectionRuntime; readModel: SqliteReadModelStore }[];
  const start = () => {
    const readModel = new SqliteReadModelStore(join(dir, 'readmodel.db'));
    const runtime = new ProjectionRuntime({ store, readModel, projections: [new LogProjection()], retryDelayMs: { min: 10, max: 50 } });
    runtime.start();
    opened.push({ runtime, readModel });
    return { runtime, reader: new LogReader(readModel) };
  };
  const stopAll = async () => {
    for (const o of opened.splice(0)) {
      await o.runtime.stop();
      o.readModel.close();
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigledger-log-large-'));
    store = new SqliteEventStore({ path: join(dir, 'events.db'), pollIntervalMs: 50 });
    opened = [];
  });
  afterEach(async () => {
    await stopAll();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when an event over 64 KiB (an anchors document with 600 keys) is appended through the SQLite store', () => {
    it('folds past it with its digest leaf, in a C2SP entry bundle, with a verifying inclusion proof, also after a restart', async () => {
      const doc = anchorsDocument(600);
      expect(jcs(doc).length).toBeGreaterThan(0xffff);
      await store.appendToStream('probe', [ev('Small', { n: 0 })]);
      await store.appendToStream('anchors', [ev('AnchorsPublished', doc)]);
      const r = await store.appendToStream('probe', [ev('Small', { n: 1 })]);
      const { runtime, reader } = start();
      await runtime.waitFor(r.lastPosition, 30_000);

      const leaves = [fullLeaf('probe', 0, 'Small', { n: 0 }), digestLeaf('anchors', 0, 'AnchorsPublished', doc), fullLeaf('probe', 1, 'Small', { n: 1 })];
      expect(reader.size()).toBe(3);
      expect(reader.leafData(1)?.equals(leaves[1]!)).toBe(true);
      expect(decodeEntryBundle(reader.entryBundle(0)!).map((e) => Buffer.from(e).toString('utf8'))).toEqual(leaves.map((l) => l.toString('utf8')));
      const root = mth(leaves.map(leafHash));
      expect(reader.rootAt(3).equals(root)).toBe(true);
      expect(verifyInclusion(leafHash(leaves[1]!), 1, 3, inclusionProof(1, 3, reader.node), root)).toBe(true);

      // A restart restores the open entry bundle (holding the digest leaf) from the read model.
      await stopAll();
      const last = await store.appendToStream('probe', [ev('Small', { n: 2 })]);
      const again = start();
      await again.runtime.waitFor(last.lastPosition, 30_000);
      leaves.push(fullLeaf('probe', 2, 'Small', { n: 2 }));
      expect(again.reader.size()).toBe(4);
      expect(again.reader.rootAt(4).equals(mth(leaves.map(leafHash)))).toBe(true);
      expect(decodeEntryBundle(again.reader.entryBundle(0)!)).toHaveLength(4);
    }, 60_000);
  });
});

describe('log in the running service', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-log-large-svc-'));
  const work = mkdtempSync(join(tmpdir(), 'sigledger-log-large-kit-'));
  let svc: TestService | undefined;
  const big = { blob: 'y'.repeat(100_000), note: 'an event the store accepts' };
  let signed: Json;
  let checkpointSize = 0;
  let largeIndex = -1;
  let entry: Json;

  const get = async (path: string) => (await fetch(`${svc!.url}${path}`)).json() as Promise<Json>;

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' }, { dataDir });
    await svc.ledger.store.appendToStream('probe-large', [ev('LargeProbe', big)]);
    // A signing answers only once a checkpoint covers its leaf: the log went past the large one.
    const res = await fetch(`${svc.url}/api/v1/signer/sign/dsse`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await svc.tokens()) },
      body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from('after a large event').toString('base64') }),
    });
    expect(res.status).toBe(201);
    signed = (await res.json()) as Json;
    checkpointSize = Number(signed.bundle.verificationMaterial.tlogEntries[0].inclusionProof.treeSize);
    const expected = digestLeaf('probe-large', 0, 'LargeProbe', big).toString('base64');
    for (let i = 0; i < checkpointSize && largeIndex < 0; i++) {
      const e = await get(`/api/v1/log/entries/${i}`);
      if (e.canonicalizedBody === expected) [largeIndex, entry] = [i, e];
    }
  }, 60_000);

  afterAll(async () => {
    await svc?.stop();
    for (const d of [dataDir, work]) rmSync(d, { recursive: true, force: true });
  });

  describe('when an event with a 100 KB leaf is appended', () => {
    it('logs its digest leaf under a checkpoint that covers it, and its inclusion proof verifies', async () => {
      expect(largeIndex).toBeGreaterThanOrEqual(0);
      expect(signed.logIndex).toBeGreaterThan(largeIndex);
      const { hashes, treeSize, rootHash } = entry.inclusionProof as { hashes: string[]; treeSize: string; rootHash: string };
      expect(Number(treeSize)).toBeGreaterThan(largeIndex);
      const leaf = Buffer.from(entry.canonicalizedBody as string, 'base64');
      expect(verifyInclusion(leafHash(leaf), largeIndex, Number(treeSize), hashes.map((h) => Buffer.from(h, 'base64')), Buffer.from(rootHash, 'base64'))).toBe(true);
      // The C2SP entry bundle route serves it length-prefixed like any other entry.
      const width = Math.min(Number(treeSize), 256);
      const tile = Buffer.from(await (await fetch(`${svc!.url}/api/v1/log/tile/entries/000${width === 256 ? '' : `.p/${width}`}`)).arrayBuffer());
      expect(decodeEntryBundle(tile)[largeIndex]?.equals(leaf)).toBe(true);
    });

    it('still gives bundles that verify with @sigstore/verify, and through kit export + `sigledger verify`', async () => {
      const root = await get('/api/v1/trust/trusted_root.json');
      const keys = (await (await fetch(`${svc!.url}/api/v1/keys`)).json()) as ApiKey[];
      verifyBundle(signed.bundle, keys, root);
      const kit = join(work, 'kit');
      const exported = await runCli(['kit', 'export', '--url', svc!.url, '--out', kit], {}, 60_000);
      expect(exported.code, exported.stderr).toBe(0);
      const file = join(work, 'signed.bundle.json');
      writeFileSync(file, JSON.stringify(signed.bundle));
      const r = await runCli(['verify', '--bundle', file, '--trust', kit], {}, 60_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }, 120_000);

    it('leaves `sigledger replay` clean over the whole history', async () => {
      await svc!.stop();
      svc = undefined;
      const r = await runCli(['replay', '--data', dataDir, '--json'], {}, 60_000);
      expect(r.stderr).toBe('');
      const report = JSON.parse(r.stdout) as Json;
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(r.code).toBe(0);
      expect(report.checks.checkpoints.checked).toBeGreaterThan(0);
      expect(report.checks.checkpoints.leaves).toBeGreaterThan(largeIndex);
      expect(report.checks.readModels.compared).toBeGreaterThan(0);
    }, 90_000);
  });
});
