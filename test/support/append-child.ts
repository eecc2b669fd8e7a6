/**
 * Crash-test writer for test/store/durability.int.spec.ts:
 *
 *   node --import tsx test/support/append-child.ts <dbPath> [loops=16] [streams=6]
 *
 * Opens a SqliteEventStore on <dbPath> and appends forever from `loops` concurrent async loops to
 * `streams` streams, 1–5 events per append. Each event's data is {batchId, index, of}. Once an
 * append has resolved (i.e. is durable) it writes one ACK line to stdout, synchronously:
 *
 *   {"stream":…,"firstPosition":…,"lastPosition":…,"ids":[…],"batchId":…}
 *
 * It is meant to be SIGKILLed. It exits by itself when stdin closes (the parent went away) or
 * after a minute, so an aborted test run cannot leave it writing.
 */
import { randomUUID } from 'node:crypto';
import { writeSync } from 'node:fs';
import type { NewEvent } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';

const [dbPath, loopsArg, streamsArg] = process.argv.slice(2);
if (!dbPath) {
  process.stderr.write('usage: append-child.ts <dbPath> [loops] [streams]\n');
  process.exit(2);
}
const LOOPS = Number(loopsArg ?? 16);
const STREAMS = Number(streamsArg ?? 6);
const TIME = '2026-11-23T00:00:00.000Z';

/** Writes the whole line to fd 1 before returning (a pipe may take it in parts or say EAGAIN). */
function writeLine(line: string): void {
  const buf = Buffer.from(line + '\n', 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

const store = new SqliteEventStore({ path: dbPath });
let stopping = false;
const stop = (code: number) => {
  if (stopping) return;
  stopping = true;
  void store.close().finally(() => process.exit(code));
};
process.stdin.on('end', () => stop(0));
process.stdin.on('error', () => stop(0));
process.stdin.resume();
setTimeout(() => stop(3), 60_000).unref();

async function loop(n: number): Promise<void> {
  for (let i = 0; !stopping; i++) {
    const stream = `dur-${Math.floor(Math.random() * STREAMS)}`;
    const of = 1 + Math.floor(Math.random() * 5);
    const batchId = `${process.pid}-${n}-${i}-${randomUUID().slice(0, 8)}`;
    const events: NewEvent[] = Array.from({ length: of }, (_, index) => ({
      type: 'DurabilityProbe',
      data: { batchId, index, of, pad: 'x'.repeat(Math.floor(Math.random() * 200)) },
      metadata: { time: TIME, actor: `loop-${n}` },
    }));
    const r = await store.appendToStream(stream, events);
    writeLine(
      JSON.stringify({ stream, firstPosition: r.firstPosition, lastPosition: r.lastPosition, ids: r.events.map((e) => e.id), batchId }),
    );
  }
}

for (let n = 0; n < LOOPS; n++) {
  loop(n).catch((err: unknown) => {
    process.stderr.write(`append loop ${n} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
