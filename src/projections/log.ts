/**
 * The transparency-log projection: one leaf per ledger event in commit order (SPEC §3), appended
 * through a compact range in O(log n). Every perfect node at a tile boundary level (0, 8, 16, …)
 * is written into C2SP tlog-tiles (height 8) kept as blobs in the read model, and every leaf into
 * entry bundles; proofs are then read from tiles in O(log n) (`LogReader`).
 *
 * Collections:
 * - `log`            `state` → {size, root, peaks, contentSize}
 * - `log.tiles`      `<L>/<N>` → the tile's levels 1..7 (128 + 64 + … + 2 slots of 32 bytes, zero
 *                    where not yet complete), then the C2SP tile itself: its level-0 hashes (full
 *                    or partial). The interior is written as the compact range completes those
 *                    nodes, so a proof reads each node (one row per tile) instead of rehashing up
 *                    to 255 of them; the C2SP route serves the bytes after the interior.
 * - `log.entries`    `<N>` → C2SP entry bundle
 * - `log.positions`  `<position>` → leaf index, for events that carry an envelope
 * - `log.keys`       `<keyId>` → base64 DER SPKI (Rekor entries name the signer's key)
 * - `log.checkpoints` `<size, 16 digits>` → {size, rootHash, note}; `latest` → the same
 *
 * The in-memory state (compact range, right-edge tiles, the open entry bundle) is restored from
 * the read model at start and after any failed batch, so it never runs ahead of what committed.
 */
import { KEYRING_STREAM } from '../domain/keyring.ts';
import type { JsonObject } from '../json.ts';
import { LOG_STREAM } from '../domain/transparency-log.ts';
import { CompactRange, EMPTY_ROOT, hashLeaf, rootFromNodes } from '../log/merkle.ts';
import { isEnvelopeLike, leafDataOf } from '../log/rekor-entry.ts';
import { decodeEntryBundle, encodeEntryBundle, TILE_WIDTH, tileForNode } from '../log/tiles.ts';
import type { RecordedEvent } from '../store/event-store.ts';
import type { Projection } from './projection.ts';
import type { ReadModelReader, ReadModelTx } from '../store/read-model.ts';
import { Lru } from '../util/lru.ts';

