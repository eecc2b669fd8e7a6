/**
 * `npm run bench:rotate [-- --bundles N]`: a key rotation re-signing N bundles in the real service
 * (in-process, SQLite store, dev auth), against raw node:crypto Ed25519 verify+sign pairs measured
 * in the same run on one core, and the latency of live signing while it runs.
 *
 * 1. startService (src/main.ts) on a temp data dir, SIGLEDGER_ROTATION_CRON=off, dev auth, log
 *    level silent, SIGLEDGER_CHECKPOINT_INTERVAL_MS=BENCH_CHECKPOINT_INTERVAL_MS (default 250).
 * 2. Seeding (not measured): N bundles signed by the active key — real Ed25519 DSSE envelopes from
 *    the service's own key handle, a real RFC 3161 token per bundle from the service's own TSA
 *    (BENCH_SEED_TIMESTAMPS=reuse: one real token reused for all, faster), `BundleSigned` decided by
 *    bundleDecider, appended through the service's event store by BENCH_SEED_CONCURRENCY (256)
 *    concurrent appenders (group commit); then waits until the projections folded everything.
 * 3. Raw primitive: node:crypto Ed25519 verify (64-byte signature over 200 bytes) + sign (another
 *    200 bytes) pairs per second, KeyObjects created once, ~2 s on one core, before and after the
 *    rotation; the ratio uses the better of the two.
 * 4. Idle live signing: BENCH_LIVE_RPS (20) req/s of real HTTP signings (fetch, unique 1 KiB
 *    payloads, dev token, plan unlimited) for BENCH_IDLE_SECONDS (10) after a 3 s warm-up.
 * 5. Rotation: POST /api/v1/rotations (ledger.admin), approvals by dev approvers 1 and 2 over
 *    approvalMessage(proposal); the same live stream runs from the second approval until the
 *    rotation completed; progress from GET /api/v1/rotations/{id} every 5 s.
 * 6. Figures, targets (bundles/s ÷ raw pairs/s ≥ 0.5; p99 during ÷ p99 idle ≤ 2) and checks: every
 *    seeded bundle has latestVersion 2 in the read model, 1,000 sampled through HTTP, failed = 0.
 *
 * Env: BENCH_BUNDLES (or --bundles), BENCH_CHECKPOINT_INTERVAL_MS, SIGLEDGER_RESIGN_BATCH and
 * SIGLEDGER_RESIGN_PAUSE_MS (passed through), BENCH_SEED_CONCURRENCY,
 * BENCH_SEED_TIMESTAMPS (per-bundle|reuse), BENCH_LIVE_RPS, BENCH_IDLE_SECONDS, BENCH_DIR (parent of
 * the data dir, default os.tmpdir()), BENCH_KEEP_DATA=1, BENCH_CPU_PROF=FILE (a .cpuprofile of the
 * main thread from the second approval to completion, through node:inspector).
 * Exit code 0 even when a target is missed; 1 only when the bench itself could not run.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { devApproverPath } from '../src/app/trust/approvers-service.ts';
import { ensureDevIssuer } from '../src/app/access/auth/dev-issuer.ts';
import { createLogger } from '../src/app/common/logger.ts';
import { loadConfig } from '../src/config.ts';
import { signEnvelope } from '../src/crypto/dsse.ts';
import { keyIdOf } from '../src/crypto/ed25519.ts';
import { sha256Hex } from '../src/crypto/hash.ts';
import { bundleDecider, bundleIdOf, bundleStream } from '../src/domain/bundle.ts';
import { approvalMessage, type CeremonyProposal } from '../src/domain/ceremony.ts';
import { startService } from '../src/main.ts';
import { bundlesProjection } from '../src/projections/bundles.ts';

// ------------------------------------------------------------------ parameters

const { values: flags } = parseArgs({ options: { bundles: { type: 'string' } }, strict: false });
const intEnv = (raw: string | boolean | undefined, fallback: number, name: string): number => {
  if (raw === undefined || raw === '' || typeof raw === 'boolean') return fallback;
  const n = Number(String(raw).replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
};
const N = intEnv(flags.bundles ?? process.env.BENCH_BUNDLES, 100_000, '--bundles / BENCH_BUNDLES');
const CHECKPOINT_MS = intEnv(process.env.BENCH_CHECKPOINT_INTERVAL_MS, 250, 'BENCH_CHECKPOINT_INTERVAL_MS');
const SEED_CONCURRENCY = Math.max(1, intEnv(process.env.BENCH_SEED_CONCURRENCY, 256, 'BENCH_SEED_CONCURRENCY'));
const SEED_TIMESTAMPS = (process.env.BENCH_SEED_TIMESTAMPS ?? 'per-bundle') as 'per-bundle' | 'reuse';
if (SEED_TIMESTAMPS !== 'per-bundle' && SEED_TIMESTAMPS !== 'reuse') throw new Error('BENCH_SEED_TIMESTAMPS must be per-bundle or reuse');
const LIVE_RPS = Math.max(1, intEnv(process.env.BENCH_LIVE_RPS, 20, 'BENCH_LIVE_RPS'));
const IDLE_SECONDS = Math.max(1, intEnv(process.env.BENCH_IDLE_SECONDS, 10, 'BENCH_IDLE_SECONDS'));
const WARMUP_SECONDS = 3;
const PAYLOAD_BYTES = 1024;
const PAYLOAD_TYPE = 'application/octet-stream';
const HTTP_SAMPLE = 1000;
const TARGET_RATIO = 0.5;
const TARGET_P99 = 2;

const log = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const secondsSince = (t0: number) => (performance.now() - t0) / 1000;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function payloadFor(tag: string, i: number): Buffer {
  const buf = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  Buffer.from(`bench-rotate-${process.pid}-${tag}-${i}-`).copy(buf);
  return buf;
}

/** Runs `fn(i)` for i in [0, n) with `concurrency` workers. */
async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

