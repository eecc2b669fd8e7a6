/**
 * RFC 3161 timestamps per second: the pkijs + WebCrypto grant path the TSA used before (kept as a
 * test-only reference in test/tsa/reference-tsa.ts) against the hand-assembled DER encoder, in
 * the same process and run.
 *
 *   npm run bench:tsa            (npx tsx bench/tsa.bench.mts)
 *
 * Every timestamp is what a bundle gets: SHA-256 over a 64-byte signature, no nonce, certReq
 * false, a new serial each time. Scenarios, each time-boxed (BENCH_MS, default 3000 ms, after a
 * warm-up):
 *
 *   (a) reference, `respond(query)` awaited one at a time;
 *   (b) reference, `respond(query)` in batches of 256 awaited together — how TsaService drove it
 *       (WebCrypto signs on the thread pool, everything else is JS on the main thread);
 *   (c) new `respond(query)` awaited one at a time (query parsed — common shapes by hand, else
 *       pkijs — and the response assembled);
 *   (d) new `grantDigest` — the path TsaService.timestampSignature now takes (no query at all);
 *   (f) floor, for information: node:crypto ECDSA P-256 `sign('sha256', …)` alone over 200 bytes
 *       (about the size of the signed attributes);
 *   (e) for information, end to end: TsaService.timestampSignature, BENCH_CONCURRENCY (default
 *       1024) callers at a time on a SQLite event store (batches of ≤ 256 TimestampIssued
 *       events, one durable append each), BENCH_SERVICE_N (default 20000) timestamps.
 *
 * Prints timestamps/s, µs per timestamp, the ratios new ÷ reference ((d)/(b) is the headline),
 * the target (> 2,500/s for re-signing; ≤ 200 µs per granted timestamp) and one JSON line last.
 */
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/app/common/logger.ts';
import { TsaService } from '../src/app/timestamping/tsa-service.ts';
import { sealedSecretStore } from '../src/store/keys/sealed-secret.ts';
import { SqliteEventStore } from '../src/store/sqlite/sqlite-event-store.ts';
import { createTsaChain } from '../src/tsa/chain.ts';
import { TimestampAuthority } from '../src/tsa/tsa.ts';
import { buildQuery } from '../test/support/tsa-client.ts';
import { ReferenceTimestampAuthority } from '../test/tsa/reference-tsa.ts';

const intEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
};
const BENCH_MS = intEnv('BENCH_MS', 3000);
const SERVICE_N = intEnv('BENCH_SERVICE_N', 20_000);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 1024);
const BATCH = 256;
const TARGET_PER_SECOND = 2500;
const TARGET_US = 200;

const chain = await createTsaChain({ now: new Date(Date.now() - 60_000) });
const options = { leafCertDer: chain.leafCertDer, chainDers: [chain.rootCertDer], privateKeyPkcs8: chain.leafPrivateKeyPkcs8 };
const fresh = new TimestampAuthority(options);
const reference = new ReferenceTimestampAuthority(options);

const signatures = Array.from({ length: 1024 }, () => randomBytes(64));
const queries = signatures.map((s) => buildQuery(s, { hash: 'SHA-256', certReq: false }));
const digests = signatures.map((s) => createHash('sha256').update(s).digest());
let serial = 0n;
const ctx = () => ({ serial: serial++, time: new Date(Math.floor(Date.now() / 1000) * 1000) });

/** Runs `step` (which grants `per` timestamps) until BENCH_MS elapsed; timestamps per second. */
async function rate(name: string, per: number, step: (i: number) => unknown): Promise<number> {
  const warm = performance.now();
  for (let i = 0; performance.now() - warm < Math.min(500, BENCH_MS / 4); i++) await step(i);
  let n = 0;
  const start = performance.now();
  let now = start;
  for (let i = 0; now - start < BENCH_MS; i++) {
    const r = step(i);
    if (r instanceof Promise) await r;
    n += per;
    now = performance.now();
  }
  const perSecond = (n * 1000) / (now - start);
  console.log(`${name.padEnd(62)} ${perSecond.toFixed(0).padStart(8)} timestamps/s  ${(1e6 / perSecond).toFixed(1).padStart(7)} µs each`);
  return perSecond;
}

console.log(`node ${process.version}, BENCH_MS=${BENCH_MS}`);
const a = await rate('(a) reference pkijs respond(query), sequential', 1, (i) => reference.respond(queries[i % queries.length]!, ctx()));
const b = await rate(`(b) reference pkijs respond(query), batches of ${BATCH} in parallel`, BATCH, (i) =>
  Promise.all(Array.from({ length: BATCH }, (_, k) => reference.respond(queries[(i * BATCH + k) % queries.length]!, ctx()))),
);
const c = await rate('(c) new respond(query), sequential', 1, (i) => fresh.respond(queries[i % queries.length]!, ctx()));
const d = await rate('(d) new grantDigest (TsaService bundle path)', 1, (i) => {
  fresh.grantDigest({ hash: 'SHA-256', digest: digests[i % digests.length]! }, ctx());
});

const leafKey = createPrivateKey({ key: chain.leafPrivateKeyPkcs8, format: 'der', type: 'pkcs8' });
const attrs = randomBytes(200);
const f = await rate('(f) floor: node:crypto ECDSA P-256 sign alone', 1, () => {
  sign('sha256', attrs, { key: leafKey, dsaEncoding: 'der' });
});

// (e) end to end through TsaService, with durable appends.
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'sigledger-bench-tsa-'));
let e = 0;
try {
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  const service = new TsaService({ store, logger: createLogger('warn'), now: () => new Date(), secrets: sealedSecretStore(join(dir, 'keys'), randomBytes(32)) });
  await service.init();
  for (let i = 0; i < 512; i++) await service.timestampSignature(signatures[i % signatures.length]!); // warm-up
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < SERVICE_N) {
      next++;
      await service.timestampSignature(signatures[next % signatures.length]!);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  e = (SERVICE_N * 1000) / (performance.now() - start);
  console.log(`${`(e) TsaService.timestampSignature, SQLite, ${CONCURRENCY} callers`.padEnd(62)} ${e.toFixed(0).padStart(8)} timestamps/s  ${(1e6 / e).toFixed(1).padStart(7)} µs each`);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const ratio = (x: number, y: number) => `${(x / y).toFixed(1)}×`;
console.log('');
console.log(`new respond(query) ÷ reference sequential (c)/(a):  ${ratio(c, a)}`);
console.log(`new grantDigest ÷ reference as the service ran it (d)/(b):  ${ratio(d, b)}   (headline)`);
console.log(`new grantDigest ÷ reference sequential (d)/(a):  ${ratio(d, a)}`);
console.log(`share of (d) spent in the ECDSA signature (f):  ${((100 * d) / f).toFixed(0)}%`);
const pass = d > TARGET_PER_SECOND && 1e6 / d <= TARGET_US && 1e6 / c <= TARGET_US;
console.log(`target: > ${TARGET_PER_SECOND} timestamps/s and ≤ ${TARGET_US} µs per granted timestamp (c, d): ${pass ? 'PASS' : 'FAIL'}`);
console.log(
  JSON.stringify({
    bench: 'tsa',
    referenceSequentialPerSec: Math.round(a),
    referenceBatchedPerSec: Math.round(b),
    newRespondPerSec: Math.round(c),
    newGrantDigestPerSec: Math.round(d),
    ecdsaSignPerSec: Math.round(f),
    servicePerSec: Math.round(e),
    ratioHeadline: Number((d / b).toFixed(2)),
    pass,
  }),
);
if (!pass) process.exitCode = 1;
