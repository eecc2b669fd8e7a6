/**
 * Re-signing across SIGKILL: the real `sigledger serve` is killed at random moments while a
 * rotation re-signs, restarted on the same data dir (it resumes the rotation at start-up), and
 * at the end every bundle has exactly one new version by the new key.
 */
import { describe, expect, it } from 'vitest';
import { cliTokenHeaders, startServe, type ServeProcess } from '../support/cli.ts';
import { crashDataDir } from '../support/temp-dir.ts';
import { devApproval } from '../support/approvers.ts';

const BUNDLES = 240;
type Json = Record<string, any>;

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
}
const get = async (url: string): Promise<Json> => (await (await fetch(url)).json()) as Json;

describe('re-signing across SIGKILL', () => {
  let server: ServeProcess | undefined;
  const dataDir = crashDataDir('sigledger-rotcrash-', () => server);
  // Small paced batches so that the kills land while re-signing is under way.
  const env = { SIGLEDGER_DATA_DIR: dataDir, SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_RESIGN_BATCH: '4', SIGLEDGER_RESIGN_PAUSE_MS: '15' };

  describe('when the service is killed at random points of a rotation and restarted', () => {
    it('ends with exactly one new version per bundle, none skipped, none failed', async () => {
      server = await startServe(['--port', '0'], env);
      const signer = await cliTokenHeaders(env, 'crash');
      const admin = await cliTokenHeaders(env, 'crash', '--scope', 'ledger.admin');

      const bundleIds: string[] = [];
      for (let i = 0; i < BUNDLES; i += 16) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(16, BUNDLES - i) }, (_, j) => post(`${server!.url}/api/v1/signer/sign/dsse`, signer, { payloadType: 'text/plain', payload: Buffer.from(`crash ${i + j}`).toString('base64') })),
        );
        for (const r of batch) {
          expect(r.status).toBe(201);
          bundleIds.push(r.body.bundleId);
        }
      }

      const opened = await post(`${server.url}/api/v1/rotations`, admin, { reason: 'crash test' });
      expect(opened.status).toBe(202);
      const { rotationId, ceremonyId } = opened.body;
      const ceremony = await get(`${server.url}/api/v1/ceremonies/${ceremonyId}`);
      for (const n of [1, 2]) {
        const r = await post(`${server.url}/api/v1/ceremonies/${ceremonyId}/approvals`, {}, devApproval(dataDir, n, ceremony.proposal));
        expect(r.status).toBe(200);
      }

      const progressAtKill: number[] = [];
      for (let kill = 0; kill < 3; kill++) {
        await new Promise((r) => setTimeout(r, 80 + Math.floor(Math.random() * 250)));
        const before = await get(`${server.url}/api/v1/rotations/${rotationId}`).catch(() => undefined);
        progressAtKill.push(before?.progress?.resigned ?? -1);
        server.child.kill('SIGKILL');
        await server.exited;
        server = await startServe(['--port', '0'], env);
      }

      let rotation: Json = {};
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        rotation = await get(`${server.url}/api/v1/rotations/${rotationId}`);
        if (rotation.state === 'completed') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(rotation.state).toBe('completed');
      expect(rotation.progress).toEqual({ resigned: BUNDLES, remaining: 0, failed: 0 });
      console.log(`[rotation crash] re-signed at each SIGKILL: ${progressAtKill.join(', ')} of ${BUNDLES}`);
      // At least one kill landed in the middle of re-signing.
      expect(progressAtKill.some((p) => p > 0 && p < BUNDLES)).toBe(true);

      for (const id of bundleIds) {
        const b = await get(`${server.url}/api/v1/bundles/${id}`);
        expect(b.latestVersion).toBe(2);
        expect(b.versions.map((v: Json) => v.keyId)).toEqual([rotation.oldKeyId, rotation.newKeyId]);
      }
      server.child.kill('SIGTERM');
      await server.exited;
      server = undefined;
    }, 120_000);
  });
});
