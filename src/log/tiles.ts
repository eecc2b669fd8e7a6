/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile paths, tile and entry-bundle encodings.
 *
 * Tile (L, N) holds the hashes of tree level L·8, nodes [N·256, N·256 + W): W = 256 for a full
 * tile, 1..255 for the partial tile at the right edge. Nodes on the levels between two tile levels
 * are not stored: they are recomputed from the tile's level-L·8 hashes (nodeFromTile).
 * Pure: no I/O.
 */
import { HASH_SIZE, hashChildren } from './merkle.ts';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** C2SP: the level of a tile is 0..63. */
export const MAX_TILE_LEVEL = 63;
/** Entries are length-prefixed with a big-endian uint16. */
export const MAX_ENTRY_BYTES = 0xffff;

export interface HashTileRef {
  /** Tile level: the tile stores tree level `level * TILE_HEIGHT`. */
  readonly level: number;
  readonly index: number;
  /** 1..255 for a partial tile; undefined (or 256) for a full one. */
  readonly width?: number;
}

export interface EntriesTileRef {
  readonly index: number;
  readonly width?: number;
}

export type ParsedTilePath = ({ readonly kind: 'hash' } & HashTileRef) | ({ readonly kind: 'entries' } & EntriesTileRef);

function requireCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a safe integer ≥ 0, got ${String(value)}`);
}

function requireTileLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) throw new RangeError(`tile level must be 0..${MAX_TILE_LEVEL}, got ${String(level)}`);
}

/** Index as zero-padded 3-digit path elements, all but the last prefixed with x: 1234067 → x001/x234/067. */
export function encodeTileIndex(n: number): string {
  requireCount('tile index', n);
  let digits = String(n);
  digits = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const parts: string[] = [];
  for (let i = 0; i < digits.length; i += 3) parts.push(digits.slice(i, i + 3));
  return parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join('/');
}

function widthSuffix(width: number | undefined): string {
  if (width === undefined || width === TILE_WIDTH) return '';
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new RangeError(`tile width must be 1..${TILE_WIDTH}, got ${String(width)}`);
  return `.p/${width}`;
}

/** `tile/<L>/<N>[.p/<W>]` */
export function tilePath(ref: HashTileRef): string {
  requireTileLevel(ref.level);
  return `tile/${ref.level}/${encodeTileIndex(ref.index)}${widthSuffix(ref.width)}`;
}

/** `tile/entries/<N>[.p/<W>]` */
export function entriesPath(ref: EntriesTileRef): string {
  return `tile/entries/${encodeTileIndex(ref.index)}${widthSuffix(ref.width)}`;
}

/** Longest canonical path: "tile/entries/" + a 6-group index + ".p/255" is 42 characters. */
const MAX_TILE_PATH_LENGTH = 64;
const TILE_PATH_RE = /^tile\/(0|[1-9][0-9]?|entries)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses a canonical tile path (`tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`, no leading
 * slash). Anything else is undefined: non-ASCII digits, a level outside 0..63 or with leading
 * zeros, an index element not of 3 digits, a non-final element without `x` (or a final one with
 * it), a non-canonical index (leading `x000/` elements), an index beyond 2^53 - 1, a width outside
 * 1..255 or with leading zeros, or anything longer than 64 characters.
 */
export function parseTilePath(path: string): ParsedTilePath | undefined {
  if (typeof path !== 'string' || path.length > MAX_TILE_PATH_LENGTH) return undefined;
  const m = TILE_PATH_RE.exec(path);
  if (!m) return undefined;
  const [, levelText, indexText, widthText] = m;
  const index = Number(indexText!.replaceAll('x', '').replaceAll('/', ''));
  if (!Number.isSafeInteger(index) || encodeTileIndex(index) !== indexText) return undefined;
  let width: number | undefined;
  if (widthText !== undefined) {
    width = Number(widthText);
    if (width >= TILE_WIDTH) return undefined;
  }
  const tail = width === undefined ? {} : { width };
  if (levelText === 'entries') return { kind: 'entries', index, ...tail };
  const level = Number(levelText);
  if (level > MAX_TILE_LEVEL) return undefined;
  return { kind: 'hash', level, index, ...tail };
}

export interface TileNodeLocation {
  /** Tile level and index of the tile that stores (or lets one recompute) the node. */
  readonly tileLevel: number;
  readonly tileIndex: number;
  /** The node's level above the tile's base level (0 = stored as-is, 1..7 = recomputed). */
  readonly levelWithinTile: number;
  /** The node's index on that level within the tile. */
  readonly indexWithinTile: number;
  /** How many of the tile's hashes the node needs: a partial tile must be at least this wide. */
  readonly minWidth: number;
}

/** Where the tree node (level, index) lives in the tiles. */
export function tileForNode(level: number, index: number): TileNodeLocation {
  requireCount('level', level);
  requireCount('index', index);
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  if (tileLevel > MAX_TILE_LEVEL) throw new RangeError(`no tile stores level ${level}`);
  const levelWithinTile = level - tileLevel * TILE_HEIGHT;
  const nodesPerTile = TILE_WIDTH / 2 ** levelWithinTile;
  const indexWithinTile = index % nodesPerTile;
  return {
    tileLevel,
    tileIndex: Math.floor(index / nodesPerTile),
    levelWithinTile,
    indexWithinTile,
    minWidth: (indexWithinTile + 1) * 2 ** levelWithinTile,
  };
}

/**
 * Hash of the node `levelWithinTile` (0..8) levels above a tile's base level, at `indexWithinTile`
 * on that level, from the tile's hashes. Level 8 (index 0) is the hash of a full tile, i.e. the
 * tile's entry in the tile above.
 */
export function nodeFromTile(tileHashes: readonly Uint8Array[], levelWithinTile: number, indexWithinTile: number): Buffer {
  if (!Number.isInteger(levelWithinTile) || levelWithinTile < 0 || levelWithinTile > TILE_HEIGHT) throw new RangeError(`level within a tile must be 0..${TILE_HEIGHT}`);
  const span = 2 ** levelWithinTile;
  if (!Number.isInteger(indexWithinTile) || indexWithinTile < 0 || (indexWithinTile + 1) * span > TILE_WIDTH) throw new RangeError('index within the tile is out of range');
  const begin = indexWithinTile * span;
  if (tileHashes.length < begin + span) throw new RangeError(`the tile has ${tileHashes.length} hashes, the node needs ${begin + span}`);
  const layer: Uint8Array[] = [];
  for (let i = begin; i < begin + span; i++) {
    const h = tileHashes[i]!;
    if (h.length !== HASH_SIZE) throw new TypeError('tile hashes have 32 bytes');
    layer.push(h);
  }
  for (let n = span; n > 1; n /= 2) {
    for (let i = 0; i < n / 2; i++) layer[i] = hashChildren(layer[2 * i]!, layer[2 * i + 1]!);
  }
  const h = layer[0]!;
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength);
}

/**
 * Width of tile (level, index) in a tree of treeSize: 256 when full, 1..255 when partial, 0 when
 * the tree has no such tile. Entry bundles have the width of the level-0 tile with the same index.
 */
export function tileWidthAt(level: number, index: number, treeSize: number): number {
  requireTileLevel(level);
  requireCount('index', index);
  requireCount('treeSize', treeSize);
  const perfectNodes = Math.floor(treeSize / 2 ** (level * TILE_HEIGHT));
  const width = perfectNodes - index * TILE_WIDTH;
  return width <= 0 ? 0 : Math.min(width, TILE_WIDTH);
}

/** A hash tile: its 1..256 hashes concatenated. */
export function encodeHashTile(hashes: readonly Uint8Array[]): Buffer {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH) throw new RangeError(`a tile has 1..${TILE_WIDTH} hashes, got ${hashes.length}`);
  const out = Buffer.allocUnsafe(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => {
    if (h.length !== HASH_SIZE) throw new RangeError('tile hashes have 32 bytes');
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/** Splits a hash tile into its hashes (views into tile); RangeError unless it holds 1..256 whole hashes. */
export function decodeHashTile(tile: Uint8Array): Buffer[] {
  if (tile.length === 0 || tile.length % HASH_SIZE !== 0 || tile.length > TILE_WIDTH * HASH_SIZE) throw new RangeError(`a hash tile has 1..${TILE_WIDTH} 32-byte hashes, got ${tile.length} bytes`);
  const b = Buffer.from(tile.buffer, tile.byteOffset, tile.byteLength);
  const out: Buffer[] = [];
  for (let off = 0; off < b.length; off += HASH_SIZE) out.push(b.subarray(off, off + HASH_SIZE));
  return out;
}

/** An entry bundle: 1..256 entries, each prefixed with its length as a big-endian uint16. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  if (entries.length < 1 || entries.length > TILE_WIDTH) throw new RangeError(`an entry bundle has 1..${TILE_WIDTH} entries, got ${entries.length}`);
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) throw new RangeError(`an entry has at most ${MAX_ENTRY_BYTES} bytes, got ${e.length}`);
    total += 2 + e.length;
  }
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const e of entries) {
    off = out.writeUInt16BE(e.length, off);
    out.set(e, off);
    off += e.length;
  }
  return out;
}

/**
 * Splits an entry bundle into its entries (views into bundle). RangeError when a length prefix or
 * an entry is cut short, or the bundle is empty or has more than 256 entries.
 */
export function decodeEntryBundle(bundle: Uint8Array): Buffer[] {
  const b = Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength);
  if (b.length === 0) throw new RangeError('an entry bundle is not empty');
  const out: Buffer[] = [];
  let off = 0;
  while (off < b.length) {
    if (out.length === TILE_WIDTH) throw new RangeError(`an entry bundle has at most ${TILE_WIDTH} entries`);
    if (off + 2 > b.length) throw new RangeError('an entry bundle ends inside a length prefix');
    const len = b.readUInt16BE(off);
    off += 2;
    if (off + len > b.length) throw new RangeError('an entry bundle ends inside an entry');
    out.push(b.subarray(off, off + len));
    off += len;
  }
  return out;
}
