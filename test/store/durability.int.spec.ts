import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyStoreIntegrity } from '../../src/store/integrity.ts';
import type { EventStore, RecordedEvent } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { useTempDir } from '../support/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('../support/append-child.ts', import.meta.url));

/** One acknowledged append, as printed by the child after the append resolved. */
interface Ack {
  readonly stream: string;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly ids: readonly string[];
  readonly batchId: string;
}

interface ProbeData {
  readonly batchId: string;
  readonly index: number;
  readonly of: number;
}

const isProbe = (d: unknown): d is ProbeData =>
  typeof d === 'object' && d !== null && typeof (d as ProbeData).batchId === 'string' && typeof (d as ProbeData).of === 'number';

/**
 * Everything that must hold after a crash, as a list of problems (empty when all is well):
 * every acknowledged event is stored at its acknowledged position in its stream, and every
 * append is either wholly visible (all `of` events, contiguous) or not at all.
 */
function checkHistory(events: readonly RecordedEvent[], acks: readonly Ack[]): string[] {
  const problems: string[] = [];
  const byId = new Map(events.map((e) => [e.id, e]));
  for (const ack of acks) {
    if (ack.lastPosition - ack.firstPosition + 1 !== ack.ids.length) {
      problems.push(`ack ${ack.batchId}: ${ack.ids.length} ids for positions ${ack.firstPosition}..${ack.lastPosition}`);
    }
    ack.ids.forEach((id, i) => {
      const e = byId.get(id);
      if (!e) problems.push(`ack ${ack.batchId}: acknowledged event ${id} is missing`);
      else if (e.position !== ack.firstPosition + i) problems.push(`ack ${ack.batchId}: event ${id} at position ${e.position}, acknowledged at ${ack.firstPosition + i}`);
      else if (e.stream !== ack.stream) problems.push(`ack ${ack.batchId}: event ${id} in stream "${e.stream}", acknowledged in "${ack.stream}"`);
    });
  }
  const batches = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    if (!isProbe(e.data)) continue;
    const list = batches.get(e.data.batchId);
    if (list) list.push(e);
    else batches.set(e.data.batchId, [e]);
  }
  for (const [batchId, list] of batches) {
    const of = (list[0]!.data as unknown as ProbeData).of;
    const indexes = list.map((e) => (e.data as unknown as ProbeData).index);
    const whole =
      list.length === of &&
      indexes.every((index, i) => index === i) &&
      list.every((e, i) => e.stream === list[0]!.stream && e.position === list[0]!.position + i && e.revision === list[0]!.revision + i);
    if (!whole) {
      problems.push(`append ${batchId} is partly visible: indexes [${indexes.join(',')}] of ${of} at positions [${list.map((e) => e.position).join(',')}]`);
    }
  }
  return problems;
}

async function readEverything(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let after = 0; ; ) {
    const page = await store.readAll({ after, maxCount: 1000 });
    if (page.length === 0) return out;
    out.push(...page);
    after = page[page.length - 1]!.position;
  }
}

