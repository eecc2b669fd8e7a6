/**
 * npm run bench:replay [-- --events N]   (default 1,000,000)
 *
 * Builds a history of N events in a real SQLite event store (a signing key, a log key, N bundle
 * signings with real Ed25519 DSSE envelopes, and signed checkpoints every 10,000 leaves with
 * their real roots), then measures in the same run:
 *   - replay without signature checks (hash chain, log leaves and checkpoint roots, ceremonies,
 *     anchors) against a raw better-sqlite3 iteration over the same events table (target ≥ 0.5);
 *   - replay with signature checks on 2 worker threads against 2 × one core's raw node:crypto
 *     Ed25519 verify rate (target ≥ 0.9).
 * The read-model comparison (a fresh fold of every projection) is not part of these figures: the
 * projections' fold rate is what `npm run bench:log` measures.
 */
import { generateKeyPairSync, randomUUID, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { replay } from '../src/app/audit/replay.ts';
import { pae } from '../src/crypto/dsse.ts';
import { keyIdOf, rawFromSpki } from '../src/crypto/ed25519.ts';
import { sha256Hex } from '../src/crypto/hash.ts';
import { bundleIdOf, bundleStream } from '../src/domain/bundle.ts';
import { formatCheckpointBody, noteKeyId, signNote } from '../src/log/checkpoint.ts';
import { CompactRange, hashLeaf } from '../src/log/merkle.ts';
import { leafDataOf } from '../src/log/rekor-entry.ts';
import { SqliteEventStore } from '../src/store/sqlite/sqlite-event-store.ts';

const arg = process.argv.indexOf('--events');
const N = Number(arg > 0 ? process.argv[arg + 1] : (process.env.BENCH_EVENTS ?? 1_000_000));
if (!Number.isSafeInteger(N) || N < 1000) throw new Error('--events must be an integer ≥ 1000');
const CHECKPOINT_EVERY = 10_000;
const ORIGIN = 'bench.sigledger.local/log';
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const dir = mkdtempSync(join(tmpdir(), 'sigledger-bench-replay-'));
const time = new Date().toISOString();
const meta = () => ({ time, correlationId: randomUUID(), actor: 'bench' });

try {
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  const signing = generateKeyPairSync('ed25519');
  const spki = signing.publicKey.export({ format: 'der', type: 'spki' });
  const keyId = keyIdOf(spki);
  const logKey = generateKeyPairSync('ed25519');
  const logSpki = logKey.publicKey.export({ format: 'der', type: 'spki' });
  const logRaw = rawFromSpki(logSpki);

  // ---- build
  const buildStart = performance.now();
  await store.appendToStream('keyring', [
    { type: 'KeyGenerated', data: { keyId, algorithm: 'ed25519', publicKey: spki.toString('base64'), backend: 'file', ref: `file:${keyId}`, label: 'signing', generatedAt: time }, metadata: meta() },
    { type: 'KeyActivated', data: { keyId, validFrom: time, reason: 'bench' }, metadata: meta() },
  ]);
  await store.appendToStream('log', [
    { type: 'LogKeyCreated', data: { keyId: keyIdOf(logSpki), publicKey: logSpki.toString('base64'), backend: 'file', ref: 'file:log', origin: ORIGIN, noteKeyId: noteKeyId(ORIGIN, logRaw).toString('hex'), createdAt: time }, metadata: meta() },
  ]);
  const bundles = N - 3 - Math.floor(N / CHECKPOINT_EVERY);
  let next = 0;
  const worker = async () => {
    while (next < bundles) {
      const i = next++;
      const payload = Buffer.from(`bench artifact ${i} ${'x'.repeat(160)}`);
      const payloadSha256 = sha256Hex(payload);
      const bundleId = bundleIdOf('bench', 'text/plain', payloadSha256);
      const sig = nodeSign(null, pae('text/plain', payload), signing.privateKey).toString('base64');
      const envelope = { payloadType: 'text/plain', payload: payload.toString('base64'), signatures: [{ keyid: keyId, sig }] };
      await store.appendToStream(
        bundleStream(bundleId),
        [{ type: 'BundleSigned', data: { bundleId, tenant: 'bench', version: 1, payloadType: 'text/plain', payloadSha256, keyId, envelope, idempotencyKey: null, signedAt: time, timestamps: [] }, metadata: meta() }],
        { expectedRevision: 'no_stream' },
      );
      if (i % 100_000 === 0 && i > 0) process.stdout.write(`  built ${fmt(i)} bundles\n`);
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  // Checkpoints over the leaves as committed (positions order), appended at the end.
  const range = new CompactRange();
  const keys = new Map([[keyId, spki.toString('base64')]]);
  const notes: { size: number; root: Buffer }[] = [];
  for (let after = 0; ; ) {
    const page = await store.readAll({ after, maxCount: 10_000 });
    if (page.length === 0) break;
    for (const e of page) {
      range.append(hashLeaf(leafDataOf(e, (k) => keys.get(k))));
      if (range.size % CHECKPOINT_EVERY === 0) notes.push({ size: range.size, root: range.root() });
    }
    after = page[page.length - 1]!.position;
  }
  const checkpointEvents = notes.map(({ size, root }) => {
    const note = signNote(formatCheckpointBody({ origin: ORIGIN, size, rootHash: root }), { name: ORIGIN, rawPublicKey: logRaw, sign: (m) => nodeSign(null, m, logKey.privateKey) });
    return { type: 'CheckpointPublished', data: { origin: ORIGIN, size, rootHash: root.toString('base64'), note, publishedAt: time }, metadata: meta() };
  });
  for (let i = 0; i < checkpointEvents.length; i += 500) await store.appendToStream('log', checkpointEvents.slice(i, i + 500));
  const head = await store.headPosition();
  console.log(`replay bench: ${fmt(head)} events (${fmt(bundles)} signed bundles, ${notes.length} checkpoints) built in ${((performance.now() - buildStart) / 1000).toFixed(1)} s (not measured)`);

  // ---- raw primitives, same run
  const db = new Database(join(dir, 'events.db'), { readonly: true });
  let t = performance.now();
  let rows = 0;
  for (const _row of db.prepare('SELECT position, id, stream, revision, type, data, metadata, hash FROM events ORDER BY position').iterate()) rows++;
  const rawIter = rows / ((performance.now() - t) / 1000);
  db.close();
  const msg = Buffer.alloc(200, 7);
  const sig = nodeSign(null, msg, signing.privateKey);
  let verifies = 0;
  t = performance.now();
  while (performance.now() - t < 2000) {
    for (let i = 0; i < 200; i++) nodeVerify(null, msg, signing.publicKey, sig);
    verifies += 200;
  }
  const rawVerify = verifies / ((performance.now() - t) / 1000);
  console.log(`  raw better-sqlite3 iteration:  ${fmt(rawIter)} rows/s`);
  console.log(`  raw node:crypto verify:        ${fmt(rawVerify)} verifies/s on one core (×2 = ${fmt(rawVerify * 2)})`);

  // ---- replay
  const plain = await replay({ store, signatures: false, pageSize: 5000 });
  if (!plain.ok) throw new Error(`replay found problems: ${JSON.stringify(plain.problems.slice(0, 3))}`);
  const plainRate = plain.events / plain.seconds;
  const full = await replay({ store, signatures: true, threads: 2, pageSize: 5000 });
  if (!full.ok) throw new Error(`replay found problems: ${JSON.stringify(full.problems.slice(0, 3))}`);
  const fullRate = full.events / full.seconds;
  const r1 = plainRate / rawIter;
  const r2 = fullRate / (2 * rawVerify);
  console.log(`  replay, no signature checks:   ${fmt(plainRate)} events/s (${plain.seconds.toFixed(1)} s; chain, leaves, ${plain.checks.checkpoints.checked} checkpoint roots)`);
  console.log(`  ratio to raw iteration:        ${r1.toFixed(3)} (target ≥ 0.5) ${r1 >= 0.5 ? 'PASS' : 'FAIL'}`);
  console.log(`  replay, signature checks:      ${fmt(fullRate)} events/s (${full.seconds.toFixed(1)} s; ${fmt(full.checks.signatures.checked)} signatures on ${full.checks.signatures.threads} worker threads)`);
  console.log(`  ratio to 2 × raw verify:       ${r2.toFixed(3)} (target ≥ 0.9) ${r2 >= 0.9 ? 'PASS' : 'FAIL'}`);
  console.log(JSON.stringify({ bench: 'replay', events: head, rawIterationRowsPerSecond: Math.round(rawIter), rawVerifyPerSecond: Math.round(rawVerify), plainEventsPerSecond: Math.round(plainRate), plainRatio: Number(r1.toFixed(3)), signedEventsPerSecond: Math.round(fullRate), signedRatio: Number(r2.toFixed(3)) }));
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
