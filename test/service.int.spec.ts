import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite/sqlite-event-store.ts';
import { startTestService } from './support/service.ts';

describe('service lifecycle', () => {
  describe('when closed with appends still queued for group commit', () => {
    it('commits them before it stops, and they are on disk afterwards', async () => {
      const svc = await startTestService();
      const appends = Array.from({ length: 50 }, (_, i) =>
        svc.ledger.store.appendToStream(`drain-${i}`, [{ type: 'Queued', data: { i }, metadata: { time: '2026-11-23T00:00:00Z' } }]),
      );
      const closing = svc.close();
      const results = await Promise.all(appends);
      await closing;
      const reopened = new SqliteEventStore({ path: join(svc.dataDir, 'events.db') });
      try {
        for (const r of results) {
          const [e] = await reopened.readAll({ after: r.firstPosition - 1, maxCount: 1 });
          expect(e?.hash).toBe(r.events[0]!.hash);
        }
      } finally {
        await reopened.close();
        await svc.stop();
      }
    });
  });
});
