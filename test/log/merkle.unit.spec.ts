import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { MerkleTree } from 'merkletreejs';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  consistencyProof,
  consistencyProofNodes,
  EMPTY_ROOT,
  hashChildren,
  hashLeaf,
  inclusionProof,
  inclusionProofNodes,
  peakNodes,
  rehashProof,
  rootFromInclusionProof,
  rootFromNodes,
  verifyConsistency,
  verifyInclusion,
  type NodeId,
  type NodeReader,
  type ProofNodes,
} from '../../src/log/merkle.ts';
import * as ref from '../support/rfc9162-verifier.ts';

interface Vectors {
  leavesHex: string[];
  leafHashesHex: string[];
  /** rootsHexBySize[i] is the root of the tree of size i + 1. */
  rootsHexBySize: string[];
  inclusion: { index: number; treeSize: number; proof: string[] }[];
  consistency: { from: number; to: number; proof: string[] }[];
}
const V = JSON.parse(readFileSync(new URL('../vectors/rfc6962.json', import.meta.url), 'utf8')) as Vectors;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

const SEED = 6962;
const MAX_SIZE = 2000;
const leafHashes = Array.from({ length: MAX_SIZE }, (_, i) => hashLeaf(Buffer.from(`leaf ${i}`)));

/** Every node CompactRange reports while growing to MAX_SIZE, by "level/index". */
const reported = new Map<string, Buffer>();
const full = new CompactRange();
for (const h of leafHashes) full.append(h, (level, index, hash) => reported.set(`${level}/${index}`, hash));

const isPerfect = (level: number, index: number, size: number) => (index + 1) * 2 ** level <= size;

/** A node reader for the tree of `size` that fails on any node that is not perfect in it. */
function readerFor(size: number, asked?: NodeId[]): NodeReader {
  return (level, index) => {
    asked?.push({ level, index });
    if (!isPerfect(level, index, size)) throw new Error(`asked for non-perfect node (${level}, ${index}) in a tree of ${size}`);
    const h = reported.get(`${level}/${index}`);
    if (!h) throw new Error(`node (${level}, ${index}) was never reported`);
    return h;
  };
}

function flipBit(proof: Buffer[], element: number, bit: number): Buffer[] {
  return proof.map((p, i) => {
    if (i !== element) return p;
    const c = Buffer.from(p);
    c[bit >> 3]! ^= 1 << (bit & 7);
    return c;
  });
}

/** Leaf ranges [begin, end) of a plan's nodes, as BigInt (exact at any size). */
const coverage = (ids: readonly NodeId[]) => ids.map(({ level, index }) => [BigInt(index) << BigInt(level), (BigInt(index) + 1n) << BigInt(level)] as const);

/** True when the ranges tile [0, n) exactly once. */
function partitions(ranges: (readonly [bigint, bigint])[], n: bigint): boolean {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let at = 0n;
  for (const [b, e] of sorted) {
    if (b !== at) return false;
    at = e;
  }
  return at === n;
}

