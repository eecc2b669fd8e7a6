/**
 * Sustained load (issue 8): the real service in a child process, signing at 90% of the plan's
 * QPS for SOAK_SECONDS (default 60; `npm run test:soak` runs longer), bursts of twice the plan's
 * burst every 10 s, live reads of inclusion proofs and anchors, and a rotation (with approvals)
 * a third of the way in. It checks: no 5xx; every 429 possible under the plan and no window that
 * admitted more than the plan allows (./plan-model.ts: bounds from each request's send and answer
 * times, so queueing and overtaking on a loaded machine cannot fail them); RSS growth after
 * warm-up under 10%, where warm-up ends 5 s after the rotation completed (re-signing raises the
 * working set once; a leak shows as growth after that); every accepted signing is in the log
 * under a checkpoint.
 *
 * Nothing asserted waits on the machine's speed: the load goes on past SOAK_SECONDS until the
 * rotation has left a full measurement window (at most EXTRA_MS longer), and the end waits for
 * the rotation and for a checkpoint covering every accepted signing instead of assuming them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServe, type ServeProcess } from '../support/cli.ts';
import { devApproval } from '../support/approvers.ts';
import { overAdmissions, unexplainedRefusals, type Exchange } from './plan-model.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const PLAN = { qps: 40, burst: 40, concurrency: 32, maxArtifactBytes: 64 * 1024 };
const STEADY_QPS = Math.floor(PLAN.qps * 0.9);
const BURST_EVERY_MS = 10_000;
const BURST_SIZE = PLAN.burst * 2;
/** RSS is compared over this window, which starts WARM_MS after the rotation completed. */
const WARM_MS = 5_000;
const WINDOW_MS = 15_000;
/** How much longer than SOAK_SECONDS the load may go on to leave that window. */
const EXTRA_MS = 60_000;
/** Waits for what follows the load (the rotation, the last checkpoint). */
const SETTLE_MS = 60_000;

