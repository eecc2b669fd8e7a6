import { describe, expect, it } from 'vitest';
import { cliTokenHeaders, startServe, type ServeProcess } from '../support/cli.ts';
import { crashDataDir } from '../support/temp-dir.ts';
import { verifyConsistency } from '../support/rfc9162-verifier.ts';

const b64 = (s: string) => Buffer.from(s, 'base64');

interface Checkpoint {
  size: number;
  root: string;
}

async function checkpoint(url: string): Promise<Checkpoint | undefined> {
  const res = await fetch(`${url}/api/v1/log/checkpoint`);
  if (res.status !== 200) return undefined;
  const [, size, root] = (await res.text()).split('\n');
  return { size: Number(size), root: root! };
}

/** Signs in a loop on `concurrency` connections until stopped; records every 2xx. */
function load(url: string, headers: Record<string, string>, concurrency: number) {
  let stop = false;
  let n = 0;
  const ok: { bundleId: string; logIndex: number }[] = [];
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    while (!stop) {
      try {
        const res = await fetch(`${url}/api/v1/signer/sign/dsse`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from(`crash-load ${process.pid} ${w} ${n++} ${Math.random()}`).toString('base64') }),
        });
        if (res.status < 300) ok.push((await res.json()) as { bundleId: string; logIndex: number });
        else await res.arrayBuffer();
      } catch {
        return; // the server was killed
      }
    }
  });
  return {
    ok,
    async stop() {
      stop = true;
      await Promise.all(workers);
    },
  };
}

describe('transparency log across SIGKILL', () => {
  let server: ServeProcess | undefined;
  const dataDir = crashDataDir('sigledger-logcrash-', () => server);
  const env = { SIGLEDGER_DATA_DIR: dataDir, SIGLEDGER_CHECKPOINT_INTERVAL_MS: '50' };

  describe('when the service is killed under signing load and restarted', () => {
    it('keeps the same root for the same leaves and a verifiable consistency proof across the kill', async () => {
      server = await startServe(['--port', '0'], env);
      const headers = await cliTokenHeaders(env, 'crash');
      const before: Checkpoint[] = [];

      for (let round = 0; round < 2; round++) {
        const traffic = load(server.url, headers, 8);
        const until = Date.now() + 400 + Math.floor(Math.random() * 400);
        while (Date.now() < until) {
          const cp = await checkpoint(server.url);
          if (cp) before.push(cp);
          await new Promise((r) => setTimeout(r, 60));
        }
        const last = await checkpoint(server.url);
        expect(last).toBeDefined();
        server.child.kill('SIGKILL');
        await server.exited;
        await traffic.stop();
        expect(traffic.ok.length).toBeGreaterThan(0);

        server = await startServe(['--port', '0'], env);
        // The first checkpoint after the restart.
        let after: Checkpoint | undefined;
        for (let i = 0; i < 100 && !(after && after.size >= last!.size); i++) {
          after = await checkpoint(server.url);
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(after!.size).toBeGreaterThanOrEqual(last!.size);

        // Same leaves, same root: the root at the old size is the old checkpoint's root.
        for (const cp of [...before, last!].filter((c) => c.size <= after!.size).slice(-5)) {
          const res = await fetch(`${server.url}/api/v1/log/proof/inclusion?index=0&treeSize=${cp.size}`);
          expect(((await res.json()) as { rootHash: string }).rootHash).toBe(cp.root);
        }
        // Consistency from the last checkpoint served before the kill to the first after it.
        if (after!.size > last!.size) {
          const res = await fetch(`${server.url}/api/v1/log/proof/consistency?from=${last!.size}&to=${after!.size}`);
          const proof = ((await res.json()) as { hashes: string[] }).hashes.map(b64);
          expect(verifyConsistency(last!.size, after!.size, proof, b64(last!.root), b64(after!.root))).toBe(true);
          // The check can fail: a wrong old root does not verify.
          expect(verifyConsistency(last!.size, after!.size, proof, b64(after!.root), b64(after!.root))).toBe(false);
        } else {
          expect(after!.root).toBe(last!.root);
        }
        // Every acknowledged signing is still served, at its log index.
        for (const s of traffic.ok.slice(-20)) {
          const res = await fetch(`${server.url}/api/v1/bundles/${s.bundleId}`);
          expect(res.status).toBe(200);
          const view = (await res.json()) as { versions: { logIndex: number }[] };
          expect(view.versions[0]!.logIndex).toBe(s.logIndex);
        }
      }
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
      server = undefined;
    }, 60_000);
  });
});
