/**
 * `sigledger replay [--data DIR] [--store sqlite|esdb] [--json] [--no-signatures]`: the audit
 * replay of src/app/audit/replay.ts over a data directory (or an EventStoreDB), with a progress bar on a
 * TTY. Exit 0 when clean, 1 naming the first bad position.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replay, type ReplayReport } from '../app/audit/replay.ts';
import type { Config } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { EventStore } from '../store/event-store.ts';
import { SqliteReadModelStore } from '../store/sqlite/sqlite-read-model.ts';
import { progressBar } from './progress.ts';

export interface ReplayIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly progress?: { isTTY?: boolean; write(s: string): unknown };
}

async function openHistory(config: Config): Promise<EventStore> {
  if (config.store === 'esdb') {
    const { openEsdbEventStore } = await import('../store/esdb/esdb-event-store.ts');
    return openEsdbEventStore(config.esdbUrl!);
  }
  const path = join(config.dataDir, 'events.db');
  if (!existsSync(path)) throw new ConfigError(`no event history at ${path}`);
  const { SqliteEventStore } = await import('../store/sqlite/sqlite-event-store.ts');
  return new SqliteEventStore({ path });
}

const n = (x: number) => x.toLocaleString('en-US');

export function formatReport(r: ReplayReport): string[] {
  const c = r.checks;
  const mark = (check: string) => (r.problems.some((p) => p.check === check) ? 'FAILED' : 'ok');
  const lines = [
    `sigledger replay: ${n(r.events)} events in ${n(r.streams)} streams up to position ${n(r.headPosition)} (${r.seconds.toFixed(1)} s, ${n(Math.round(r.events / Math.max(r.seconds, 1e-3)))} events/s)`,
    `  hash chain     ${mark('chain')}: ${n(c.chain.events)} events`,
    `  signatures     ${c.signatures.skipped ? 'skipped (--no-signatures)' : `${mark('signatures')}: ${n(c.signatures.checked)} DSSE signatures on ${c.signatures.threads} worker threads`}`,
    `  checkpoints    ${mark('checkpoints')}: ${n(c.checkpoints.checked)} signed checkpoints, roots recomputed from ${n(c.checkpoints.leaves)} leaves`,
    `  ceremonies     ${mark('ceremonies')}: ${n(c.ceremonies.executed)} executed, ${n(c.ceremonies.approvals)} approvals verified`,
    `  trust anchors  ${mark('anchors')}: ${n(c.anchors.versions)} versions, ${n(c.anchors.chained)} checked against their predecessor's approvers`,
    `  read models    ${c.readModels.skipped ? `skipped: ${c.readModels.skipped}` : `${mark('read-models')}: ${n(c.readModels.compared)} collections equal to a fresh replay`}`,
  ];
  for (const p of r.problems.slice(0, 20)) lines.push(`  position ${p.position}: [${p.check}] ${p.message}`);
  if (r.problems.length > 20) lines.push(`  … and ${r.problems.length - 20} more`);
  lines.push(r.ok ? 'clean: nothing was altered' : `FAILED: first bad position ${r.firstBadPosition}`);
  return lines;
}

export async function runReplay(config: Config, options: { json: boolean; signatures: boolean }, io: ReplayIo): Promise<number> {
  const store = await openHistory(config);
  const scratch = mkdtempSync(join(tmpdir(), 'sigledger-replay-'));
  const fresh = new SqliteReadModelStore(join(scratch, 'readmodel.db'));
  const livePath = join(config.dataDir, 'readmodel.db');
  const live = existsSync(livePath) ? new SqliteReadModelStore(livePath) : undefined;
  const stream = io.progress ?? process.stderr;
  const bar = stream.isTTY && !options.json ? progressBar(stream, 'replay') : undefined;
  try {
    const { projections } = await import('../main.ts');
    const report = await replay({
      store,
      projections,
      fresh,
      ...(live ? { live } : {}),
      signatures: options.signatures,
      ...(bar ? { onProgress: (position: number, head: number) => bar.update(position, head) } : {}),
    });
    bar?.finish(`replayed ${n(report.events)} events`);
    if (options.json) io.out(JSON.stringify(report));
    else for (const line of formatReport(report)) io.out(line);
    return report.ok ? 0 : 1;
  } finally {
    fresh.close();
    live?.close();
    await store.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