describe('merkle', () => {
  describe('when given the RFC 6962 reference tree (shared vectors)', () => {
    const leaves = V.leavesHex.map(unhex);
    const hashes = leaves.map(hashLeaf);
    const vectorNodes = new Map<string, Buffer>();
    const range = new CompactRange();
    for (const h of hashes) range.append(h, (l, i, hash) => vectorNodes.set(`${l}/${i}`, hash));
    const vectorReader: NodeReader = (l, i) => vectorNodes.get(`${l}/${i}`)!;

    it('hashes every leaf as SHA-256(0x00 ‖ data)', () => {
      expect(hashes.map(hex)).toEqual(V.leafHashesHex);
      expect(hex(hashLeaf(new Uint8Array()))).toBe(hex(sha256(Uint8Array.of(0))));
    });

    it('computes the root of every size, the empty tree included', () => {
      expect(hex(new CompactRange().root())).toBe(hex(sha256(new Uint8Array())));
      expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      const r = new CompactRange();
      V.rootsHexBySize.forEach((root, i) => {
        r.append(hashes[i]!);
        expect(r.size).toBe(i + 1);
        expect(hex(r.root())).toBe(root);
        expect(hex(rootFromNodes(i + 1, vectorReader))).toBe(root);
        expect(hex(ref.mth(hashes.slice(0, i + 1)))).toBe(root);
      });
    });

    it(`reproduces and verifies all ${V.inclusion.length} inclusion proofs`, () => {
      for (const v of V.inclusion) {
        const root = unhex(V.rootsHexBySize[v.treeSize - 1]!);
        const proof = inclusionProof(v.index, v.treeSize, vectorReader);
        expect(proof.map(hex), `index ${v.index} size ${v.treeSize}`).toEqual(v.proof);
        const vecProof = v.proof.map(unhex);
        expect(verifyInclusion(hashes[v.index]!, v.index, v.treeSize, vecProof, root)).toBe(true);
        expect(ref.verifyInclusion(hashes[v.index]!, v.index, v.treeSize, vecProof, root)).toBe(true);
      }
    });

    it(`reproduces and verifies all ${V.consistency.length} consistency proofs`, () => {
      for (const v of V.consistency) {
        const rootM = unhex(V.rootsHexBySize[v.from - 1]!);
        const rootN = unhex(V.rootsHexBySize[v.to - 1]!);
        const proof = consistencyProof(v.from, v.to, vectorReader);
        expect(proof.map(hex), `${v.from} → ${v.to}`).toEqual(v.proof);
        const vecProof = v.proof.map(unhex);
        expect(verifyConsistency(v.from, v.to, vecProof, rootM, rootN)).toBe(true);
        expect(ref.verifyConsistency(v.from, v.to, vecProof, rootM, rootN)).toBe(true);
      }
    });
  });

  describe('when compared with merkletreejs', () => {
    // RFC 6962 promotes a lone right node to the next level unchanged. merkletreejs does the same
    // with its defaults: duplicateOdd false (true would hash the node with itself, as Bitcoin does),
    // complete false (true builds a left-filled "complete" tree, which differs from size 5 on),
    // isBitcoinTree false, no sorting, no fillDefaultHash. Leaves are fed as leaf hashes
    // (hashLeaves false) and the 0x01 node prefix comes from the concatenator.
    const rfc6962Options = {
      hashLeaves: false,
      sortLeaves: false,
      sortPairs: false,
      sort: false,
      duplicateOdd: false,
      complete: false,
      isBitcoinTree: false,
      concatenator: (inputs: Buffer[]) => Buffer.concat([Buffer.from([0x01]), ...inputs]),
    };
    const merkletreejsRoot = (hashes: Buffer[], options: object = rfc6962Options) => new MerkleTree(hashes, sha256, options).getRoot();

    it('agrees on the root for random tree sizes up to 2,000', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: MAX_SIZE }), (size) => {
          const r = new CompactRange();
          for (let i = 0; i < size; i++) r.append(leafHashes[i]!);
          expect(hex(r.root())).toBe(hex(merkletreejsRoot(leafHashes.slice(0, size))));
        }),
        { seed: SEED, numRuns: 60 },
      );
    });

    it('agrees on every size from 1 to 64 and on the shared vectors', () => {
      const r = new CompactRange();
      for (let size = 1; size <= 64; size++) {
        r.append(leafHashes[size - 1]!);
        expect(hex(r.root())).toBe(hex(merkletreejsRoot(leafHashes.slice(0, size))));
      }
      const vectorHashes = V.leafHashesHex.map(unhex);
      expect(hex(merkletreejsRoot(vectorHashes))).toBe(V.rootsHexBySize[7]);
    });

    it('differs with duplicateOdd or complete, which are not RFC 6962', () => {
      const three = leafHashes.slice(0, 3);
      const five = leafHashes.slice(0, 5);
      expect(hex(merkletreejsRoot(three, { ...rfc6962Options, duplicateOdd: true }))).not.toBe(hex(ref.mth(three)));
      expect(hex(merkletreejsRoot(five, { ...rfc6962Options, complete: true }))).not.toBe(hex(ref.mth(five)));
      expect(hex(merkletreejsRoot(five))).toBe(hex(ref.mth(five)));
    });
  });

  describe('when a compact range grows', () => {
    it('reports every perfect node exactly once, the leaves included', () => {
      let expected = 0;
      for (let level = 0; 2 ** level <= MAX_SIZE; level++) expected += Math.floor(MAX_SIZE / 2 ** level);
      expect(reported.size).toBe(expected);
      for (const key of reported.keys()) {
        const [level, index] = key.split('/').map(Number) as [number, number];
        expect(isPerfect(level, index, MAX_SIZE)).toBe(true);
      }
      // Each reported interior node is the hash of its two reported children.
      expect(hex(reported.get('3/5')!)).toBe(hex(hashChildren(reported.get('2/10')!, reported.get('2/11')!)));
      expect(hex(reported.get('0/7')!)).toBe(hex(leafHashes[7]!));
    });

    it('reports the leaf and then the completed nodes bottom up', () => {
      const r = new CompactRange();
      for (let i = 0; i < 7; i++) r.append(leafHashes[i]!);
      const seen: string[] = [];
      r.append(leafHashes[7]!, (level, index) => seen.push(`${level}/${index}`));
      expect(seen).toEqual(['0/7', '1/3', '2/1', '3/0']);
    });

    it('keeps one peak per set bit of the size, largest first', () => {
      expect(peakNodes(0)).toEqual([]);
      expect(peakNodes(13)).toEqual([
        { level: 3, index: 0 },
        { level: 2, index: 2 },
        { level: 0, index: 12 },
      ]);
      const r = new CompactRange();
      for (let i = 0; i < 13; i++) r.append(leafHashes[i]!);
      expect(r.peaks().map(hex)).toEqual(peakNodes(13).map(({ level, index }) => hex(reported.get(`${level}/${index}`)!)));
    });

    it('restores from persisted peaks and keeps growing to the same roots', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 300 }), (size, more) => {
          const peaks = peakNodes(size).map(({ level, index }) => reported.get(`${level}/${index}`)!);
          const restored = CompactRange.fromPeaks(size, peaks);
          const straight = new CompactRange();
          for (let i = 0; i < size; i++) straight.append(leafHashes[i]!);
          expect(hex(restored.root())).toBe(hex(straight.root()));
          for (let i = size; i < size + more; i++) {
            restored.append(leafHashes[i]!);
            straight.append(leafHashes[i]!);
          }
          expect(restored.size).toBe(size + more);
          expect(hex(restored.root())).toBe(hex(straight.root()));
        }),
        { seed: SEED, numRuns: 40 },
      );
    });

    it('clones independently', () => {
      const r = new CompactRange();
      for (let i = 0; i < 5; i++) r.append(leafHashes[i]!);
      const c = r.clone();
      c.append(leafHashes[5]!);
      expect(r.size).toBe(5);
      expect(c.size).toBe(6);
      expect(hex(r.root())).toBe(hex(ref.mth(leafHashes.slice(0, 5))));
      expect(hex(c.root())).toBe(hex(ref.mth(leafHashes.slice(0, 6))));
    });

    it('rejects a wrong number of peaks, bad hashes and bad sizes', () => {
      expect(() => CompactRange.fromPeaks(3, [leafHashes[0]!])).toThrow(RangeError);
      expect(() => CompactRange.fromPeaks(1, [Buffer.alloc(31)])).toThrow(TypeError);
      expect(() => CompactRange.fromPeaks(-1, [])).toThrow(RangeError);
      expect(() => CompactRange.fromPeaks(2 ** 53, [])).toThrow(RangeError);
      expect(() => new CompactRange().append(Buffer.alloc(33))).toThrow(TypeError);
      expect(() => peakNodes(1.5)).toThrow(RangeError);
    });
  });

  describe('when proving inclusion', () => {
    it('builds, for every index of random sizes up to 2,000, a proof that both verifiers accept and a flipped bit breaks', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: MAX_SIZE }), fc.nat(), (size, salt) => {
          const getNode = readerFor(size);
          const r = new CompactRange();
          for (let i = 0; i < size; i++) r.append(leafHashes[i]!);
          const rootN = r.root();
          expect(hex(rootFromNodes(size, getNode))).toBe(hex(rootN));
          for (let index = 0; index < size; index++) {
            const leaf = leafHashes[index]!;
            const proof = inclusionProof(index, size, getNode);
            expect(verifyInclusion(leaf, index, size, proof, rootN)).toBe(true);
            expect(ref.verifyInclusion(leaf, index, size, proof, rootN)).toBe(true);
            if (proof.length > 0) {
              const bad = flipBit(proof, (salt + index) % proof.length, (salt * 31 + index) % 256);
              expect(verifyInclusion(leaf, index, size, bad, rootN)).toBe(false);
              expect(ref.verifyInclusion(leaf, index, size, bad, rootN)).toBe(false);
            }
            expect(verifyInclusion(leaf, (index + 1) % (size + 1), size, proof, rootN)).toBe(false);
          }
        }),
        { seed: SEED, numRuns: 12 },
      );
    });

    it('equals the RFC 9162 PATH for every index of every size up to 64', () => {
      for (let size = 1; size <= 64; size++) {
        for (let index = 0; index < size; index++) {
          expect(inclusionProof(index, size, readerFor(size)).map(hex)).toEqual(ref.path(index, leafHashes.slice(0, size)).map(hex));
        }
      }
    });

    it('asks only for the perfect nodes of its plan, O(log n) of them, which with the leaf cover [0, n) once', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: MAX_SIZE }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 }))), ([size, index]) => {
          const asked: NodeId[] = [];
          const plan = inclusionProofNodes(index, size);
          const proof = inclusionProof(index, size, readerFor(size, asked));
          expect(asked).toEqual(plan.ids);
          expect(plan.ids.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(size)) + 1);
          expect(proof.length).toBe(ref.path(index, leafHashes.slice(0, size)).length);
          // The leaf and the proof's nodes cover [0, size) exactly once.
          expect(partitions(coverage([...plan.ids, { level: 0, index }]), BigInt(size))).toBe(true);
        }),
        { seed: SEED, numRuns: 300 },
      );
    });

    it('names the ephemeral node and the perfect nodes that make it up', () => {
      // Size 7, leaf 0: siblings leaf 1, node (1,1), and the ephemeral [4, 7) = (1,2) ‖ leaf 6.
      const plan = inclusionProofNodes(0, 7);
      expect(plan.ids).toEqual([
        { level: 0, index: 1 },
        { level: 1, index: 1 },
        { level: 1, index: 2 },
        { level: 0, index: 6 },
      ]);
      expect(plan.ephemeral).toEqual({ level: 2, index: 1, begin: 2, end: 4 });
      const getNode = readerFor(7);
      const hashes = plan.ids.map(({ level, index }) => getNode(level, index));
      expect(rehashProof(plan, hashes).map(hex)).toEqual(ref.path(0, leafHashes.slice(0, 7)).map(hex));
      expect(inclusionProofNodes(6, 7).ephemeral).toBeUndefined();
      expect(() => rehashProof(plan, hashes.slice(1))).toThrow(RangeError);
    });

    it('rejects an index at or beyond the size and non-safe integers with a RangeError', () => {
      const getNode = readerFor(10);
      expect(() => inclusionProof(10, 10, getNode)).toThrow(RangeError);
      expect(() => inclusionProof(0, 0, getNode)).toThrow(RangeError);
      expect(() => inclusionProofNodes(-1, 10)).toThrow(RangeError);
      expect(() => inclusionProofNodes(0.5, 10)).toThrow(RangeError);
      expect(() => inclusionProofNodes(0, 2 ** 53)).toThrow(RangeError);
      expect(() => inclusionProofNodes(0, Number.NaN)).toThrow(RangeError);
    });

    it('fails when the node reader returns something that is not a hash', () => {
      expect(() => inclusionProof(0, 2, () => Buffer.alloc(3))).toThrow(TypeError);
    });
  });

  describe('when proving consistency', () => {
    const sizePair = fc.integer({ min: 1, max: MAX_SIZE }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));

    it('builds proofs for random (m, n) up to 2,000 that equal RFC 9162 PROOF and both verifiers accept', () => {
      fc.assert(
        fc.property(sizePair, fc.nat(), ([m, n], salt) => {
          const proof = consistencyProof(m, n, readerFor(n));
          const rootM = ref.mth(leafHashes.slice(0, m));
          const rootN = ref.mth(leafHashes.slice(0, n));
          expect(proof.map(hex)).toEqual(ref.proof(m, leafHashes.slice(0, n)).map(hex));
          expect(verifyConsistency(m, n, proof, rootM, rootN)).toBe(true);
          expect(ref.verifyConsistency(m, n, proof, rootM, rootN)).toBe(true);
          // Tampering: a flipped bit, swapped or altered roots, a dropped or an extra element, swapped sizes.
          const tampered: [number, number, Buffer[], Buffer, Buffer][] = [];
          if (proof.length > 0) {
            tampered.push([m, n, flipBit(proof, salt % proof.length, salt % 256), rootM, rootN]);
            tampered.push([m, n, proof.slice(1), rootM, rootN]);
            tampered.push([m, n, proof.slice(0, -1), rootM, rootN]);
          }
          tampered.push([m, n, [...proof, rootN], rootM, rootN]);
          if (m !== n) {
            tampered.push([m, n, proof, rootN, rootM]);
            tampered.push([m, n, proof, flipBit([rootM], 0, salt % 256)[0]!, rootN]);
            tampered.push([m, n, proof, rootM, flipBit([rootN], 0, salt % 256)[0]!]);
            tampered.push([n, m, proof, rootN, rootM]);
          }
          for (const [a, b, p, ra, rb] of tampered) {
            expect(verifyConsistency(a, b, p, ra, rb), `${a} → ${b}`).toBe(false);
            expect(ref.verifyConsistency(a, b, p, ra, rb), `${a} → ${b}`).toBe(false);
          }
        }),
        { seed: SEED, numRuns: 150 },
      );
    });

    it('equals RFC 9162 PROOF for every pair of sizes up to 64', () => {
      for (let n = 1; n <= 64; n++) {
        for (let m = 1; m <= n; m++) {
          expect(consistencyProof(m, n, readerFor(n)).map(hex)).toEqual(ref.proof(m, leafHashes.slice(0, n)).map(hex));
        }
      }
    });

    it('asks only for perfect nodes, O(log n) of them, which with a power-of-two old tree cover [0, n) once', () => {
      fc.assert(
        fc.property(sizePair, ([m, n]) => {
          const asked: NodeId[] = [];
          const plan = consistencyProofNodes(m, n);
          consistencyProof(m, n, readerFor(n, asked));
          expect(asked).toEqual(plan.ids);
          expect(plan.ids.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 2);
          if (m !== n) {
            const powerOfTwo = (m & (m - 1)) === 0;
            const ids = powerOfTwo ? [...plan.ids, { level: Math.log2(m), index: 0 }] : plan.ids;
            expect(partitions(coverage(ids), BigInt(n))).toBe(true);
          }
        }),
        { seed: SEED, numRuns: 300 },
      );
    });

    it('gives the empty proof from size 0 and between equal sizes', () => {
      const getNode = readerFor(100);
      expect(consistencyProof(0, 100, getNode)).toEqual([]);
      expect(consistencyProof(0, 0, getNode)).toEqual([]);
      expect(consistencyProof(37, 37, getNode)).toEqual([]);
      expect(consistencyProofNodes(0, 5)).toEqual({ ids: [] });
      const root = ref.mth(leafHashes.slice(0, 100));
      // From 0: the empty proof proves an extension of the empty tree, and only that.
      expect(verifyConsistency(0, 100, [], EMPTY_ROOT, root)).toBe(true);
      expect(verifyConsistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)).toBe(true);
      expect(verifyConsistency(0, 0, [], EMPTY_ROOT, root)).toBe(false);
      expect(verifyConsistency(0, 100, [], root, root)).toBe(false);
      expect(verifyConsistency(0, 100, [root], EMPTY_ROOT, root)).toBe(false);
      expect(ref.verifyConsistency(0, 100, [], EMPTY_ROOT, root)).toBe(true);
      // Equal sizes: equal roots and nothing else.
      expect(verifyConsistency(100, 100, [], root, root)).toBe(true);
      expect(verifyConsistency(100, 100, [], root, EMPTY_ROOT)).toBe(false);
      expect(verifyConsistency(100, 100, [root], root, root)).toBe(false);
    });

    it('rejects m > n and non-safe integers with a RangeError', () => {
      expect(() => consistencyProofNodes(5, 4)).toThrow(RangeError);
      expect(() => consistencyProofNodes(-1, 4)).toThrow(RangeError);
      expect(() => consistencyProofNodes(1, 2 ** 53)).toThrow(RangeError);
    });
  });

  describe('when sizes approach 2^53', () => {
    // A tree whose leaves all hash to L has one hash per level, so proofs for any size can be built
    // and checked against the BigInt reference verifier without materialising the tree.
    const L = hashLeaf(Buffer.from('uniform'));
    const perLevel = [L];
    for (let l = 1; l <= 53; l++) perLevel.push(hashChildren(perLevel[l - 1]!, perLevel[l - 1]!));
    const uniformReader =
      (size: number): NodeReader =>
      (level, index) => {
        if (!((BigInt(index) + 1n) << BigInt(level) <= BigInt(size))) throw new Error(`non-perfect node (${level}, ${index}) in ${size}`);
        return perLevel[level]!;
      };
    /** MTH of n uniform leaves, straight from the RFC recursion (O(log n)). */
    const uniformRoot = (n: bigint): Buffer => {
      if (n === 1n) return L;
      let k = 1n;
      while (k * 2n < n) k *= 2n;
      return hashChildren(perLevel[k.toString(2).length - 1]!, uniformRoot(n - k));
    };
    const big = fc.integer({ min: 2 ** 40, max: Number.MAX_SAFE_INTEGER });

    it('proves inclusion with exact node indices', () => {
      fc.assert(
        fc.property(big.chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))), ([size, index]) => {
          const plan: ProofNodes = inclusionProofNodes(index, size);
          expect(partitions(coverage([...plan.ids, { level: 0, index }]), BigInt(size))).toBe(true);
          const proof = inclusionProof(index, size, uniformReader(size));
          const root = uniformRoot(BigInt(size));
          expect(hex(rootFromNodes(size, uniformReader(size)))).toBe(hex(root));
          expect(ref.verifyInclusion(L, index, size, proof, root)).toBe(true);
          expect(verifyInclusion(L, index, size, proof, root)).toBe(true);
          expect(hex(rootFromInclusionProof(L, index, size, proof)!)).toBe(hex(root));
        }),
        { seed: SEED, numRuns: 200 },
      );
    });

    it('proves consistency with exact node indices', () => {
      fc.assert(
        fc.property(big.chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n))), ([m, n]) => {
          const proof = consistencyProof(m, n, uniformReader(n));
          const rootM = uniformRoot(BigInt(m));
          const rootN = uniformRoot(BigInt(n));
          expect(ref.verifyConsistency(m, n, proof, rootM, rootN)).toBe(true);
          expect(verifyConsistency(m, n, proof, rootM, rootN)).toBe(true);
        }),
        { seed: SEED, numRuns: 200 },
      );
      const max = Number.MAX_SAFE_INTEGER;
      expect(verifyConsistency(max - 1, max, consistencyProof(max - 1, max, uniformReader(max)), uniformRoot(BigInt(max - 1)), uniformRoot(BigInt(max)))).toBe(true);
    });
  });

  describe('when verifying hostile input', () => {
    const size = 300;
    const root = ref.mth(leafHashes.slice(0, size));
    const proof = inclusionProof(123, size, readerFor(size));

    it('returns false for an index at or beyond the size, wrong lengths and wrong sizes, without throwing', () => {
      expect(verifyInclusion(leafHashes[123]!, 123, size, proof, root)).toBe(true);
      expect(verifyInclusion(leafHashes[123]!, size, size, proof, root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, size + 5, size, proof, root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, 0, 0, [], EMPTY_ROOT)).toBe(false);
      // A proof binds the size only through the root (which a signed checkpoint binds to its size):
      // a size claim is caught when it changes the proof's shape, as 200 does here and 301 would not.
      expect(verifyInclusion(leafHashes[123]!, 123, 200, proof, root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, 123, size, proof.slice(0, -1), root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, 123, size, [...proof, root], root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, 123, size, [...proof.slice(0, -1), proof.at(-1)!.subarray(1)], root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!.subarray(1), 123, size, proof, root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, 123, size, proof, root.subarray(0, 31))).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, 123, size, Array.from({ length: 10_000 }, () => root), root)).toBe(false);
      expect(verifyInclusion(leafHashes[123]!, 123, size, ['not a hash'] as unknown as Buffer[], root)).toBe(false);
      expect(rootFromInclusionProof(leafHashes[123]!, 123, size, proof.slice(1))).toBeUndefined();
      expect(verifyConsistency(10, 300, 'nope' as unknown as Buffer[], root, root)).toBe(false);
      expect(verifyConsistency(301, 300, [], root, root)).toBe(false);
      expect(verifyConsistency(3, 300, [], root, root)).toBe(false);
    });

    it('returns false for a proof too short for the claimed sizes, even when the roots are made to match', () => {
      // A proof of a smaller tree, claimed for a larger one with the smaller tree's root: every
      // step hashes the same, so only the final "sn is 0" check of RFC 9162 catches it.
      const two = leafHashes.slice(0, 2);
      const proof2 = inclusionProof(0, 2, readerFor(2));
      expect(verifyInclusion(two[0]!, 0, 2, proof2, ref.mth(two))).toBe(true);
      expect(verifyInclusion(two[0]!, 0, 3, proof2, ref.mth(two))).toBe(false);
      expect(ref.verifyInclusion(two[0]!, 0, 3, proof2, ref.mth(two))).toBe(false);
      const four = leafHashes.slice(0, 4);
      const proof34 = consistencyProof(3, 4, readerFor(4));
      const root3 = ref.mth(four.slice(0, 3));
      expect(verifyConsistency(3, 4, proof34, root3, ref.mth(four))).toBe(true);
      expect(verifyConsistency(3, 8, proof34, root3, ref.mth(four))).toBe(false);
      expect(ref.verifyConsistency(3, 8, proof34, root3, ref.mth(four))).toBe(false);
    });

    it('throws a RangeError for sizes and indices that are not safe integers ≥ 0', () => {
      for (const bad of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
        expect(() => verifyInclusion(leafHashes[0]!, bad, size, proof, root)).toThrow(RangeError);
        expect(() => verifyInclusion(leafHashes[0]!, 0, bad, proof, root)).toThrow(RangeError);
        expect(() => verifyConsistency(bad, size, proof, root, root)).toThrow(RangeError);
        expect(() => verifyConsistency(1, bad, proof, root, root)).toThrow(RangeError);
      }
    });
  });
});
