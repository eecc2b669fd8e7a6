/**
 * The transparency-log projection: one leaf per ledger event in commit order (SPEC §3), appended
 * through a compact range in O(log n). Every perfect node at a tile boundary level (0, 8, 16, …)
 * is written into C2SP tlog-tiles (height 8) kept as blobs in the read model, and every leaf into
 * entry bundles; proofs are then read from tiles in O(log n) (`LogReader`).
 *
 * Collections:
 * - `log`            `state` → {size, root, peaks, contentSize}
 * - `log.tiles`      `<L>/<N>` → concatenated 32-byte hashes (full or partial tile)
 * - `log.entries`    `<N>` → C2SP entry bundle
 * - `log.positions`  `<position>` → leaf index, for events that carry an envelope
 * - `log.keys`       `<keyId>` → base64 DER SPKI (Rekor entries name the signer's key)
 * - `log.checkpoints` `<size, 16 digits>` → {size, rootHash, note}; `latest` → the same
 *
 * The in-memory state (compact range, right-edge tiles, the open entry bundle) is restored from
 * the read model at start and after any failed batch, so it never runs ahead of what committed.
 */
import { KEYRING_STREAM } from '../domain/keyring.ts';
import type { JsonObject } from '../domain/json.ts';
import { LOG_STREAM } from '../domain/transparency-log.ts';
import { CompactRange, EMPTY_ROOT, hashLeaf, rootFromNodes } from '../log/merkle.ts';
import { isEnvelopeLike, leafDataOf } from '../log/rekor-entry.ts';
import { decodeEntryBundle, encodeEntryBundle, nodeFromTile, TILE_HEIGHT, TILE_WIDTH, tileForNode } from '../log/tiles.ts';
import type { RecordedEvent } from '../store/port.ts';
import type { Projection } from './projection.ts';
import type { ReadModelReader, ReadModelTx } from './read-model.ts';

const NAME = 'log';
const TILES = 'log.tiles';
const ENTRIES = 'log.entries';
const POSITIONS = 'log.positions';
const KEYS = 'log.keys';
const CHECKPOINTS = 'log.checkpoints';
const HASH = 32;

export interface LogStateDoc {
  [k: string]: number | string | string[];
  size: number;
  root: string;
  peaks: string[];
  /** Leaves that are not checkpoint events (a checkpoint covering only checkpoints is pointless). */
  contentSize: number;
}

export interface StoredCheckpoint {
  [k: string]: number | string;
  size: number;
  rootHash: string;
  note: string;
}

const tileKey = (level: number, index: number) => `${level}/${index}`;
const padSize = (n: number) => String(n).padStart(16, '0');

export class LogProjection implements Projection {
  readonly name = NAME;
  readonly version = 1;

  private range = new CompactRange();
  private contentSize = 0;
  private keys = new Map<string, string>();
  /** Tiles touched in the current batch: key → hashes buffer (TILE_WIDTH × 32 bytes) and width. */
  private dirtyTiles = new Map<string, { buf: Buffer; width: number }>();
  /** The open (partial) entry bundle. */
  private openEntries: { index: number; entries: Buffer[] } = { index: 0, entries: [] };
  private openEntriesDirty = false;
  /** Notified after a batch commits is not known here; listeners read `committedSize` from the read model. */

  restore(reader: ReadModelReader): void {
    const state = reader.get<LogStateDoc>(NAME, 'state');
    this.dirtyTiles.clear();
    this.openEntriesDirty = false;
    this.keys = new Map(reader.list<string>(KEYS, { limit: 10_000 }).map((r) => [r.key, r.value]));
    if (!state) {
      this.range = new CompactRange();
      this.contentSize = 0;
      this.openEntries = { index: 0, entries: [] };
      return;
    }
    this.range = CompactRange.fromPeaks(state.size, state.peaks.map((p) => Buffer.from(p, 'base64')));
    this.contentSize = state.contentSize;
    const bundleIndex = Math.floor(state.size / TILE_WIDTH);
    const blob = reader.getBlob(ENTRIES, String(bundleIndex));
    this.openEntries = { index: bundleIndex, entries: blob && state.size % TILE_WIDTH !== 0 ? decodeEntryBundle(Buffer.from(blob)).map((e) => Buffer.from(e)) : [] };
  }

  apply(tx: ReadModelTx, event: RecordedEvent): void {
    this.applyBatch(tx, [event]);
  }

  applyBatch(tx: ReadModelTx, events: readonly RecordedEvent[]): void {
    for (const e of events) {
      if (e.stream === KEYRING_STREAM && e.type === 'KeyGenerated') {
        const d = e.data as { keyId: string; publicKey: string };
        this.keys.set(d.keyId, d.publicKey);
        tx.put(KEYS, d.keyId, d.publicKey);
      }
      const leaf = leafDataOf(e, (keyId) => this.keys.get(keyId));
      if (leaf.length > 0xffff) throw new RangeError(`event at position ${e.position} gives a leaf of ${leaf.length} bytes, over the 65535 an entry bundle holds`);
      const index = this.range.size;
      this.range.append(hashLeaf(leaf), (level, nodeIndex, hash) => {
        if (level % TILE_HEIGHT === 0) this.setTileHash(tx, level / TILE_HEIGHT, nodeIndex, hash);
      });
      this.appendEntry(tx, index, leaf);
      const data = e.data as Record<string, unknown> | null;
      if (data && typeof data === 'object' && isEnvelopeLike(data.envelope)) tx.put(POSITIONS, String(e.position), index);
      if (e.stream === LOG_STREAM && e.type === 'CheckpointPublished') {
        const d = e.data as { size: number; rootHash: string; note: string };
        const cp: StoredCheckpoint = { size: d.size, rootHash: d.rootHash, note: d.note };
        tx.put(CHECKPOINTS, padSize(d.size), cp);
        tx.put(CHECKPOINTS, 'latest', cp);
      } else {
        this.contentSize = index + 1;
      }
    }
    for (const [key, t] of this.dirtyTiles) tx.putBlob(TILES, key, t.buf.subarray(0, t.width * HASH));
    this.dirtyTiles.clear();
    if (this.openEntriesDirty) {
      tx.putBlob(ENTRIES, String(this.openEntries.index), encodeEntryBundle(this.openEntries.entries));
      this.openEntriesDirty = false;
      if (this.openEntries.entries.length === TILE_WIDTH) this.openEntries = { index: this.openEntries.index + 1, entries: [] };
    }
    const state: LogStateDoc = {
      size: this.range.size,
      root: this.range.root().toString('base64'),
      peaks: this.range.peaks().map((p) => p.toString('base64')),
      contentSize: this.contentSize,
    };
    tx.put(NAME, 'state', state);
  }

