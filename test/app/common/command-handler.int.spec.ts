import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handleCommand } from '../../../src/app/common/command-handler.ts';
import type { Decider, DomainEvent } from '../../../src/domain/decider.ts';
import { LedgerError } from '../../../src/errors.ts';
import { documentProjection } from '../../../src/projections/projection.ts';
import { ProjectionRuntime } from '../../../src/projections/runtime.ts';
import { SqliteEventStore } from '../../../src/store/sqlite/sqlite-event-store.ts';
import { SqliteReadModelStore } from '../../../src/store/sqlite/sqlite-read-model.ts';

/** A seat counter that never books past its capacity, and books a holder once. */
type State = { holders: string[] };
type Command = { type: 'BookSeat'; holder: string; capacity: number };
type Event = DomainEvent<'SeatBooked', { holder: string }>;
const seats: Decider<State, Command, Event> = {
  initialState: () => ({ holders: [] }),
  evolve: (s, e) => ({ holders: [...s.holders, e.data.holder] }),
  decide: (c, s) => {
    if (s.holders.includes(c.holder)) return [];
    if (s.holders.length >= c.capacity) throw new LedgerError('bad_request', 'sold out');
    return [{ type: 'SeatBooked', data: { holder: c.holder } }];
  },
};
const metadata = { time: '2026-11-23T00:00:00Z', actor: 'test' };

describe('command handler', () => {
  let dir: string;
  let store: SqliteEventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigledger-cmd-'));
    store = new SqliteEventStore({ path: join(dir, 'events.db') });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when commands race on one stream', () => {
    it('retries on conflict and never breaks the rule the decider enforces', async () => {
      const attempts = Array.from({ length: 12 }, (_, i) =>
        handleCommand({ store }, 'show-1', seats, { type: 'BookSeat', holder: `h${i}`, capacity: 5 }, { metadata, retries: 20 }),
      );
      const results = await Promise.allSettled(attempts);
      const booked = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(booked.length).toBe(5);
      for (const r of refused) expect((r.reason as LedgerError).message).toBe('sold out');
      expect((await store.readStream('show-1')).length).toBe(5);
    });
  });

  describe('when the command is already satisfied', () => {
    it('appends nothing', async () => {
      const cmd: Command = { type: 'BookSeat', holder: 'ann', capacity: 5 };
      const first = await handleCommand({ store }, 'show-2', seats, cmd, { metadata });
      const again = await handleCommand({ store }, 'show-2', seats, cmd, { metadata });
      expect(first.events.length).toBe(1);
      expect(again.events.length).toBe(0);
      expect(again.position).toBeUndefined();
      expect((await store.readStream('show-2')).length).toBe(1);
    });
  });

  describe('when asked to wait for the projections', () => {
    it('returns only after the read model shows the new events', async () => {
      const readModel = new SqliteReadModelStore(join(dir, 'rm.db'));
      const bookings = documentProjection<{ n: number }>({
        name: 'bookings',
        version: 1,
        documentId: (e) => e.stream,
        initialState: () => ({ n: 0 }),
        evolve: (s) => ({ n: s.n + 1 }),
      });
      const runtime = new ProjectionRuntime({ store, readModel, projections: [bookings] });
      runtime.start();
      try {
        for (let i = 0; i < 5; i++) {
          await handleCommand({ store, runtime }, 'show-3', seats, { type: 'BookSeat', holder: `p${i}`, capacity: 10 }, { metadata, waitForProjections: true });
          expect(bookings.read(readModel, 'show-3')).toEqual({ n: i + 1 });
        }
      } finally {
        await runtime.stop();
        readModel.close();
      }
    });
  });
});