const NAME = 'log';
const TILES = 'log.tiles';
/** Slot offset of level r (1..7) inside an interior blob. */
const INTERIOR_OFFSET = [0, 0, 128, 192, 224, 240, 248, 252, 254];
const INTERIOR_BYTES = 254 * 32;
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
  private dirtyTiles = new Map<string, { buf: Buffer; interior: Buffer; width: number }>();
  /** The open (partial) entry bundle. */
  private openEntries: { index: number; entries: Buffer[] } = { index: 0, entries: [] };
  private openEntriesDirty = false;

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
      // At most 65535 bytes (an entry bundle's limit): a larger event has its digest leaf.
      const leaf = leafDataOf(e, (keyId) => this.keys.get(keyId));
      const index = this.range.size;
      this.range.append(hashLeaf(leaf), (level, nodeIndex, hash) => {
        this.setTileHash(tx, level, nodeIndex, hash);
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
    for (const [key, t] of this.dirtyTiles) {
      tx.putBlob(TILES, key, Buffer.concat([t.interior, t.buf.subarray(0, t.width * HASH)]));
    }
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

  /** Records a completed perfect node in its tile: the base level, or the tile's interior levels. */
  private setTileHash(tx: ReadModelTx, level: number, nodeIndex: number, hash: Buffer): void {
    const at = tileForNode(level, nodeIndex);
    const key = tileKey(at.tileLevel, at.tileIndex);
    let t = this.dirtyTiles.get(key);
    if (!t) {
      const buf = Buffer.alloc(TILE_WIDTH * HASH);
      const interior = Buffer.alloc(INTERIOR_BYTES);
      // A new tile starts with its first base hash; otherwise continue the stored partial tile.
      const fresh = at.levelWithinTile === 0 && at.indexWithinTile === 0;
      const stored = fresh ? undefined : tx.getBlob(TILES, key);
      if (stored) {
        const b = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
        b.copy(interior, 0, 0, INTERIOR_BYTES);
        b.copy(buf, 0, INTERIOR_BYTES);
      }
      t = { buf, interior, width: stored ? (stored.byteLength - INTERIOR_BYTES) / HASH : 0 };
      this.dirtyTiles.set(key, t);
    }
    if (at.levelWithinTile === 0) {
      hash.copy(t.buf, at.indexWithinTile * HASH);
      t.width = Math.max(t.width, at.indexWithinTile + 1);
    } else {
      hash.copy(t.interior, (INTERIOR_OFFSET[at.levelWithinTile]! + at.indexWithinTile) * HASH);
    }
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

/** A tile's base hashes and interior levels; full tiles never change, so they are cached. */
interface TileNodes {
  readonly base: Buffer;
  readonly interior: Buffer;
}

/** A numeric cache key per tile (tile levels are below 8 for any safe-integer tree size). */
const tileNumber = (level: number, index: number) => index * 8 + level;

/** Reads the log projection's read model: state, tiles, entries, proofs and checkpoints. */
export class LogReader {
  /** Tile number → nodes (full tiles are immutable; a partial one is re-read when it grew). */
  private readonly cache: Lru<number, TileNodes>;
  /** Tree size → root (a size's root never changes). */
  private readonly roots = new Lru<number, Buffer>({ capacity: 1024 });

  constructor(
    private readonly reader: ReadModelReader,
    options: { cacheTiles?: number } = {},
  ) {
    // 16 KiB per tile: 4096 tiles ≈ 64 MiB, every level-0 tile of a million-leaf log.
    this.cache = new Lru({ capacity: options.cacheTiles ?? 4096 });
  }

  state(): LogStateDoc {
    return this.reader.get<LogStateDoc>(NAME, 'state') ?? { size: 0, root: hashEmpty(), peaks: [], contentSize: 0 };
  }

  size(): number {
    return this.state().size;
  }

  /** Hashes of a tile (full or partial), or undefined when the log has none there. */
  tile(level: number, index: number): Buffer | undefined {
    const cached = this.cache.get(tileNumber(level, index));
    if (cached) return cached.base;
    const blob = this.reader.getBlob(TILES, tileKey(level, index));
    return blob ? Buffer.from(blob).subarray(INTERIOR_BYTES) : undefined;
  }

  /**
   * A tile's nodes, cached. A partial tile is cached too: the hashes it holds never change, so it
   * serves every node it covers (`minWidth`) and is re-read only for a node it does not cover yet.
   */
  private tileNodes(level: number, index: number, minWidth: number): TileNodes | undefined {
    const cached = this.cache.get(tileNumber(level, index));
    if (cached && cached.base.length >= minWidth * HASH) return cached;
    const blob = this.reader.getBlob(TILES, tileKey(level, index));
    if (!blob) return undefined;
    const all = Buffer.from(blob);
    const nodes = { base: all.subarray(INTERIOR_BYTES), interior: all.subarray(0, INTERIOR_BYTES) };
    this.cache.set(tileNumber(level, index), nodes);
    return nodes;
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

  /** Hash of a perfect node (level, index): one lookup in its tile's base or interior levels. */
  node = (level: number, index: number): Buffer => {
    // tileForNode, inlined: this is the hot path of every proof.
    const tileLevel = Math.floor(level / 8);
    const within = level - tileLevel * 8;
    const perTile = TILE_WIDTH >>> within;
    const tileIndex = Math.floor(index / perTile);
    const indexWithinTile = index - tileIndex * perTile;
    const minWidth = (indexWithinTile + 1) * 2 ** within;
    const nodes = this.tileNodes(tileLevel, tileIndex, minWidth);
    // The node is complete only when the tile's base covers all of its leaves.
    if (!nodes || nodes.base.length < minWidth * HASH) throw new RangeError(`node (${level}, ${index}) is not in the log`);
    const slot = within === 0 ? indexWithinTile : INTERIOR_OFFSET[within]! + indexWithinTile;
    const buf = within === 0 ? nodes.base : nodes.interior;
    return buf.subarray(slot * HASH, (slot + 1) * HASH);
  };

  /** Root of the tree of the first `size` leaves (size ≤ current size); a size's root never changes. */
  rootAt(size: number): Buffer {
    let root = this.roots.get(size);
    if (!root) {
      root = rootFromNodes(size, this.node);
      this.roots.set(size, root);
    }
    return root;
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