// ------------------------------------------------------------------ raw primitive

/** node:crypto Ed25519: one verify (64-byte signature over ~200 bytes) + one sign (another ~200 bytes) per pair. */
function rawPairsPerSecond(ms = 2000): number {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const verifyMsg = randomBytes(200);
  const signature = sign(null, verifyMsg, privateKey);
  const signMsg = randomBytes(200);
  const pair = () => {
    if (!verify(null, verifyMsg, publicKey, signature)) throw new Error('raw verify failed');
    sign(null, signMsg, privateKey);
  };
  for (let i = 0; i < 1000; i++) pair(); // warm-up
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 200; i++) pair();
    n += 200;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

// ------------------------------------------------------------------ live signing stream

interface LiveResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly statuses: Record<string, number>;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Open-loop stream of signing requests at `rps` until `until` resolves (or `seconds` passed). */
async function liveStream(url: string, headers: Record<string, string>, tag: string, rps: number, until: { seconds: number } | { done: Promise<unknown> }): Promise<LiveResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const inflight: Promise<void>[] = [];
  let stop = false;
  if ('done' in until) void until.done.finally(() => (stop = true));
  const start = performance.now();
  const interval = 1000 / rps;
  let i = 0;
  for (;;) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (stop || ('seconds' in until && performance.now() - start >= until.seconds * 1000)) break;
    const body = JSON.stringify({ payloadType: PAYLOAD_TYPE, payload: payloadFor(tag, i).toString('base64') });
    i++;
    inflight.push(
      (async () => {
        const t0 = performance.now();
        let status = 'error';
        try {
          const res = await fetch(`${url}/api/v1/signer/sign/dsse`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(60_000) });
          await res.arrayBuffer();
          status = String(res.status);
        } catch (err) {
          status = `error:${(err as Error).name}`;
        }
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === '201') latencies.push(performance.now() - t0);
      })(),
    );
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  const ok = latencies.length;
  return { sent: i, ok, failed: i - ok, statuses, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? NaN };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'sigledger-bench-rotate-'));
  const env: NodeJS.ProcessEnv = {
    SIGLEDGER_LOG_LEVEL: 'silent',
    SIGLEDGER_ROTATION_CRON: 'off',
    SIGLEDGER_AUTH_MODE: 'dev',
    SIGLEDGER_CHECKPOINT_INTERVAL_MS: String(CHECKPOINT_MS),
    // Re-signing knobs pass through, to compare settings.
    ...(process.env.SIGLEDGER_RESIGN_BATCH ? { SIGLEDGER_RESIGN_BATCH: process.env.SIGLEDGER_RESIGN_BATCH } : {}),
    ...(process.env.SIGLEDGER_RESIGN_PAUSE_MS ? { SIGLEDGER_RESIGN_PAUSE_MS: process.env.SIGLEDGER_RESIGN_PAUSE_MS } : {}),
  };
  const config = loadConfig({ port: '0', data: dataDir }, env);
  const service = await startService(config, { logger: createLogger('silent') });
  const { runtime, keyring, tsa, rotations } = service.internals;
  const store = service.ledger.store;
  const readModel = service.ledger.readModel;
  const url = service.url;

  log(`rotate bench: ${fmt(N)} bundles, in-process service at ${url} (sqlite store, dev auth, log level silent, rotation cron off)`);
  log(`  SIGLEDGER_CHECKPOINT_INTERVAL_MS=${CHECKPOINT_MS}; SIGLEDGER_RESIGN_BATCH=${config.resignBatchSize}, SIGLEDGER_RESIGN_PAUSE_MS=${config.resignPauseMs}; data dir ${dataDir}`);

  try {
    // ---------------------------------------------------------------- 2. seeding
    const active = keyring.active();
    const tenant = 'bench-seed';
    const bundleIds: string[] = new Array(N);
    let reused: string | undefined;
    if (SEED_TIMESTAMPS === 'reuse') {
      const first = await signEnvelope(PAYLOAD_TYPE, payloadFor('seed', 0), [{ keyId: active.keyId, sign: (m) => active.handle.sign(m) }]);
      reused = await tsa.timestampSignature(Buffer.from(first.signatures[0]!.sig, 'base64'));
    }
    let lastPosition = 0;
    let seeded = 0;
    let seedFigures: { seconds: number; appendedSeconds: number; timestamps: string };
    const seedStart = performance.now();
    const seedTicker = setInterval(() => log(`  seeding: ${fmt(seeded)}/${fmt(N)} appended (${fmt(seeded / secondsSince(seedStart))}/s), projections at ${fmt(runtime.position())}`), 5000);
    try {
      await pool(N, SEED_CONCURRENCY, async (i) => {
        const payload = payloadFor('seed', i);
        const payloadSha256 = sha256Hex(payload);
        const bundleId = bundleIdOf(tenant, PAYLOAD_TYPE, payloadSha256);
        const envelope = await signEnvelope(PAYLOAD_TYPE, payload, [{ keyId: active.keyId, sign: (m) => active.handle.sign(m) }]);
        const timestamp = reused ?? (await tsa.timestampSignature(Buffer.from(envelope.signatures[0]!.sig, 'base64')));
        const time = new Date().toISOString();
        const events = bundleDecider.decide(
          { type: 'SignBundle', bundleId, tenant, payloadType: PAYLOAD_TYPE, payloadSha256, keyId: active.keyId, envelope, idempotencyKey: null, timestamps: [timestamp], time },
          bundleDecider.initialState(),
        );
        const r = await store.appendToStream(
          bundleStream(bundleId),
          events.map((e) => ({ type: e.type, data: e.data, metadata: { time, correlationId: randomUUID(), actor: `dev:${tenant}`, tenant } })),
          { expectedRevision: 'no_stream' },
        );
        if (r.lastPosition > lastPosition) lastPosition = r.lastPosition;
        bundleIds[i] = bundleId;
        seeded++;
      });
      const appendedSeconds = secondsSince(seedStart);
      await runtime.waitFor(lastPosition, 30 * 60_000);
      for (let tries = 0; !(await service.ledger.readiness()).ready; tries++) {
        if (tries > 600) throw new Error('service not ready 60 s after seeding');
        await sleep(100);
      }
      const seedSeconds = secondsSince(seedStart);
      const byKey = bundlesProjection.countLatestByKey(readModel, active.keyId);
      if (byKey !== N) throw new Error(`read model lists ${byKey} bundles by the active key, expected ${N}`);
      log(
        `  seeding (not measured): ${fmt(N)} bundles in ${fmt(seedSeconds, 1)} s (${fmt(N / seedSeconds)} bundles/s; appended in ${fmt(appendedSeconds, 1)} s, projections caught up ${fmt(seedSeconds - appendedSeconds, 1)} s later); ` +
          `real Ed25519 DSSE by the active key ${active.keyId.slice(0, 12)}…, ${reused ? 'one real RFC 3161 token reused for every bundle' : 'a real RFC 3161 token per bundle from the service TSA'}, ` +
          `${SEED_CONCURRENCY} concurrent appends (group commit)`,
      );
      seedFigures = { seconds: seedSeconds, appendedSeconds, timestamps: SEED_TIMESTAMPS };
    } finally {
      clearInterval(seedTicker);
    }

    // ---------------------------------------------------------------- tokens
    const issuer = await ensureDevIssuer(dataDir, { create: false });
    const signerTok = await issuer.issue({ tenant: 'bench-live', plan: 'unlimited', ttlSeconds: 24 * 3600 });
    const adminTok = await issuer.issue({ tenant: 'bench-admin', scopes: ['ledger.admin'], ttlSeconds: 24 * 3600 });
    const signer = { authorization: signerTok.authorization, 'x-proof-of-entitlement': signerTok.poe };
    const admin = { authorization: adminTok.authorization, 'x-proof-of-entitlement': adminTok.poe };
    const json = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) => {
      const res = await fetch(`${url}${path}`, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
    };

    /** Group commits so far (count) and the appends they carried (sum), from GET /metrics. */
    const groupCommits = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      return { commits: value('sigledger_store_group_commit_appends_count'), appends: value('sigledger_store_group_commit_appends_sum'), head: await store.headPosition() };
    };

    // ---------------------------------------------------------------- 3. raw primitive
    const raw = rawPairsPerSecond();
    log(`  raw node:crypto:  ${fmt(raw)} Ed25519 verify+sign pairs/s (one core, KeyObjects created once, 200-byte messages)`);

    // ---------------------------------------------------------------- 4. idle live signing
    await liveStream(url, signer, 'warmup', LIVE_RPS, { seconds: WARMUP_SECONDS });
    const idle = await liveStream(url, signer, 'idle', LIVE_RPS, { seconds: IDLE_SECONDS });
    log(`  live signing, idle:            p50 ${fmt(idle.p50)} ms, p99 ${fmt(idle.p99)} ms, max ${fmt(idle.max)} ms (${idle.ok}/${idle.sent} ok at ${LIVE_RPS} req/s for ${IDLE_SECONDS} s; ${JSON.stringify(idle.statuses)})`);

    // ---------------------------------------------------------------- 5. rotation
    const opened = await json('/api/v1/rotations', { method: 'POST', headers: admin, body: { reason: 'bench rotation' } });
    if (opened.status !== 202) throw new Error(`POST /api/v1/rotations answered ${opened.status}: ${JSON.stringify(opened.body)}`);
    const { rotationId, ceremonyId } = opened.body as { rotationId: string; ceremonyId: string };
    const ceremony = await json(`/api/v1/ceremonies/${ceremonyId}`);
    const proposal = ceremony.body.proposal as CeremonyProposal;
    const approval = (n: 1 | 2) => {
      const key: KeyObject = createPrivateKey(readFileSync(devApproverPath(dataDir, n), 'utf8'));
      return { approverId: keyIdOf(createPublicKey(key).export({ format: 'der', type: 'spki' })), signature: sign(null, approvalMessage(proposal), key).toString('base64') };
    };
    const first = await json(`/api/v1/ceremonies/${ceremonyId}/approvals`, { method: 'POST', body: approval(1) });
    if (first.status !== 200) throw new Error(`approval 1 answered ${first.status}: ${JSON.stringify(first.body)}`);
    const second = approval(2);

    let profiler: Session | undefined;
    if (process.env.BENCH_CPU_PROF) {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.post('Profiler.start');
    }
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    const during = liveStream(url, signer, 'during', LIVE_RPS, { done });
    const commits0 = await groupCommits();
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const approved = await json(`/api/v1/ceremonies/${ceremonyId}/approvals`, { method: 'POST', body: second });
    if (approved.status !== 200) throw new Error(`approval 2 answered ${approved.status}: ${JSON.stringify(approved.body)}`);
    // The approval hands the ceremony to the rotation service before it answers; idle() resolves when it finished.
    const executed = rotations.idle().then(() => performance.now());
    let last = { at: t0, resigned: 0 };
    let rotationSeconds: number;
    let view: Record<string, any> = {};
    for (;;) {
      const finishedAt = await Promise.race([executed, sleep(5000).then(() => undefined)]);
      view = (await json(`/api/v1/rotations/${rotationId}`)).body;
      const p = view.progress ?? {};
      const now = performance.now();
      if (finishedAt === undefined) {
        log(`  rotation ${secondsSince(t0).toFixed(0).padStart(4)} s: ${view.state}, resigned ${fmt(p.resigned ?? 0)}, remaining ${fmt(p.remaining ?? 0)}, failed ${fmt(p.failed ?? 0)} (${fmt(((p.resigned ?? 0) - last.resigned) / ((now - last.at) / 1000))}/s lately)`);
        last = { at: now, resigned: p.resigned ?? 0 };
        continue;
      }
      rotationSeconds = (finishedAt - t0) / 1000;
      break;
    }
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    const commits1 = await groupCommits();
    const commits = { commits: commits1.commits - commits0.commits, appends: commits1.appends - commits0.appends, events: commits1.head - commits0.head };
    finished();
    const live = await during;
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(process.env.BENCH_CPU_PROF!, JSON.stringify(profile));
      profiler.disconnect();
      log(`  CPU profile of the main thread during the rotation: ${process.env.BENCH_CPU_PROF}`);
    }

    // ---------------------------------------------------------------- 6. figures and checks
    for (let tries = 0; view.state !== 'completed' && tries < 50; tries++) {
      await sleep(100);
      view = (await json(`/api/v1/rotations/${rotationId}`)).body;
    }
    const resigned: number = view.progress?.resigned ?? 0;
    const failed: number = view.progress?.failed ?? NaN;
    const rate = resigned / rotationSeconds;
    const rawAfter = rawPairsPerSecond();
    // The better of the two raw measurements, so a noisy moment on the shared machine does not flatter the ratio.
    const rawBest = Math.max(raw, rawAfter);
    const ratio = rate / rawBest;
    const p99Ratio = live.p99 / idle.p99;

    await runtime.waitFor(await store.headPosition(), 60_000);
    let atV2 = 0;
    for (const id of bundleIds) if (bundlesProjection.summary(readModel, id)?.latestVersion === 2) atV2++;
    let httpV2 = 0;
    const sample = Array.from({ length: Math.min(HTTP_SAMPLE, N) }, () => bundleIds[Math.floor(Math.random() * N)]!);
    for (const id of sample) {
      const b = await json(`/api/v1/bundles/${id}`);
      if (b.status === 200 && b.body.latestVersion === 2 && b.body.versions?.[1]?.keyId === view.newKeyId && b.body.versions?.[0]?.keyId === view.oldKeyId) httpV2++;
    }
    const checksOk = view.state === 'completed' && failed === 0 && view.progress?.remaining === 0 && atV2 === N && httpV2 === sample.length;
    const pf = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

    log(
      [
        `  rotation ${rotationId}: ${view.state}; ${fmt(resigned)} bundles re-signed (${fmt(N)} seeded + ${fmt(resigned - N)} signed live before the switch), failed ${failed}, in ${fmt(rotationSeconds, 1)} s from the second approval`,
        `  re-signing:         ${fmt(rate)} bundles/s (each: verify old + sign envelope + sign attestation + 2 RFC 3161 timestamps + 1 append of 2 events)`,
        `  main thread:        event-loop utilisation ${(elu.utilization * 100).toFixed(0)}%; process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s over ${rotationSeconds.toFixed(1)} s wall (${((cpu.user + cpu.system) / 1e6 / rotationSeconds).toFixed(2)} cores; 2 available)`,
        `  event store:        ${fmt(commits.events)} events in ${fmt(commits.appends)} appends, ${fmt(commits.commits)} group commits (${(commits.appends / commits.commits).toFixed(1)} appends and one fsync each; ${(commits.commits / rotationSeconds).toFixed(0)} commits/s); ${(commits.events / resigned).toFixed(2)} events per re-signed bundle (all events of the window, live signings included)`,
        `  raw node:crypto:    ${fmt(rawBest)} Ed25519 verify+sign pairs/s (one core; best of ${fmt(raw)} before and ${fmt(rawAfter)} after the rotation)`,
        `  ratio:              ${ratio.toFixed(4)} bundles/s per raw pair/s (target ≥ ${TARGET_RATIO}) ${pf(ratio >= TARGET_RATIO)}`,
        `  live signing idle:  p50 ${fmt(idle.p50)} ms, p99 ${fmt(idle.p99)} ms (${idle.ok}/${idle.sent} ok)`,
        `  during rotation:    p50 ${fmt(live.p50)} ms, p99 ${fmt(live.p99)} ms, max ${fmt(live.max)} ms (${live.ok}/${live.sent} ok; ${JSON.stringify(live.statuses)})`,
        `  p99 ratio:          ${p99Ratio.toFixed(2)} during ÷ idle (target ≤ ${TARGET_P99}) ${pf(p99Ratio <= TARGET_P99 && live.failed === 0)}`,
        `  checks:             state ${view.state}, remaining ${view.progress?.remaining}, failed ${failed}; read model: ${fmt(atV2)}/${fmt(N)} seeded bundles at latestVersion 2; HTTP sample: ${httpV2}/${sample.length} at version 2 (old → new key) ${pf(checksOk)}`,
      ].join('\n'),
    );
    log(
      JSON.stringify({
        bench: 'rotate',
        bundles: N,
        checkpointIntervalMs: CHECKPOINT_MS,
        resignBatch: config.resignBatchSize,
        resignPauseMs: config.resignPauseMs,
        seedSeconds: Number(seedFigures.seconds.toFixed(1)),
        seedTimestamps: seedFigures.timestamps,
        resigned,
        failed,
        rotationSeconds: Number(rotationSeconds.toFixed(2)),
        bundlesPerSecond: Math.round(rate),
        rawPairsPerSecond: Math.round(rawBest),
        rawPairsPerSecondBefore: Math.round(raw),
        rawPairsPerSecondAfter: Math.round(rawAfter),
        ratio: Number(ratio.toFixed(4)),
        targetRatio: TARGET_RATIO,
        idle: { p50: Math.round(idle.p50), p99: Math.round(idle.p99), ok: idle.ok, sent: idle.sent },
        during: { p50: Math.round(live.p50), p99: Math.round(live.p99), ok: live.ok, sent: live.sent },
        p99Ratio: Number(p99Ratio.toFixed(2)),
        targetP99Ratio: TARGET_P99,
        eventLoopUtilization: Number(elu.utilization.toFixed(3)),
        store: { events: commits.events, appends: commits.appends, groupCommits: commits.commits },
        cpuCores: Number(((cpu.user + cpu.system) / 1e6 / rotationSeconds).toFixed(2)),
        checks: { state: view.state, readModelAtV2: atV2, httpSampleAtV2: httpV2, httpSample: sample.length, ok: checksOk },
      }),
    );
  } finally {
    await service.close();
    if (!process.env.BENCH_KEEP_DATA) rmSync(dataDir, { recursive: true, force: true });
    else log(`  data kept in ${dataDir}`);
  }
}

try {
  await main();
} catch (err) {
  console.error(`bench:rotate could not run: ${(err as Error)?.stack ?? String(err)}`);
  process.exitCode = 1;
}
