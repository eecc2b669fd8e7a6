/**
 * Append throughput of the SQLite event store against the raw better-sqlite3 primitive.
 *
 *   npm run bench:store            (node --import tsx bench/store.bench.ts)
 *
 * All in one process, each scenario on a fresh database file in a temporary directory on the
 * same filesystem as the repository (never tmpfs, where fsync costs nothing):
 *
 *   (a) one appender, sequential awaits, one event per append (one commit + fsync per append);
 *   (b) BENCH_CONCURRENCY (64) appenders, one stream each, each awaiting its own appends of one
 *       event: group commit turns them into shared transactions;
 *   (c) baseline: a prepared INSERT of precomputed rows (the very rows (b) stores: same ids,
 *       canonical JSON and hashes) into an identical table, WAL, synchronous=FULL,
 *       BENCH_CONCURRENCY rows per transaction.
 *
 * (b) and (c) run BENCH_ROUNDS times, alternating which goes first, so that drift in fsync
 * latency (other load on the machine) hits both alike; the headline is the median of the
 * per-round (b)/(c) ratios. Prints appends/s, (b)/(c) against the target ≥ 0.5 (PASS/FAIL; exit
 * code 1 on FAIL), (a)/(c) for information, and one JSON line last.
 *
 * Environment: BENCH_N (events per scenario, default 20000), BENCH_SEQ_N (events for (a), one
 * fsync each, default min(BENCH_N, 5000): its rate does not depend on the count), BENCH_CONCURRENCY (default 64), BENCH_ROUNDS (default 3), BENCH_WARMUP
 * (events per warm-up run, default 2000), BENCH_DIR (parent of the temporary directory).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { canonicalEventText, chainHash, prepareEvents } from '../src/store/chain.ts';
import type { NewEvent } from '../src/store/event-store.ts';
import { SqliteEventStore } from '../src/store/sqlite/sqlite-event-store.ts';

const TARGET = 0.5;
const intEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
};
const N = intEnv('BENCH_N', 20_000);
const SEQ_N = intEnv('BENCH_SEQ_N', Math.min(N, 5_000));
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 64);
const ROUNDS = intEnv('BENCH_ROUNDS', 3);
const WARMUP = intEnv('BENCH_WARMUP', 2_000);

// ---------------------------------------------------------------------------------------------
// Where to write: the repository's filesystem, not tmpfs.

const REPO = fileURLToPath(new URL('../', import.meta.url));
const FS_NAMES: Record<number, string> = {
  0xef53: 'ext2/3/4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x858458f6: 'ramfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0x6a656a63: 'fakeowner',
};
const fsName = (type: number) => `${FS_NAMES[type] ?? 'unknown'} (0x${type.toString(16)})`;
const inMemoryFs = (type: number) => type === 0x01021994 || type === 0x858458f6;

function benchParent(): string {
  if (process.env.BENCH_DIR) return process.env.BENCH_DIR;
  const tmp = tmpdir();
  const sameDevice = statSync(tmp).dev === statSync(REPO).dev;
  if (sameDevice && !inMemoryFs(statfsSync(tmp).type)) return tmp;
  const local = join(REPO, '.bench-tmp'); // gitignored
  mkdirSync(local, { recursive: true });
  return local;
}

const parent = benchParent();
const dir = mkdtempSync(join(parent, 'sigledger-bench-'));
const fsType = statfsSync(dir).type;
let fileNo = 0;
const freshPath = (label: string) => join(dir, `${++fileNo}-${label}.db`);

// ---------------------------------------------------------------------------------------------
// Workload: realistic small events (≈ 300 bytes of JSON), built before any clock starts.

const TIME = '2026-11-23T00:00:00.000Z';
function makeEvents(count: number, seed: string): NewEvent[] {
  return Array.from({ length: count }, (_, n) => ({
    type: 'SignatureRecorded',
    data: {
      subject: `sha256:${randomBytes(32).toString('hex')}`,
      keyId: 'key-2026-11',
      n,
      seed,
      predicateType: 'https://slsa.dev/provenance/v1',
    },
    metadata: { time: TIME, actor: 'bench', correlationId: randomBytes(16).toString('hex') },
  }));
}
const streamOf = (w: number) => `bench-${w.toString().padStart(3, '0')}`;

interface Figures {
  readonly events: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly commits?: number;
}
const figures = (events: number, seconds: number, commits?: number): Figures => ({
  events,
  seconds,
  perSecond: events / seconds,
  ...(commits === undefined ? {} : { commits }),
});

async function sequential(events: readonly NewEvent[]): Promise<Figures> {
  const store = new SqliteEventStore({ path: freshPath('sequential') });
  try {
    const started = performance.now();
    for (const e of events) await store.appendToStream('bench-seq', [e]);
    return figures(events.length, (performance.now() - started) / 1000);
  } finally {
    await store.close();
  }
}

/** Event k goes to appender k % CONCURRENCY, so each appender awaits its own appends in order. */
async function concurrent(events: readonly NewEvent[]): Promise<Figures> {
  let commits = 0;
  const store = new SqliteEventStore({ path: freshPath('concurrent'), onCommit: () => commits++ });
  try {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, w) => {
        for (let k = w; k < events.length; k += CONCURRENCY) await store.appendToStream(streamOf(w), [events[k]!]);
      }),
    );
    return figures(events.length, (performance.now() - started) / 1000, commits);
  } finally {
    await store.close();
  }
}

