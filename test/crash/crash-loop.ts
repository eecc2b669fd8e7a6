/**
 * Crash loop (issue 8 item 1), the driver shared by the short case inside `npm test`
 * (test/crash/crash-loop.int.spec.ts) and the long run (`npm run test:crash`,
 * test/crash/crash-loop.long.mts).
 *
 * The real `sigledger serve` runs as a child process on one temp data dir under concurrent
 * signing load (several connections, unique payloads, a dev token of plan `unlimited`) and is
 * killed with SIGKILL at moments drawn from a seeded PRNG (the seed is printed; CRASH_SEED=N
 * replays the same kill schedule), then restarted on the same data dir; K cycles. One cycle in
 * the middle opens a rotation and approves it with two dev approver keys, with small paced
 * re-signing batches, and is killed while the re-signing runs (later cycles may land in the
 * resumed re-signing too). At the end, after a clean restart and the rotation's completion:
 *
 *  - every signing answered 2xx is served (GET /api/v1/bundles/{id} → 200) at the log index it
 *    was answered with, its version-1 envelope is the one answered, and it has exactly one more
 *    version (by the new key) when the old key signed it, none otherwise;
 *  - every checkpoint observed before each kill is consistent with the final checkpoint
 *    (consistency proof from the service, checked with the independent RFC 9162 verifier);
 *  - `sigledger replay --data DIR --json`, with the service stopped, reports ok and no problems.
 *
 * The driver does not assert; it returns every violation as a line in `problems` together with
 * the figures, so that both the vitest case and the plain script can report them.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Hex } from '../../src/crypto/hash.ts';
import { bundleIdOf } from '../../src/domain/bundle.ts';
import { runCli, startServe, type ServeProcess } from '../support/cli.ts';
import { verifyConsistency } from '../support/rfc9162-verifier.ts';
import { devApproval } from '../support/approvers.ts';

type Json = Record<string, any>;

export interface CrashLoopOptions {
  /** Kill/restart cycles (at least 3: the rotation opens in the middle one). */
  readonly cycles: number;
  /** Keep cycling until this many seconds have passed, even after `cycles` (default 0). */
  readonly seconds?: number;
  /** PRNG seed; default random (printed either way). */
  readonly seed?: number;
  /** Signing connections (default 8). */
  readonly connections?: number;
  /** Time from the restart's first request to the SIGKILL, drawn uniformly (ms). */
  readonly killAfterMs?: readonly [number, number];
  readonly checkpointIntervalMs?: number;
  /** Bundles signed before the rotation opens at least (the loop signs on until there are). */
  readonly minBundlesBeforeRotation?: number;
  /** Keep the data dir (it is kept anyway when something failed). */
  readonly keepDataDir?: boolean;
  readonly log?: (line: string) => void;
}

export type KillPoint =
  | { cycle: number; phase: 'before-rotation' }
  | { cycle: number; phase: 'rotation-open' | 'rotating' | 'resigning' | 'after-rotation'; state: string; resigned: number; remaining: number };

export interface CrashLoopResult {
  readonly seed: number;
  readonly dataDir: string;
  readonly cycles: number;
  readonly kills: number;
  /** Signings answered 2xx. */
  readonly acknowledged: number;
  /** Of those, 201 (new) and 200 (existing: should stay 0, payloads are unique). */
  readonly created: number;
  /** Requests answered with a non-2xx status, by status. */
  readonly refused: Record<string, number>;
  /** Requests that got no answer because the server died while they were in flight. */
  readonly unacknowledged: number;
  /** Of those, the ones whose bundle exists after the restart (committed, answer lost). */
  readonly durableUnacknowledged: number;
  /** Requests refused at connect time (server already dead): never sent. */
  readonly notSent: number;
  readonly killPoints: readonly KillPoint[];
  readonly rotation: { rotationId: string; oldKeyId: string; newKeyId: string; resigned: number; failed: number; state: string } | null;
  readonly bundlesResigned: number;
  readonly checkpointsObserved: number;
  readonly checkpointsVerified: number;
  readonly finalTreeSize: number;
  readonly replay: { ok: boolean; events?: number; signatures?: number; checkpoints?: number; problems: number; seconds: number } | null;
  readonly seconds: number;
  readonly problems: readonly string[];
}

