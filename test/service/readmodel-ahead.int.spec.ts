/**
 * A read model ahead of the event history (the store restored to an earlier state, or lost a
 * tail) must not be served: the service rebuilds it from the history at start-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { http } from '../support/http.ts';
import { startTestService } from '../support/service.ts';

describe('read models ahead of the history', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-ahead-'));
  const env = { SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10', SIGLEDGER_ROTATION_CRON: 'off' };
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  describe('when the event store lost its tail while the read model kept it', () => {
    it('rebuilds the read models at start-up and serves only what the history holds', async () => {
      const first = await startTestService(env, { dataDir });
      const headers = await first.tokens();
      const sign = async (svc: typeof first, text: string) => (await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers, json: { payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') } })).body;
      const kept = await sign(first, 'kept');
      await new Promise((r) => setTimeout(r, 100));
      const head = await first.ledger.store.headPosition();
      const lost = await sign(first, 'lost');
      await new Promise((r) => setTimeout(r, 100));
      await first.stop();

      const db = new Database(join(dataDir, 'events.db'));
      db.prepare('DELETE FROM events WHERE position > ?').run(head);
      db.close();

      const second = await startTestService(env, { dataDir });
      try {
        expect((await http(second, `/api/v1/bundles/${kept.bundleId}`)).status).toBe(200);
        expect((await http(second, `/api/v1/bundles/${lost.bundleId}`)).status).toBe(404);
        const checkpoint = await (await fetch(`${second.url}/api/v1/log/checkpoint`)).text();
        expect(Number(checkpoint.split('\n')[1])).toBeLessThanOrEqual(head);
        const again = await sign(second, 'lost');
        expect(again.bundleId).toBe(lost.bundleId);
        expect(again.version).toBe(1);
      } finally {
        await second.stop();
      }
    }, 60_000);
  });
});