/** The rows the adapter would store for `concurrent(events)`, in the same order. */
function precomputeRows(events: readonly NewEvent[]): unknown[][] {
  const heads = new Map<string, { revision: number; hash: string | null }>();
  const rows: unknown[][] = [];
  for (let k = 0; k < events.length; k++) {
    const stream = streamOf(k % CONCURRENCY);
    const head = heads.get(stream) ?? { revision: -1, hash: null };
    const revision = head.revision + 1;
    const [p] = prepareEvents([events[k]!]);
    const hash = chainHash(head.hash, canonicalEventText(stream, revision, p!));
    heads.set(stream, { revision, hash });
    rows.push([p!.id, stream, revision, p!.type, p!.dataJson, p!.metadataJson, hash]);
  }
  return rows;
}

/** Raw primitive: same schema and pragmas as the adapter, prepared INSERT, CONCURRENCY rows per transaction. */
function raw(rows: readonly unknown[][]): Figures {
  const path = freshPath('raw');
  // Let the adapter create the schema so that the table is identical.
  void new SqliteEventStore({ path }).close(); // synchronous inside
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const insert = db.prepare('INSERT INTO events (id, stream, revision, type, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const begin = db.prepare('BEGIN IMMEDIATE');
    const commit = db.prepare('COMMIT');
    let commits = 0;
    const started = performance.now();
    for (let i = 0; i < rows.length; i += CONCURRENCY) {
      begin.run();
      const end = Math.min(rows.length, i + CONCURRENCY);
      for (let j = i; j < end; j++) insert.run(...rows[j]!);
      commit.run();
      commits++;
    }
    return figures(rows.length, (performance.now() - started) / 1000, commits);
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const line = (label: string, f: Figures, unit: string) =>
  `${label.padEnd(44)} ${fmt(f.perSecond).padStart(9)} ${unit}  (${f.events} in ${f.seconds.toFixed(2)} s` +
  (f.commits === undefined ? ')' : `, ${f.commits} commits, ${(f.events / f.commits).toFixed(1)} per commit)`);

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

try {
  console.log(`sigledger store bench: N=${N}, sequential N=${SEQ_N}, concurrency=${CONCURRENCY}, rounds=${ROUNDS}, node ${process.version}`);
  console.log(`directory ${dir} on ${fsName(fsType)}${inMemoryFs(fsType) ? '  WARNING: in-memory filesystem, fsync is free' : ''}`);

  // Warm-up (JIT, page cache), not measured.
  await concurrent(makeEvents(WARMUP, 'warmup'));
  await sequential(makeEvents(Math.min(WARMUP, 500), 'warmup'));
  raw(precomputeRows(makeEvents(WARMUP, 'warmup')));

  const a = await sequential(makeEvents(SEQ_N, 'a'));
  console.log(line('(a) 1 appender, sequential, 1 event/append', a, 'appends/s'));

  const rounds: { b: Figures; c: Figures; ratio: number }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const concEvents = makeEvents(N, `b${r}`);
    const rawRows = precomputeRows(makeEvents(N, `c${r}`));
    let b: Figures;
    let c: Figures;
    if (r % 2 === 1) {
      b = await concurrent(concEvents);
      c = raw(rawRows);
    } else {
      c = raw(rawRows);
      b = await concurrent(concEvents);
    }
    rounds.push({ b, c, ratio: b.perSecond / c.perSecond });
    console.log(`round ${r}`);
    console.log(line(`  (b) ${CONCURRENCY} concurrent appenders, group commit`, b, 'appends/s'));
    console.log(line(`  (c) raw better-sqlite3, ${CONCURRENCY} rows/transaction`, c, 'rows/s'));
    console.log(`  (b)/(c) = ${(b.perSecond / c.perSecond).toFixed(3)}`);
  }

  const bRate = median(rounds.map((x) => x.b.perSecond));
  const cRate = median(rounds.map((x) => x.c.perSecond));
  const bc = median(rounds.map((x) => x.ratio));
  const ac = a.perSecond / cRate;
  const pass = bc >= TARGET;
  console.log(`median (b) ${fmt(bRate)} appends/s, median (c) ${fmt(cRate)} rows/s`);
  console.log(`(b)/(c) = ${bc.toFixed(3)}   (median of ${ROUNDS} rounds; target ≥ ${TARGET})   ${pass ? 'PASS' : 'FAIL'}`);
  console.log(`(a)/(c) = ${ac.toFixed(3)}   (info)`);
  console.log(
    JSON.stringify({
      bench: 'store',
      n: N,
      sequentialN: SEQ_N,
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      fs: fsName(fsType),
      dir,
      sequentialPerSecond: a.perSecond,
      concurrentPerSecond: bRate,
      rawPerSecond: cRate,
      ratioConcurrentToRaw: bc,
      ratioSequentialToRaw: ac,
      target: TARGET,
      pass,
      sequential: a,
      perRound: rounds,
    }),
  );
  if (!pass) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