/** mulberry32: small, fast, good enough to draw kill times reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Checkpoint {
  readonly size: number;
  readonly root: string;
  readonly cycle: number;
}

interface Acked {
  readonly bundleId: string;
  readonly logIndex: number;
  readonly keyId: string;
  readonly status: number;
  readonly envelope: unknown;
  readonly cycle: number;
}

const TENANT = 'crash';
const PAYLOAD_TYPE = 'text/plain';
const b64 = (s: string) => Buffer.from(s, 'base64');

async function getJson(url: string, timeoutMs = 10_000): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

async function postJson(url: string, headers: Record<string, string>, payload: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Json };
}

async function checkpointOf(url: string, cycle: number): Promise<Checkpoint | undefined> {
  try {
    const res = await fetch(`${url}/api/v1/log/checkpoint`, { signal: AbortSignal.timeout(2_000) });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return undefined;
    }
    const [, size, root] = (await res.text()).split('\n');
    return { size: Number(size), root: root!, cycle };
  } catch {
    return undefined;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const errorCode = (err: unknown): string | undefined => {
  const e = err as { code?: string; cause?: { code?: string; errors?: { code?: string }[] } };
  return e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.code;
};

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopResult> {
  const started = Date.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const seed = options.seed ?? randomInt(2 ** 31);
  const random = prng(seed);
  const between = (lo: number, hi: number) => Math.floor(lo + random() * (hi - lo + 1));
  const cyclesMin = Math.max(3, options.cycles);
  const seconds = options.seconds ?? 0;
  const connections = options.connections ?? 8;
  const [killLo, killHi] = options.killAfterMs ?? [300, 1200];
  const minBundles = options.minBundlesBeforeRotation ?? 200;
  log(`[crash-loop] seed=${seed} (reproduce the kill schedule with CRASH_SEED=${seed}) cycles>=${cyclesMin} seconds>=${seconds} connections=${connections}`);

  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-crashloop-'));
  const env = {
    SIGLEDGER_DATA_DIR: dataDir,
    SIGLEDGER_CHECKPOINT_INTERVAL_MS: String(options.checkpointIntervalMs ?? 25),
    SIGLEDGER_ROTATION_CRON: 'off',
    SIGLEDGER_RESIGN_BATCH: '4',
    SIGLEDGER_RESIGN_PAUSE_MS: '10',
  };
  const problems: string[] = [];
  const problem = (line: string) => {
    problems.push(line);
    if (problems.length <= 20) log(`[crash-loop] PROBLEM ${line}`);
  };

  const acked: Acked[] = [];
  const inFlightAtKill: { bundleId: string; cycle: number }[] = [];
  const refused: Record<string, number> = {};
  let notSent = 0;
  const observed: Checkpoint[] = [];
  const killPoints: KillPoint[] = [];
  let rotation: { rotationId: string; ceremonyId: string } | undefined;
  let serial = 0;

  let server: ServeProcess | undefined;
  let ok = false;
  try {
    server = await startServe(['--port', '0'], env);
    const ttl = String(Math.max(3600, seconds * 2 + 3600));
    const token = async (...args: string[]) => {
      const r = await runCli(['token', '--tenant', TENANT, '--plan', 'unlimited', '--ttl', ttl, ...args], env);
      const t = JSON.parse(r.stdout) as { authorization: string; poe: string };
      return { authorization: t.authorization, 'x-proof-of-entitlement': t.poe };
    };
    const signer = await token();
    const admin = await token('--scope', 'ledger.admin');

    /** Signs on `connections` connections until the server dies or `stop()` is called. */
    const load = (url: string, cycle: number) => {
      let stopped = false;
      const workers = Array.from({ length: connections }, async (_, w) => {
        while (!stopped) {
          // Unique per run (fresh data dir); no PRNG draw here, so the kill schedule stays reproducible.
          const payload = `crash-loop seed=${seed} cycle=${cycle} conn=${w} n=${serial++}`;
          const bundleId = bundleIdOf(TENANT, PAYLOAD_TYPE, sha256Hex(Buffer.from(payload)));
          let res: Response;
          try {
            res = await fetch(`${url}/api/v1/signer/sign/dsse`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...signer },
              body: JSON.stringify({ payloadType: PAYLOAD_TYPE, payload: Buffer.from(payload).toString('base64') }),
            });
          } catch (err) {
            if (errorCode(err) === 'ECONNREFUSED') notSent++;
            else inFlightAtKill.push({ bundleId, cycle });
            return;
          }
          let body: Json;
          try {
            body = (await res.json()) as Json;
          } catch {
            // Headers arrived, the body did not: the answer was lost with the server.
            inFlightAtKill.push({ bundleId, cycle });
            return;
          }
          if (res.status >= 200 && res.status < 300) {
            if (body.bundleId !== bundleId) problem(`cycle ${cycle}: signing answered bundle ${body.bundleId}, expected ${bundleId}`);
            acked.push({ bundleId, logIndex: body.logIndex, keyId: body.keyId, status: res.status, envelope: body.bundle?.dsseEnvelope, cycle });
          } else {
            refused[res.status] = (refused[res.status] ?? 0) + 1;
          }
        }
      });
      return {
        stop: async () => {
          stopped = true;
          await Promise.all(workers);
        },
      };
    };

    /** Polls the checkpoint every ~40 ms until stopped. */
    const poll = (url: string, cycle: number) => {
      let stopped = false;
      const done = (async () => {
        while (!stopped) {
          const cp = await checkpointOf(url, cycle);
          if (cp) observed.push(cp);
          await sleep(40);
        }
      })();
      return {
        stop: async () => {
          stopped = true;
          await done;
        },
      };
    };

    const rotationView = async (url: string) => (rotation ? (await getJson(`${url}/api/v1/rotations/${rotation.rotationId}`, 2_000)).body : undefined);

    const approve = async (url: string, ceremonyId: string) => {
      const ceremony = (await getJson(`${url}/api/v1/ceremonies/${ceremonyId}`)).body;
      for (const n of [1, 2]) {
        const r = await postJson(`${url}/api/v1/ceremonies/${ceremonyId}/approvals`, {}, devApproval(dataDir, n, ceremony.proposal as never));
        if (r.status !== 200) problem(`approval ${n} of ${ceremonyId}: ${r.status} ${JSON.stringify(r.body)}`);
      }
    };

    let cycle = 0;
    for (; cycle < cyclesMin || Date.now() - started < seconds * 1000; cycle++) {
      const url = server.url;
      const traffic = load(url, cycle);
      const checkpoints = poll(url, cycle);
      const killAfter = between(killLo, killHi);
      const middle = cycle >= Math.floor(cyclesMin / 2) && Date.now() - started >= (seconds * 1000) / 2;
      let inRotationCycle = false;
      if (!rotation && middle && acked.length >= minBundles) {
        // The rotation cycle: open, approve, and kill once re-signing is under way.
        inRotationCycle = true;
        await sleep(between(50, 250));
        const opened = await postJson(`${url}/api/v1/rotations`, admin, { reason: `crash loop seed ${seed}` });
        if (opened.status !== 202) throw new Error(`POST /api/v1/rotations answered ${opened.status}: ${JSON.stringify(opened.body)}`);
        rotation = { rotationId: opened.body.rotationId, ceremonyId: opened.body.ceremonyId };
        // Kill once a drawn fraction (5-60 %) of the bundles signed so far has been re-signed.
        const target = Math.max(1, Math.floor(acked.length * (0.05 + 0.55 * random())));
        await approve(url, rotation.ceremonyId);
        const deadline = Date.now() + 20_000;
        for (;;) {
          const v = await rotationView(url);
          if (v?.state === 'completed' || (v?.state === 'resigning' && v.progress?.resigned >= target) || Date.now() > deadline) break;
          await sleep(5);
        }
      } else {
        await sleep(killAfter);
      }
      // Where the kill lands relative to the rotation (asked just before it).
      let point: KillPoint = { cycle, phase: 'before-rotation' };
      if (rotation) {
        const v = await rotationView(url).catch(() => undefined);
        const state = String(v?.state ?? 'unknown');
        const phase = state === 'completed' ? 'after-rotation' : state === 'resigning' ? 'resigning' : state === 'rotating' ? 'rotating' : 'rotation-open';
        point = { cycle, phase, state, resigned: Number(v?.progress?.resigned ?? -1), remaining: Number(v?.progress?.remaining ?? -1) };
      }
      const last = await checkpointOf(url, cycle);
      if (last) observed.push(last);
      server.child.kill('SIGKILL');
      await server.exited;
      killPoints.push(point);
      await Promise.all([traffic.stop(), checkpoints.stop()]);
      log(
        `[crash-loop] kill ${cycle + 1}: ${inRotationCycle ? 'rotation cycle, ' : ''}${point.phase}${'resigned' in point ? ` (${point.resigned} re-signed, ~${point.remaining} to go)` : ''}; acknowledged so far ${acked.length}, checkpoint ${last?.size ?? '?'}`,
      );
      server = await startServe(['--port', '0'], env);
    }
    const cycles = cycle;
    if (!rotation) problem(`the rotation never opened (acknowledged ${acked.length} < ${minBundles} before the middle cycle?)`);
    else if (!killPoints.some((p) => p.phase === 'resigning' && 'resigned' in p && p.resigned > 0 && p.remaining > 0)) problem('no kill landed while re-signing was under way');

    // ------------------------------------------------------------------ the clean restart
    const url = server.url;
    let rot: Json | undefined;
    if (rotation) {
      const deadline = Date.now() + 120_000;
      for (;;) {
        rot = await rotationView(url);
        if (rot?.state === 'completed' || Date.now() > deadline) break;
        await sleep(50);
      }
      if (rot?.state !== 'completed') problem(`rotation ${rotation.rotationId} did not complete after the clean restart: ${JSON.stringify(rot)}`);
      if (rot?.progress?.failed !== 0) problem(`rotation recorded re-signing failures: ${JSON.stringify(rot?.progress)}`);
    }
    // The final checkpoint: the log no longer grows (no load; the rotation is done).
    const maxObserved = Math.max(0, ...observed.map((c) => c.size));
    let final: Checkpoint | undefined;
    {
      const deadline = Date.now() + 30_000;
      let previous: Checkpoint | undefined;
      for (;;) {
        final = await checkpointOf(url, cycles);
        if (final && previous && final.size === previous.size && final.size >= maxObserved) break;
        if (Date.now() > deadline) break;
        previous = final;
        await sleep(Math.max(100, (options.checkpointIntervalMs ?? 25) * 4));
      }
    }
    if (!final) throw new Error('no checkpoint after the clean restart');
    if (final.size < maxObserved) problem(`final checkpoint size ${final.size} is below a checkpoint observed before a kill (${maxObserved}): the log lost leaves`);

    // ------------------------------------------------------------------ every acknowledged signing
    let resigned = 0;
    const seen = new Set<string>();
    await pool(acked, 16, async (a) => {
      if (seen.has(a.bundleId)) problem(`bundle ${a.bundleId} acknowledged twice`);
      seen.add(a.bundleId);
      const view = await getJson(`${url}/api/v1/bundles/${a.bundleId}`);
      if (view.status !== 200) {
        problem(`acknowledged signing (cycle ${a.cycle}, ${a.status}, logIndex ${a.logIndex}) is missing: GET /api/v1/bundles/${a.bundleId} → ${view.status}`);
        return;
      }
      const versions = view.body.versions as { version: number; keyId: string; logIndex: number | null }[];
      const v1 = versions[0];
      if (!v1 || v1.version !== 1 || v1.keyId !== a.keyId || v1.logIndex !== a.logIndex) {
        problem(`bundle ${a.bundleId}: version 1 is ${JSON.stringify(v1)}, acknowledged keyId ${a.keyId} logIndex ${a.logIndex}`);
      }
      const expected = rot && a.keyId === rot.oldKeyId ? 2 : 1;
      if (versions.length !== expected || view.body.latestVersion !== expected) {
        problem(`bundle ${a.bundleId} (key ${a.keyId}) has ${versions.length} versions (latest ${view.body.latestVersion}), expected ${expected}`);
      } else if (expected === 2) {
        if (versions[1]!.keyId !== rot!.newKeyId) problem(`bundle ${a.bundleId}: version 2 by ${versions[1]!.keyId}, expected the new key ${rot!.newKeyId}`);
        else resigned++;
      }
      const first = await getJson(`${url}/api/v1/bundles/${a.bundleId}/versions/1`);
      if (first.status !== 200 || JSON.stringify(first.body.bundle?.dsseEnvelope) !== JSON.stringify(a.envelope)) {
        problem(`bundle ${a.bundleId}: version-1 envelope differs from the one acknowledged (${first.status})`);
      }
    });

    // ------------------------------------------------------------------ unacknowledged signings
    let durableUnacknowledged = 0;
    await pool(inFlightAtKill, 16, async (u) => {
      const view = await getJson(`${url}/api/v1/bundles/${u.bundleId}`);
      if (view.status === 200) durableUnacknowledged++;
      else if (view.status !== 404) problem(`GET /api/v1/bundles/${u.bundleId} (in flight at kill ${u.cycle + 1}) → ${view.status}`);
    });

    // ------------------------------------------------------------------ every observed checkpoint
    const distinct = new Map<number, Checkpoint>();
    for (const c of observed) {
      const prior = distinct.get(c.size);
      if (prior && prior.root !== c.root) problem(`two roots for size ${c.size}: ${prior.root} (before kill ${prior.cycle + 1}) and ${c.root} (before kill ${c.cycle + 1})`);
      if (!prior) distinct.set(c.size, c);
    }
    let checkpointsVerified = 0;
    await pool([...distinct.values()], 8, async (c) => {
      if (c.size > final!.size) return; // reported above
      if (c.size === final!.size) {
        if (c.root === final!.root) checkpointsVerified++;
        else problem(`checkpoint of size ${c.size} (cycle ${c.cycle}) has root ${c.root}, the final one ${final!.root}`);
        return;
      }
      const res = await getJson(`${url}/api/v1/log/proof/consistency?from=${c.size}&to=${final!.size}`);
      const hashes = (res.body.hashes as string[] | undefined)?.map(b64);
      if (res.status !== 200 || !hashes) {
        problem(`consistency proof ${c.size} → ${final!.size}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        return;
      }
      if (verifyConsistency(c.size, final!.size, hashes, b64(c.root), b64(final!.root))) checkpointsVerified++;
      else problem(`checkpoint ${c.size}/${c.root} observed before kill ${c.cycle + 1} is not consistent with the final checkpoint ${final!.size}/${final!.root}`);
    });

    // ------------------------------------------------------------------ stop cleanly, replay
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    server = undefined;
    if (exit.code !== 0) problem(`SIGTERM after the clean restart: exit ${exit.code} ${exit.signal ?? ''}`);
    const replayStarted = Date.now();
    const r = await runCli(['replay', '--data', dataDir, '--json'], env, 600_000);
    let replay: CrashLoopResult['replay'] = null;
    try {
      const report = JSON.parse(r.stdout) as Json;
      replay = {
        ok: report.ok === true,
        events: report.checks?.chain?.events ?? report.events,
        signatures: report.checks?.signatures?.checked,
        checkpoints: report.checks?.checkpoints?.checked,
        problems: Array.isArray(report.problems) ? report.problems.length : -1,
        seconds: (Date.now() - replayStarted) / 1000,
      };
      if (r.code !== 0 || report.ok !== true || !Array.isArray(report.problems) || report.problems.length !== 0) {
        problem(`replay: exit ${r.code}, ok ${report.ok}, problems ${JSON.stringify(report.problems).slice(0, 800)}`);
      }
      if (report.checks?.readModels?.skipped) problem(`replay skipped the read-model comparison: ${JSON.stringify(report.checks.readModels.skipped)}`);
    } catch {
      problem(`replay: exit ${r.code}, not JSON: ${r.stdout.slice(0, 400)} ${r.stderr.slice(0, 400)}`);
    }

    const result: CrashLoopResult = {
      seed,
      dataDir,
      cycles,
      kills: killPoints.length,
      acknowledged: acked.length,
      created: acked.filter((a) => a.status === 201).length,
      refused,
      unacknowledged: inFlightAtKill.length,
      durableUnacknowledged,
      notSent,
      killPoints,
      rotation: rot ? { rotationId: rot.rotationId, oldKeyId: rot.oldKeyId, newKeyId: rot.newKeyId, resigned: rot.progress?.resigned, failed: rot.progress?.failed, state: rot.state } : null,
      bundlesResigned: resigned,
      checkpointsObserved: distinct.size,
      checkpointsVerified,
      finalTreeSize: final.size,
      replay,
      seconds: (Date.now() - started) / 1000,
      problems,
    };
    if (acked.length - result.created > 0) problem(`${acked.length - result.created} signings answered 200 (existing) although every payload is unique`);
    ok = problems.length === 0;
    return result;
  } finally {
    if (server) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    if (ok && !options.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    else log(`[crash-loop] data dir kept: ${dataDir}`);
  }
}

/** The figures, one block for the console. */
export function formatCrashLoop(r: CrashLoopResult): string {
  const phases = new Map<string, number>();
  for (const p of r.killPoints) phases.set(p.phase, (phases.get(p.phase) ?? 0) + 1);
  const total = r.rotation?.resigned ?? '?';
  const points = r.killPoints.map((p) => ('resigned' in p ? `${p.cycle + 1}:${p.phase}(${p.resigned}/${total} re-signed)` : `${p.cycle + 1}:${p.phase}`)).join(' ');
  return [
    `[crash-loop] seed ${r.seed}: ${r.cycles} cycles, ${r.kills} SIGKILLs, ${r.seconds.toFixed(1)} s`,
    `[crash-loop] signings: ${r.acknowledged} acknowledged (${r.created} created), ${r.unacknowledged} in flight at a kill of which ${r.durableUnacknowledged} durable-but-unacknowledged, ${r.notSent} refused at connect, non-2xx ${JSON.stringify(r.refused)}`,
    `[crash-loop] kill points vs rotation: ${[...phases].map(([k, n]) => `${k} ${n}`).join(', ')} — ${points}`,
    `[crash-loop] rotation: ${r.rotation ? `${r.rotation.state}, ${r.rotation.resigned} re-signed, ${r.rotation.failed} failed; ${r.bundlesResigned} acknowledged bundles have exactly one new version` : 'none'}`,
    `[crash-loop] checkpoints: ${r.checkpointsVerified}/${r.checkpointsObserved} observed before kills consistent with the final one (size ${r.finalTreeSize})`,
    `[crash-loop] replay: ${r.replay ? `ok=${r.replay.ok}, ${r.replay.problems} problems, ${r.replay.signatures ?? '?'} signatures, ${r.replay.checkpoints ?? '?'} checkpoints, ${r.replay.seconds.toFixed(1)} s` : 'did not run'}`,
    `[crash-loop] ${r.problems.length === 0 ? 'OK' : `${r.problems.length} PROBLEMS`}`,
  ].join('\n');
}
