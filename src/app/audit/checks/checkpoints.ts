/**
 * Checkpoints and log roots: every event is a leaf (SPEC §3 leaf bytes); each stored checkpoint's
 * note signature verifies with the log key, and its root equals the root recomputed from the
 * leaves at its size. The sizes are read first (few events) so the main pass keeps the root
 * exactly at those sizes instead of every root.
 */
import { decodeBase64Strict } from '../../../crypto/dsse.ts';
import { rawFromSpki } from '../../../crypto/ed25519.ts';
import { LOG_STREAM } from '../../../domain/transparency-log.ts';
import { openCheckpoint } from '../../../log/checkpoint.ts';
import { CompactRange, hashLeaf } from '../../../log/merkle.ts';
import { leafDataOf, leafTextOfCanonical } from '../../../log/rekor-entry.ts';
import type { EventStore } from '../../../store/event-store.ts';
import type { HistoryChecker, HistoryEntry, ReportProblem } from './checker.ts';
import type { KeyRegistryAt } from './key-registry.ts';

/** The sizes of the checkpoints recorded up to `head`. */
export async function checkpointSizes(store: Pick<EventStore, 'readAll'>, head: number): Promise<Set<number>> {
  const sizes = new Set<number>();
  for (let after = 0; ; ) {
    const page = await store.readAll({ after, maxCount: 5000, filter: { types: ['CheckpointPublished'], streamPrefixes: [LOG_STREAM] } });
    if (page.length === 0) break;
    for (const e of page) {
      const size = (e.data as { size?: unknown }).size;
      if (e.position <= head && typeof size === 'number') sizes.add(size);
    }
    after = page[page.length - 1]!.position;
  }
  return sizes;
}

export class CheckpointCheck implements HistoryChecker {
  private readonly range = new CompactRange();
  private readonly rootAt = new Map<number, Buffer>();
  private logKey: { readonly name: string; readonly raw: Buffer } | undefined;
  private checked = 0;

  constructor(
    private readonly registry: KeyRegistryAt,
    private readonly report: ReportProblem,
    /** Checkpoint sizes to keep the root at (checkpointSizes). */
    private readonly sizes: ReadonlySet<number>,
  ) {}

  observe(entry: HistoryEntry): void {
    const e = entry.event;
    if (e.stream === LOG_STREAM && e.type === 'LogKeyCreated') this.logKeyCreated(e.position, e.data as { publicKey: string; origin: string });
    if (e.stream === LOG_STREAM && e.type === 'CheckpointPublished') this.checkpoint(e.position, e.data as { size: number; rootHash: string; note: string });
    // The leaf goes in after the checks above: a checkpoint covers only earlier leaves.
    this.range.append(hashLeaf(this.leafOf(entry)));
    if (this.sizes.has(this.range.size)) this.rootAt.set(this.range.size, this.range.root());
  }

  private logKeyCreated(position: number, d: { publicKey: string; origin: string }): void {
    const spki = decodeBase64Strict(d.publicKey);
    try {
      if (spki) this.logKey = { name: d.origin, raw: rawFromSpki(spki) };
    } catch {
      this.report(position, 'checkpoints', 'the log key is not an Ed25519 key');
    }
  }

  private checkpoint(position: number, d: { size: number; rootHash: string; note: string }): void {
    this.checked++;
    const bad = (message: string) => this.report(position, 'checkpoints', message);
    if (!this.logKey) return bad('checkpoint before the log key was created');
    const cp = openCheckpoint(d.note, { name: this.logKey.name, rawPublicKey: this.logKey.raw });
    const root = this.rootAt.get(d.size);
    if (!cp) bad(`checkpoint at size ${d.size}: the note signature does not verify with the log key`);
    else if (cp.size !== d.size || cp.rootHash.toString('base64') !== d.rootHash) bad(`checkpoint at size ${d.size}: the signed note and the recorded size/root differ`);
    else if (!root) bad(`checkpoint at size ${d.size}: the log has only ${this.range.size} leaves at that point`);
    else if (!root.equals(cp.rootHash)) bad(`checkpoint at size ${d.size}: root ${cp.rootHash.toString('base64')} differs from the recomputed ${root.toString('base64')}`);
  }

  /** SPEC §3 leaf bytes; from the stored canonical text when there is one and no envelope to expand. */
  private leafOf({ event: e, dataJson }: HistoryEntry): Buffer {
    try {
      const hasEnvelope = typeof e.data === 'object' && e.data !== null && 'envelope' in e.data;
      return dataJson !== undefined && !hasEnvelope ? leafTextOfCanonical(e.stream, e.revision, e.type, dataJson) : leafDataOf(e, this.registry.publicKeyOf);
    } catch {
      // An envelope leaf embeds its signer's key; one the registry does not know is a signature problem.
      this.report(e.position, 'signatures', `${e.type} in ${e.stream}: names a key not registered at that point`);
      return Buffer.alloc(0);
    }
  }

  summary(): { readonly checked: number; readonly leaves: number } {
    return { checked: this.checked, leaves: this.range.size };
  }
}
