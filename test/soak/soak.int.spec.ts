/**
 * Sustained load (issue 8): the real service in a child process, signing at 90% of the plan's
 * QPS for SOAK_SECONDS (default 60; `npm run test:soak` runs longer), bursts of twice the plan's
 * burst every 10 s, live reads of inclusion proofs and anchors, and a rotation (with approvals)
 * a third of the way in. It checks: no 5xx; every 429 explained by the plan (a rate refusal only when a
 * token bucket with the plan's qps and burst, fed the same send times, is empty; a concurrency
 * refusal only with the plan's concurrency in flight); RSS growth after warm-up under 10%, where
 * warm-up ends 5 s after the rotation completed (re-signing raises the working set once; a leak
 * shows as growth after that); every accepted signing is in the log under the final checkpoint.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServe, type ServeProcess } from '../support/cli.ts';
import { devApproval } from '../support/approvers.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const PLAN = { qps: 40, burst: 40, concurrency: 32, maxArtifactBytes: 64 * 1024 };
const STEADY_QPS = Math.floor(PLAN.qps * 0.9);
const BURST_EVERY_MS = 10_000;
const BURST_SIZE = PLAN.burst * 2;

type Json = Record<string, any>;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

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
      const sent: { t: number; status: number; code?: string; inflight: number; burst: boolean }[] = [];
      let inflightSigns = 0;
      let fiveHundreds = 0;
      let n = 0;
      const signOnce = async (burst: boolean) => {
        const record: { t: number; status: number; code?: string; inflight: number; burst: boolean } = { t: Date.now(), status: 0, inflight: inflightSigns++, burst };
        sent.push(record);
        const res = await fetch(`${url}/api/v1/signer/sign/dsse`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signer },
          body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from(`soak ${process.pid} ${n++} ${Math.random()}`).toString('base64') }),
        });
        count(res.status);
        const body = (await res.json()) as Json;
        inflightSigns--;
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
      while (Date.now() < end) {
        const now = Date.now();
        // Steady signing, paced open-loop at 90% of the plan's QPS.
        const due = Math.floor(((now - started) / 1000) * STEADY_QPS);
        while (tick < due) {
          tick++;
          track(signOnce(false));
        }
        if (now >= nextBurst) {
          nextBurst += BURST_EVERY_MS;
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
        await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(inflight);

      // Every accepted signing is in the log under the final checkpoint and served.
      const final = await (await fetch(`${url}/api/v1/log/checkpoint`)).text();
      const size = Number(final.split('\n')[1]);
      const missing: string[] = [];
      for (const a of accepted) {
        const res = await fetch(`${url}/api/v1/bundles/${a.bundleId}`);
        const body = (await res.json()) as Json;
        if (res.status !== 200 || body.versions[0].logIndex !== a.logIndex || a.logIndex >= size) missing.push(a.bundleId);
      }
      const r = rotation ? ((await (await fetch(`${url}/api/v1/rotations/${rotation.rotationId}`)).json()) as Json) : undefined;

      // Explain every 429 with the plan: replay the send times through the plan's token bucket.
      let tokens = PLAN.burst;
      let last = started;
      const unexplained: typeof sent = [];
      for (const r of [...sent].sort((a, b) => a.t - b.t)) {
        tokens = Math.min(PLAN.burst, tokens + ((r.t - last) / 1000) * PLAN.qps);
        last = r.t;
        const level = tokens;
        if (r.status !== 429 || r.code === 'rate_limited') tokens = Math.max(0, tokens - (r.status === 429 ? 0 : 1));
        // Slack of 5 tokens / 2 requests for the time between the client's send and the server's check.
        if (r.status === 429 && r.code === 'rate_limited' && level >= 5) unexplained.push(r);
        if (r.status === 429 && r.code === 'concurrency_limited' && r.inflight < PLAN.concurrency - 2) unexplained.push(r);
        if (r.status === 429 && r.code !== 'rate_limited' && r.code !== 'concurrency_limited') unexplained.push(r);
      }
      const throttled = sent.filter((r) => r.status === 429);

      const warmEnd = (rotationDoneAt ?? end) + 5000;
      const warm = rss.filter((x) => x.t >= warmEnd);
      const beforeRotation = median(rss.filter((x) => x.t < started + (SECONDS * 1000) / 3).slice(-5).map((x) => x.bytes));
      const baseline = median(warm.slice(0, 5).map((x) => x.bytes));
      const final_ = median(warm.slice(-5).map((x) => x.bytes));
      const growth = (final_ - baseline) / baseline;
      console.log(
        `[soak] ${SECONDS} s: ${accepted.length} accepted signings (steady ${STEADY_QPS}/s + bursts of ${BURST_SIZE} every ${BURST_EVERY_MS / 1000} s on plan qps ${PLAN.qps}/burst ${PLAN.burst}); ` +
          `statuses ${JSON.stringify(Object.fromEntries(statuses))}; 429: ${throttled.filter((r) => r.burst).length} on burst requests, ${throttled.filter((r) => !r.burst).length} on steady ones right after a burst, ${unexplained.length} not explained by the plan; ` +
          `rotation ${r?.state} (${r?.progress?.resigned} re-signed); RSS ${(beforeRotation / 2 ** 20).toFixed(0)} MiB before the rotation, ${(baseline / 2 ** 20).toFixed(0)} → ${(final_ / 2 ** 20).toFixed(0)} MiB over the ${((end - warmEnd) / 1000).toFixed(0)} s after it (${(growth * 100).toFixed(1)}%; every 5 s: ${rss.filter((_, i) => i % 5 === 0).map((x) => (x.bytes / 2 ** 20).toFixed(0)).join(' ')}); checkpoint size ${size}`,
      );
      expect(fiveHundreds).toBe(0);
      expect(unexplained).toEqual([]);
      expect(throttled.filter((r) => r.burst).length).toBeGreaterThan(0);
      expect(missing).toEqual([]);
      expect(accepted.length).toBeGreaterThan(STEADY_QPS * SECONDS * 0.8);
      expect(r?.state).toBe('completed');
      expect(end - warmEnd, 'the rotation must finish early enough to leave a measurement window').toBeGreaterThanOrEqual(15_000);
      expect(growth).toBeLessThan(0.1);
      server.child.kill('SIGTERM');
      await server.exited;
      server = undefined;
    }, (SECONDS + 120) * 1000);
  });
});