/** Runs the child on `dbPath`, SIGKILLs it once `killAfterAcks` appends were acknowledged (plus a random delay), returns the ACKs. */
function runAndKill(dbPath: string, killAfterAcks: number, extraDelayMs: number): Promise<{ acks: Ack[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dbPath], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const acks: Ack[] = [];
    let partial = '';
    let stderr = '';
    let killing = false;
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child acknowledged only ${acks.length} appends in 15 s; stderr: ${stderr}`));
    }, 15_000);
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!; // an incomplete last line stays behind (and is dropped at the end)
      for (const line of lines) if (line) acks.push(JSON.parse(line) as Ack);
      if (!killing && acks.length >= killAfterAcks) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), extraDelayMs);
      }
    });
    child.on('error', reject);
    // 'close' comes after stdout has drained: every ACK the child wrote before dying is in.
    child.on('close', (code, signal) => {
      clearTimeout(timeout);
      if (!killing) reject(new Error(`child exited by itself (code ${code}, signal ${signal}); stderr: ${stderr}`));
      else resolve({ acks, signal });
    });
  });
}

describe('SqliteEventStore durability', () => {
  const dir = useTempDir('sigledger-durability-', 'all');

  describe('when a writer with 16 concurrent appenders is SIGKILLed, three times on the same file', () => {
    it('keeps every acknowledged event at its position, a verifying chain and no half-visible append', async () => {
      const dbPath = join(dir(), 'crash.db');
      const allAcks: Ack[] = [];
      let previousEvents = 0;
      for (let cycle = 1; cycle <= 3; cycle++) {
        const killAfter = 200 + Math.floor(Math.random() * 400);
        const delay = Math.floor(Math.random() * 20);
        const { acks, signal } = await runAndKill(dbPath, killAfter, delay);
        expect(signal, `cycle ${cycle}`).toBe('SIGKILL');
        expect(acks.length).toBeGreaterThanOrEqual(killAfter);
        allAcks.push(...acks);

        const store = new SqliteEventStore({ path: dbPath });
        try {
          const events = await readEverything(store);
          const problems = checkHistory(events, allAcks);
          expect(problems.slice(0, 20), `cycle ${cycle}: ${problems.length} problems`).toEqual([]);
          const report = await verifyStoreIntegrity(store);
          expect(report.events).toBe(events.length);
          expect(report.headPosition).toBe(await store.headPosition());
          expect(report.headPosition).toBeGreaterThanOrEqual(Math.max(...allAcks.map((a) => a.lastPosition)));
          expect(events.length).toBeGreaterThan(previousEvents);
          const acked = new Set(allAcks.map((a) => a.batchId));
          const unacked = new Set(events.filter((e) => isProbe(e.data) && !acked.has(e.data.batchId)).map((e) => (e.data as unknown as ProbeData).batchId));
          console.info(
            `durability cycle ${cycle}: killed after ${acks.length} acks (+${delay} ms); ${events.length} events in ${report.streams} streams verified; ` +
              `${unacked.size} durable but unacknowledged appends so far`,
          );
          previousEvents = events.length;
        } finally {
          await store.close();
        }
      }
    });
  });

  describe('when the history does not match the acknowledgements', () => {
    it('reports a missing acknowledged event, a moved one and a half-visible append', async () => {
      const store = new SqliteEventStore({ path: join(dir(), 'check.db') });
      try {
        const acks: Ack[] = [];
        for (const [stream, of] of [['a', 3], ['b', 1], ['a', 2], ['b', 4]] as const) {
          const batchId = `batch-${acks.length}`;
          const r = await store.appendToStream(
            stream,
            Array.from({ length: of }, (_, index) => ({ type: 'DurabilityProbe', data: { batchId, index, of }, metadata: { time: '2026-11-23T00:00:00Z' } })),
          );
          acks.push({ stream, firstPosition: r.firstPosition, lastPosition: r.lastPosition, ids: r.events.map((e) => e.id), batchId });
        }
        const events = await readEverything(store);
        expect(checkHistory(events, acks)).toEqual([]);

        const missing = { ...acks[1]!, ids: ['6f1c9a52-0000-4000-8000-000000000000'] };
        expect(checkHistory(events, [...acks, missing])).toEqual([`ack batch-1: acknowledged event ${missing.ids[0]} is missing`]);

        const moved = { ...acks[2]!, firstPosition: acks[2]!.firstPosition + 1, lastPosition: acks[2]!.lastPosition + 1 };
        expect(checkHistory(events, [moved])).toEqual([
          `ack batch-2: event ${moved.ids[0]} at position ${acks[2]!.firstPosition}, acknowledged at ${moved.firstPosition}`,
          `ack batch-2: event ${moved.ids[1]} at position ${acks[2]!.lastPosition}, acknowledged at ${moved.lastPosition}`,
        ]);

        const torn = events.filter((e) => e.id !== acks[3]!.ids[3]);
        expect(checkHistory(torn, [])).toEqual([
          `append batch-3 is partly visible: indexes [0,1,2] of 4 at positions [${acks[3]!.firstPosition},${acks[3]!.firstPosition + 1},${acks[3]!.firstPosition + 2}]`,
        ]);
        expect(checkHistory(torn, acks)).toContain(`ack batch-3: acknowledged event ${acks[3]!.ids[3]} is missing`);
      } finally {
        await store.close();
      }
    });
  });
});