type Json = Record<string, any>;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it answers a value, or fails naming `what` after SETTLE_MS. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${SETTLE_MS} ms`);
    await sleep(200);
  }
}

describe('soak', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-soak-'));
  const env = { SIGLEDGER_DATA_DIR: dataDir, SIGLEDGER_CHECKPOINT_INTERVAL_MS: '50', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_PLANS: JSON.stringify({ soak: PLAN }) };
  let server: ServeProcess | undefined;
  afterAll(() => {
    server?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe(`when the service signs at its plan limit with bursts, reads and a rotation for ${SECONDS} s`, () => {
    it('answers no 5xx, throttles only above the limit, keeps memory flat and logs every accepted signing', async () => {
      server = await startServe(['--port', '0'], env);
      const url = server.url;
      const token = async (...args: string[]) => {
        const t = JSON.parse((await runCli(['token', '--tenant', 'soak', ...args], env)).stdout) as { authorization: string; poe: string };
        return { authorization: t.authorization, 'x-proof-of-entitlement': t.poe };
      };
      const signer = await token('--plan', 'soak', '--ttl', String(SECONDS + 600));
      const admin = await token('--plan', 'soak', '--scope', 'ledger.admin', '--ttl', String(SECONDS + 600));

      const statuses = new Map<number, number>();
      const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
      const accepted: { bundleId: string; logIndex: number }[] = [];
      type Sent = { -readonly [K in keyof Exchange]: Exchange[K] } & { burst: boolean };
      const sent: Sent[] = [];
      const burstStarts: number[] = [];
      let fiveHundreds = 0;
      let n = 0;
      const signOnce = async (burst: boolean) => {
        const record: Sent = { sentAt: Date.now(), answeredAt: 0, status: 0, burst };
        sent.push(record);
        const res = await fetch(`${url}/api/v1/signer/sign/dsse`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signer },
          body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from(`soak ${process.pid} ${n++} ${Math.random()}`).toString('base64') }),
        });
        count(res.status);
        const body = (await res.json()) as Json;
        record.answeredAt = Date.now();
        record.status = res.status;
        if (res.status === 429) record.code = body.code;
        if (res.status >= 500) fiveHundreds++;
        if (res.status === 201) accepted.push({ bundleId: body.bundleId, logIndex: body.logIndex });
      };
      const read = async (path: string) => {
        const res = await fetch(`${url}${path}`);
        count(res.status);
        if (res.status >= 500) fiveHundreds++;
        await res.arrayBuffer();
      };

      const started = Date.now();
      const end = started + SECONDS * 1000;
      // Past `end` only while the rotation has not left its measurement window yet.
      const loadUntil = () => (rotationDoneAt === undefined ? end + EXTRA_MS : Math.min(end + EXTRA_MS, Math.max(end, rotationDoneAt + WARM_MS + WINDOW_MS)));
      const inflight = new Set<Promise<void>>();
      const track = (p: Promise<void>) => {
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      };
      const rss: { t: number; bytes: number }[] = [];
      let rotation: Json | undefined;
      let rotationDoneAt: number | undefined;
      let lastPoll = 0;
      let nextBurst = started + BURST_EVERY_MS / 2;
      let tick = 0;
      while (Date.now() < loadUntil()) {
        const now = Date.now();
        // Steady signing, paced open-loop at 90% of the plan's QPS.
        const due = Math.floor(((now - started) / 1000) * STEADY_QPS);
        while (tick < due) {
          tick++;
          track(signOnce(false));
        }
        if (now >= nextBurst) {
          nextBurst += BURST_EVERY_MS;
          burstStarts.push(Date.now());
          for (let i = 0; i < BURST_SIZE; i++) track(signOnce(true));
        }
        // Live reads: an inclusion proof and the anchors.
        if (accepted.length > 0 && tick % 4 === 0) {
          const a = accepted[Math.floor(Math.random() * accepted.length)]!;
          track(read(`/api/v1/log/proof/inclusion?index=${a.logIndex}&treeSize=${a.logIndex + 1}`));
          track(read('/api/v1/trust/anchors'));
        }
        if (rotation && rotationDoneAt === undefined && now - lastPoll >= 500) {
          lastPoll = now;
          const state = ((await (await fetch(`${url}/api/v1/rotations/${rotation.rotationId}`)).json()) as Json).state;
          if (state === 'completed') rotationDoneAt = Date.now();
        }
        // The rotation, a third of the way in.
        if (!rotation && now - started >= (SECONDS * 1000) / 3) {
          const opened = await fetch(`${url}/api/v1/rotations`, { method: 'POST', headers: { 'content-type': 'application/json', ...admin }, body: JSON.stringify({ reason: 'soak' }) });
          rotation = (await opened.json()) as Json;
          const ceremony = (await (await fetch(`${url}/api/v1/ceremonies/${rotation.ceremonyId}`)).json()) as Json;
          for (const k of [1, 2]) {
            const r = await fetch(`${url}/api/v1/ceremonies/${rotation.ceremonyId}/approvals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(devApproval(dataDir, k, ceremony.proposal as never)) });
            expect(r.status).toBe(200);
          }
        }
        if (rss.length === 0 || now - rss[rss.length - 1]!.t >= 1000) rss.push({ t: now, bytes: rssOf(server.child.pid!) });
        await sleep(20);
      }
      const loadEnd = Date.now();
      await Promise.all(inflight);

      // Every accepted signing is in the log under a checkpoint and served. Checkpoints follow
      // the log every 50 ms: wait for one that covers the last accepted signing.
      const highest = Math.max(-1, ...accepted.map((a) => a.logIndex));
      const size = await eventually('a checkpoint covering every accepted signing', async () => {
        const res = await fetch(`${url}/api/v1/log/checkpoint`);
        const s = res.status === 200 ? Number((await res.text()).split('\n')[1]) : (await res.arrayBuffer(), 0);
        return s > highest ? s : undefined;
      });
      const missing: string[] = [];
      for (const a of accepted) {
        const res = await fetch(`${url}/api/v1/bundles/${a.bundleId}`);
        const body = (await res.json()) as Json;
        if (res.status !== 200 || body.versions[0].logIndex !== a.logIndex || a.logIndex >= size) missing.push(a.bundleId);
      }
      // A rotation still re-signing when the load ended is waited for, not judged by the clock.
      const r = rotation
        ? await eventually('the rotation completing', async () => {
            const view = (await (await fetch(`${url}/api/v1/rotations/${rotation!.rotationId}`)).json()) as Json;
            rotationDoneAt ??= view.state === 'completed' ? Date.now() : undefined;
            return view.state === 'completed' ? view : undefined;
          })
        : undefined;

      // Every 429 possible under the plan, and no more admitted than it allows, whatever the latencies.
      const unexplained = unexplainedRefusals(sent, PLAN);
      const secondStarts = sent.filter((x, i) => i === 0 || Math.floor(x.sentAt / 1000) !== Math.floor(sent[i - 1]!.sentAt / 1000)).map((x) => x.sentAt);
      const overAdmitted = overAdmissions(sent, PLAN, [...burstStarts, ...secondStarts]);
      const throttled = sent.filter((r) => r.status === 429);
      const steadySent = sent.filter((x) => !x.burst).length;

      const warmEnd = (rotationDoneAt ?? loadEnd) + WARM_MS;
      const warm = rss.filter((x) => x.t >= warmEnd);
      const beforeRotation = median(rss.filter((x) => x.t < started + (SECONDS * 1000) / 3).slice(-5).map((x) => x.bytes));
      const baseline = median(warm.slice(0, 5).map((x) => x.bytes));
      const final_ = median(warm.slice(-5).map((x) => x.bytes));
      const growth = (final_ - baseline) / baseline;
      console.log(
        `[soak] ${SECONDS} s (load ran ${((loadEnd - started) / 1000).toFixed(1)} s): ${accepted.length} accepted signings (steady ${STEADY_QPS}/s + bursts of ${BURST_SIZE} every ${BURST_EVERY_MS / 1000} s on plan qps ${PLAN.qps}/burst ${PLAN.burst}); ` +
          `statuses ${JSON.stringify(Object.fromEntries(statuses))}; 429: ${throttled.filter((r) => r.burst).length} on burst requests, ${throttled.filter((r) => !r.burst).length} on steady ones right after a burst, ${unexplained.length} not possible under the plan, ${overAdmitted.length} windows admitting more than it; ` +
          `rotation ${r?.state} (${r?.progress?.resigned} re-signed); RSS ${(beforeRotation / 2 ** 20).toFixed(0)} MiB before the rotation, ${(baseline / 2 ** 20).toFixed(0)} → ${(final_ / 2 ** 20).toFixed(0)} MiB over the ${((loadEnd - warmEnd) / 1000).toFixed(0)} s after it (${(growth * 100).toFixed(1)}%; every 5 s: ${rss.filter((_, i) => i % 5 === 0).map((x) => (x.bytes / 2 ** 20).toFixed(0)).join(' ')}); checkpoint size ${size}`,
      );
      expect(fiveHundreds).toBe(0);
      expect(unexplained).toEqual([]);
      expect(overAdmitted.slice(0, 5)).toEqual([]);
      // The limiter was exercised (which requests it hits depends on timing: a starved client
      // sends its steady backlog in a clump that can drain the bucket before a burst).
      expect(throttled.length).toBeGreaterThan(0);
      expect(missing).toEqual([]);
      // The load really ran: the open loop sent the steady rate (it catches up after a pause).
      expect(steadySent).toBeGreaterThanOrEqual(STEADY_QPS * SECONDS * 0.9);
      // ...and was served: the plan admits all of the steady rate, so half of it is a margin
      // only a server that stalls for seconds at a time (concurrency refusals) falls below.
      expect(accepted.length).toBeGreaterThanOrEqual(steadySent * 0.5);
      expect(r?.state).toBe('completed');
      expect(loadEnd - warmEnd, 'the rotation must leave a measurement window (the load goes on up to EXTRA_MS for it)').toBeGreaterThanOrEqual(WINDOW_MS);
      expect(growth).toBeLessThan(0.1);
      server.child.kill('SIGTERM');
      await server.exited;
      server = undefined;
    }, SECONDS * 1000 + EXTRA_MS + 2 * SETTLE_MS + 120_000);
  });
});
