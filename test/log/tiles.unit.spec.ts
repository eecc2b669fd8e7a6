import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactRange, hashLeaf, inclusionProof, rootFromNodes, type NodeReader } from '../../src/log/merkle.ts';
import {
  decodeEntryBundle,
  decodeHashTile,
  encodeEntryBundle,
  encodeHashTile,
  encodeTileIndex,
  entriesPath,
  nodeFromTile,
  parseTilePath,
  TILE_HEIGHT,
  TILE_WIDTH,
  tileForNode,
  tilePath,
  tileWidthAt,
} from '../../src/log/tiles.ts';
import * as ref from '../support/rfc9162-verifier.ts';

const SEED = 8;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('tiles', () => {
  describe('when encoding tile indices and paths', () => {
    it('writes 3-digit elements, all but the last prefixed with x', () => {
      expect(encodeTileIndex(0)).toBe('000');
      expect(encodeTileIndex(5)).toBe('005');
      expect(encodeTileIndex(999)).toBe('999');
      expect(encodeTileIndex(1000)).toBe('x001/000');
      expect(encodeTileIndex(1234067)).toBe('x001/x234/067');
      expect(encodeTileIndex(Number.MAX_SAFE_INTEGER)).toBe('x009/x007/x199/x254/x740/991');
    });

    it('builds hash tile and entry bundle paths, partial ones with .p/<W>', () => {
      expect(tilePath({ level: 0, index: 1234067 })).toBe('tile/0/x001/x234/067');
      expect(tilePath({ level: 1, index: 17, width: 112 })).toBe('tile/1/017.p/112');
      expect(tilePath({ level: 63, index: 0, width: 256 })).toBe('tile/63/000');
      expect(entriesPath({ index: 273 })).toBe('tile/entries/273');
      expect(entriesPath({ index: 273, width: 1 })).toBe('tile/entries/273.p/1');
    });

    it('rejects levels, indices and widths out of range with a RangeError', () => {
      expect(() => tilePath({ level: 64, index: 0 })).toThrow(RangeError);
      expect(() => tilePath({ level: -1, index: 0 })).toThrow(RangeError);
      expect(() => tilePath({ level: 0, index: 0, width: 0 })).toThrow(RangeError);
      expect(() => tilePath({ level: 0, index: 0, width: 257 })).toThrow(RangeError);
      expect(() => entriesPath({ index: -1 })).toThrow(RangeError);
      expect(() => encodeTileIndex(2 ** 53)).toThrow(RangeError);
      expect(() => encodeTileIndex(1.5)).toThrow(RangeError);
    });

    it('parses what it builds, for random levels, indices and widths', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 63 }),
          fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.maxSafeNat()),
          fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }),
          (level, index, width) => {
            const hash = width === undefined ? { kind: 'hash', level, index } : { kind: 'hash', level, index, width };
            expect(parseTilePath(tilePath({ level, index, width }))).toEqual(hash);
            const entries = width === undefined ? { kind: 'entries', index } : { kind: 'entries', index, width };
            expect(parseTilePath(entriesPath({ index, width }))).toEqual(entries);
          },
        ),
        { seed: SEED, numRuns: 500 },
      );
    });

    it('parses the C2SP examples', () => {
      expect(parseTilePath('tile/0/x001/x234/067')).toEqual({ kind: 'hash', level: 0, index: 1234067 });
      expect(parseTilePath('tile/2/000.p/1')).toEqual({ kind: 'hash', level: 2, index: 0, width: 1 });
      expect(parseTilePath('tile/entries/x009/x007/x199/x254/x740/991.p/255')).toEqual({ kind: 'entries', index: Number.MAX_SAFE_INTEGER, width: 255 });
    });
  });

  describe('when a tile path is malformed', () => {
    const malformed: [string, string][] = [
      ['an element of 4 digits', 'tile/0/1234'],
      ['an x element of 1 digit', 'tile/0/x1/234'],
      ['a final element with x', 'tile/0/x001'],
      ['a non-final element without x', 'tile/0/001/234'],
      ['an element of 2 digits', 'tile/0/01'],
      ['a non-canonical leading x000', 'tile/0/x000/001'],
      ['width 256 (full tiles have no .p)', 'tile/0/001.p/256'],
      ['width 0', 'tile/0/001.p/0'],
      ['a width with leading zeros', 'tile/0/001.p/007'],
      ['a width that is not a number', 'tile/0/001.p/abc'],
      ['an empty width', 'tile/0/001.p/'],
      ['.p without a width', 'tile/0/001.p'],
      ['a negative level', 'tile/-1/000'],
      ['level 64', 'tile/64/000'],
      ['a level with a leading zero', 'tile/01/000'],
      ['an empty level', 'tile//000'],
      ['an index beyond 2^53 in one element', 'tile/0/x9007199254740993/000'],
      ['an index beyond 2^53', 'tile/0/x009/x007/x199/x254/x740/993'],
      ['an index far beyond 2^53', 'tile/0/x999/x999/x999/x999/x999/x999/999'],
      ['path traversal', '../'],
      ['path traversal inside', 'tile/0/../000'],
      ['the empty string', ''],
      ['just the prefix', 'tile/'],
      ['a missing index', 'tile/0/'],
      ['a leading slash', '/tile/0/000'],
      ['leading garbage', 'xtile/0/000'],
      ['a trailing slash', 'tile/0/000/'],
      ['trailing garbage', 'tile/0/000?x=1'],
      ['a trailing newline', 'tile/0/000\n'],
      ['a very long path', `tile/0/${'x001/'.repeat(10_000)}000`],
      ['Arabic-Indic digits', 'tile/0/\u0660\u0660\u0661'],
      ['fullwidth digits', 'tile/0/\uff10\uff10\uff11'],
      ['a fullwidth level', 'tile/\uff10/000'],
      ['upper-case X', 'tile/0/X001/000'],
      ['an entries bundle with a level', 'tile/entries/0/000'],
      ['a data tile in the Go sumdb form', 'tile/8/data/000'],
      ['spaces', 'tile/0/ 000'],
      ['a plus sign', 'tile/0/+00'],
    ];

    it.each(malformed)('rejects %s', (_why, path) => {
      expect(parseTilePath(path)).toBeUndefined();
    });

    it('rejects values that are not strings without throwing', () => {
      for (const v of [undefined, null, 42, {}, ['tile/0/000']]) expect(parseTilePath(v as unknown as string)).toBeUndefined();
    });
  });

  describe('when tiles are cut from a tree of 70,000 leaves', () => {
    // Bigger than one full level-1 tile (65,536 leaves), so three tile levels exist.
    const SIZE = 70_000;
    const nodes = new Map<string, Buffer>();
    const range = new CompactRange();
    const leafHashes: Buffer[] = [];
    for (let i = 0; i < SIZE; i++) {
      const h = hashLeaf(Buffer.from(`entry ${i}`));
      leafHashes.push(h);
      range.append(h, (level, index, hash) => nodes.set(`${level}/${index}`, hash));
    }
    /** Tile (L, N) of the tree of `size`: what a log serves, built from its persisted nodes. */
    const tile = (level: number, index: number, size = SIZE): Buffer[] => {
      const width = tileWidthAt(level, index, size);
      return Array.from({ length: width }, (_, i) => nodes.get(`${level * TILE_HEIGHT}/${index * TILE_WIDTH + i}`)!);
    };
    /** Node reader that only looks at tiles, as a tile client would. */
    const tileReader =
      (size: number): NodeReader =>
      (level, index) => {
        const at = tileForNode(level, index);
        const hashes = tile(at.tileLevel, at.tileIndex, size);
        expect(hashes.length).toBeGreaterThanOrEqual(at.minWidth);
        return nodeFromTile(hashes, at.levelWithinTile, at.indexWithinTile);
      };

    it('has the widths the C2SP example gives', () => {
      expect(tileWidthAt(0, 272, SIZE)).toBe(256);
      expect(tileWidthAt(0, 273, SIZE)).toBe(112);
      expect(tileWidthAt(0, 274, SIZE)).toBe(0);
      expect(tileWidthAt(1, 0, SIZE)).toBe(256);
      expect(tileWidthAt(1, 1, SIZE)).toBe(17);
      expect(tileWidthAt(2, 0, SIZE)).toBe(1);
      expect(tileWidthAt(3, 0, SIZE)).toBe(0);
      expect(tileWidthAt(63, 0, Number.MAX_SAFE_INTEGER)).toBe(0);
      // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1"
      expect(tileWidthAt(0, 0, 256)).toBe(256);
      expect(tileWidthAt(1, 0, 256)).toBe(1);
      expect(tileWidthAt(0, 0, 0)).toBe(0);
    });

    it('recomputes every node from its tile, as CompactRange reported it', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 16 }).chain((level) => fc.tuple(fc.constant(level), fc.integer({ min: 0, max: Math.floor(SIZE / 2 ** level) - 1 }))), ([level, index]) => {
          const at = tileForNode(level, index);
          expect(at.tileLevel).toBe(Math.floor(level / 8));
          expect(hex(nodeFromTile(tile(at.tileLevel, at.tileIndex), at.levelWithinTile, at.indexWithinTile))).toBe(hex(nodes.get(`${level}/${index}`)!));
        }),
        { seed: SEED, numRuns: 500 },
      );
    });

    it('hashes a full tile into its entry in the tile above', () => {
      expect(hex(nodeFromTile(tile(0, 5), 8, 0))).toBe(hex(tile(1, 0)[5]!));
      expect(hex(nodeFromTile(tile(1, 0), 8, 0))).toBe(hex(tile(2, 0)[0]!));
    });

    it('serves proofs, read from tiles only, that the reference verifier accepts', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: SIZE }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 }))), ([size, index]) => {
          const root = rootFromNodes(size, tileReader(size));
          expect(ref.verifyInclusion(leafHashes[index]!, index, size, inclusionProof(index, size, tileReader(size)), root)).toBe(true);
        }),
        { seed: SEED, numRuns: 100 },
      );
      expect(hex(rootFromNodes(SIZE, tileReader(SIZE)))).toBe(hex(range.root()));
    });

    it('locates nodes and refuses impossible ones', () => {
      expect(tileForNode(0, 70_000)).toEqual({ tileLevel: 0, tileIndex: 273, levelWithinTile: 0, indexWithinTile: 112, minWidth: 113 });
      expect(tileForNode(3, 40)).toEqual({ tileLevel: 0, tileIndex: 1, levelWithinTile: 3, indexWithinTile: 8, minWidth: 72 });
      expect(tileForNode(8, 3)).toEqual({ tileLevel: 1, tileIndex: 0, levelWithinTile: 0, indexWithinTile: 3, minWidth: 4 });
      expect(tileForNode(15, 1)).toEqual({ tileLevel: 1, tileIndex: 0, levelWithinTile: 7, indexWithinTile: 1, minWidth: 256 });
      expect(() => tileForNode(-1, 0)).toThrow(RangeError);
      expect(() => nodeFromTile(tile(0, 273), 1, 56)).toThrow(RangeError); // needs hashes 112..113 of a 112-wide tile
      expect(() => nodeFromTile(tile(0, 0), 9, 0)).toThrow(RangeError);
      expect(() => nodeFromTile(tile(0, 0), 1, 128)).toThrow(RangeError);
      expect(() => tileWidthAt(64, 0, 1)).toThrow(RangeError);
    });
  });

  describe('when encoding hash tiles', () => {
    it('concatenates 32-byte hashes and splits them back', () => {
      const hashes = Array.from({ length: 3 }, (_, i) => hashLeaf(Buffer.from([i])));
      const tile = encodeHashTile(hashes);
      expect(tile.length).toBe(96);
      expect(decodeHashTile(tile).map(hex)).toEqual(hashes.map(hex));
      expect(encodeHashTile(Array.from({ length: 256 }, () => hashes[0]!)).length).toBe(8192);
    });

    it('rejects empty, oversized and ragged tiles', () => {
      const h = hashLeaf(Buffer.alloc(0));
      expect(() => encodeHashTile([])).toThrow(RangeError);
      expect(() => encodeHashTile(Array.from({ length: 257 }, () => h))).toThrow(RangeError);
      expect(() => encodeHashTile([h, h.subarray(1)])).toThrow(RangeError);
      expect(() => decodeHashTile(Buffer.alloc(0))).toThrow(RangeError);
      expect(() => decodeHashTile(Buffer.alloc(33))).toThrow(RangeError);
      expect(() => decodeHashTile(Buffer.alloc(257 * 32))).toThrow(RangeError);
    });
  });

  describe('when encoding entry bundles', () => {
    it('prefixes each entry with its big-endian uint16 length and round-trips', () => {
      const bundle = encodeEntryBundle([Buffer.from('ab'), Buffer.alloc(0), Buffer.alloc(300, 7)]);
      expect(bundle.subarray(0, 4).toString('hex')).toBe('00026162');
      expect(bundle.subarray(4, 6).toString('hex')).toBe('0000');
      expect(bundle.subarray(6, 8).toString('hex')).toBe('012c');
      expect(bundle.length).toBe(2 + 2 + 2 + 0 + 2 + 300);
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 256 }), (entries) => {
          expect(decodeEntryBundle(encodeEntryBundle(entries)).map(hex)).toEqual(entries.map(hex));
        }),
        { seed: SEED, numRuns: 100 },
      );
    });

    it('takes entries of up to 65,535 bytes and rejects larger ones with a RangeError', () => {
      const max = Buffer.alloc(65_535, 1);
      expect(decodeEntryBundle(encodeEntryBundle([max]))[0]!.length).toBe(65_535);
      expect(() => encodeEntryBundle([Buffer.alloc(65_536)])).toThrow(RangeError);
      expect(() => encodeEntryBundle([])).toThrow(RangeError);
      expect(() => encodeEntryBundle(Array.from({ length: 257 }, () => Buffer.alloc(1)))).toThrow(RangeError);
    });

    it('rejects truncated, empty and overfull bundles with a RangeError', () => {
      const bundle = encodeEntryBundle([Buffer.from('hello'), Buffer.from('world')]);
      expect(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1))).toThrow(RangeError);
      expect(() => decodeEntryBundle(Buffer.concat([bundle, Buffer.from([0])]))).toThrow(RangeError);
      expect(() => decodeEntryBundle(Buffer.alloc(0))).toThrow(RangeError);
      expect(() => decodeEntryBundle(Buffer.alloc(257 * 2))).toThrow(RangeError);
      expect(decodeEntryBundle(Buffer.alloc(256 * 2))).toHaveLength(256);
    });
  });
});