  private setTileHash(tx: ReadModelTx, tileLevel: number, nodeIndex: number, hash: Buffer): void {
    const tileIndex = Math.floor(nodeIndex / TILE_WIDTH);
    const offset = nodeIndex % TILE_WIDTH;
    const key = tileKey(tileLevel, tileIndex);
    let t = this.dirtyTiles.get(key);
    if (!t) {
      const buf = Buffer.alloc(TILE_WIDTH * HASH);
      const stored = offset === 0 ? undefined : tx.getBlob(TILES, key);
      if (stored) Buffer.from(stored).copy(buf);
      t = { buf, width: stored ? stored.byteLength / HASH : 0 };
      this.dirtyTiles.set(key, t);
    }
    hash.copy(t.buf, offset * HASH);
    t.width = Math.max(t.width, offset + 1);
  }

  private appendEntry(tx: ReadModelTx, index: number, leaf: Buffer): void {
    const bundleIndex = Math.floor(index / TILE_WIDTH);
    if (bundleIndex !== this.openEntries.index) {
      // The previous bundle is full: write it before starting the next one.
      if (this.openEntriesDirty) tx.putBlob(ENTRIES, String(this.openEntries.index), encodeEntryBundle(this.openEntries.entries));
      this.openEntries = { index: bundleIndex, entries: [] };
    }
    this.openEntries.entries.push(leaf);
    this.openEntriesDirty = true;
  }
}

/** Full tiles never change: a bounded cache of them keeps proofs off the database. */
class TileCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly max: number) {}
  get(key: string): Buffer | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: Buffer): void {
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

/** Reads the log projection's read model: state, tiles, entries, proofs and checkpoints. */
export class LogReader {
  private readonly cache: TileCache;

  constructor(
    private readonly reader: ReadModelReader,
    options: { cacheTiles?: number } = {},
  ) {
    this.cache = new TileCache(options.cacheTiles ?? 2048);
  }

  state(): LogStateDoc {
    return this.reader.get<LogStateDoc>(NAME, 'state') ?? { size: 0, root: hashEmpty(), peaks: [], contentSize: 0 };
  }

  size(): number {
    return this.state().size;
  }

  /** Hashes of a tile (full or partial), or undefined when the log has none there. */
  tile(level: number, index: number): Buffer | undefined {
    const key = tileKey(level, index);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const blob = this.reader.getBlob(TILES, key);
    if (!blob) return undefined;
    const buf = Buffer.from(blob);
    if (buf.length === TILE_WIDTH * HASH) this.cache.set(key, buf);
    return buf;
  }

  entryBundle(index: number): Buffer | undefined {
    const blob = this.reader.getBlob(ENTRIES, String(index));
    return blob ? Buffer.from(blob) : undefined;
  }

  /** The leaf data at `index` (callers check index < size). */
  leafData(index: number): Buffer | undefined {
    const bundle = this.entryBundle(Math.floor(index / TILE_WIDTH));
    if (!bundle) return undefined;
    const entry = decodeEntryBundle(bundle)[index % TILE_WIDTH];
    return entry ? Buffer.from(entry) : undefined;
  }

  /** Hash of a perfect node (level, index), recomputed from its tile in at most 8 levels. */
  node = (level: number, index: number): Buffer => {
    const at = tileForNode(level, index);
    const tile = this.tile(at.tileLevel, at.tileIndex);
    if (!tile || tile.length < at.minWidth * HASH) throw new RangeError(`node (${level}, ${index}) is not in the log`);
    const hashes: Buffer[] = [];
    for (let i = 0; i < at.minWidth; i++) hashes.push(tile.subarray(i * HASH, (i + 1) * HASH));
    return nodeFromTile(hashes, at.levelWithinTile, at.indexWithinTile);
  };

  /** Root of the tree of the first `size` leaves (size ≤ current size). */
  rootAt(size: number): Buffer {
    return rootFromNodes(size, this.node);
  }

  leafIndexOfPosition(position: number): number | undefined {
    return this.reader.get<number>(POSITIONS, String(position));
  }

  latestCheckpoint(): StoredCheckpoint | undefined {
    return this.reader.get<StoredCheckpoint>(CHECKPOINTS, 'latest');
  }

  checkpointAt(size: number): StoredCheckpoint | undefined {
    return this.reader.get<StoredCheckpoint>(CHECKPOINTS, padSize(size));
  }
}

function hashEmpty(): string {
  return EMPTY_ROOT.toString('base64');
}

export type { JsonObject };
