/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, compact ranges and proofs for an append-only log.
 *
 * Pure: no I/O, no clock, no randomness. Node addressing follows transparency-dev/merkle:
 * node (level, index) covers the leaves [index·2^level, (index+1)·2^level); level 0 is the
 * leaves. A node is *perfect* in a tree of size n when (index+1)·2^level ≤ n: its hash never
 * changes once the log has grown past it, so perfect nodes are what a log persists (and exactly
 * what C2SP tiles serve). A subtree on the right border that is not perfect is *ephemeral*: its
 * hash is recomputed from the perfect nodes that cover it.
 *
 * Sizes and indices are JavaScript numbers; every one must be a safe integer ≥ 0, anything else
 * is a RangeError (callers validate untrusted input first). Verifiers never throw on a wrong
 * proof, size, index or hash length: they return false / undefined.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
/** Scratch for hashChildren: 0x01 ‖ left ‖ right. Only touched synchronously. */
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE);
NODE_INPUT[0] = 0x01;

/** SHA-256 of the empty string: the root of the empty tree (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** Leaf hash: SHA-256(0x00 ‖ data). */
export function hashLeaf(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** Interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    NODE_INPUT.set(left, 1);
    NODE_INPUT.set(right, 1 + HASH_SIZE);
    return oneShotHash('sha256', NODE_INPUT, 'buffer');
  }
  return createHash('sha256').update(NODE_INPUT.subarray(0, 1)).update(left).update(right).digest();
}

export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** Returns the hash of a PERFECT node; proof builders never ask for any other. */
export type NodeReader = (level: number, index: number) => Uint8Array;

export type NodeVisitor = (level: number, index: number, hash: Buffer) => void;

// ---------------------------------------------------------------------------------------------
// Integer helpers for safe integers up to 2^53 (JS bit operators are 32-bit only).

const TWO_32 = 0x1_0000_0000;

function requireCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a safe integer ≥ 0, got ${String(value)}`);
}

/** Number of bits needed to write x (0 for 0). */
function bitLength(x: number): number {
  return x < TWO_32 ? 32 - Math.clz32(x) : 64 - Math.clz32(Math.floor(x / TWO_32));
}

function popCount32(x: number): number {
  let v = x >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function popCount(x: number): number {
  return popCount32(x % TWO_32) + popCount32(Math.floor(x / TWO_32));
}

/** The largest power of two strictly below n (n ≥ 2): the split point k of RFC 9162 §2.1.1. */
function splitPoint(n: number): number {
  return 2 ** (bitLength(n - 1) - 1);
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

// ---------------------------------------------------------------------------------------------
// Compact range [0, size).

/**
 * The perfect subtrees whose leaves make up [0, size): one per set bit of size, largest (leftmost)
 * first. These are the "peaks" a CompactRange keeps.
 */
export function peakNodes(size: number): NodeId[] {
  requireCount('size', size);
  const nodes: NodeId[] = [];
  coverNodes(0, size, nodes);
  return nodes;
}

/** Perfect nodes covering [start, start + length), largest first; start must be aligned to the largest. */
function coverNodes(start: number, length: number, out: NodeId[]): void {
  let pos = start;
  for (let level = bitLength(length) - 1; level >= 0; level--) {
    const width = 2 ** level;
    if (Math.floor(length / width) % 2 === 1) {
      out.push({ level, index: pos / width });
      pos += width;
    }
  }
}

/** Folds hashes of adjacent subtrees (left to right, decreasing sizes) into their root, right to left. */
function foldRight(hashes: readonly Uint8Array[], begin: number, end: number): Buffer {
  let acc: Uint8Array = hashes[end - 1]!;
  for (let i = end - 2; i >= begin; i--) acc = hashChildren(hashes[i]!, acc);
  return Buffer.from(acc.buffer, acc.byteOffset, acc.byteLength);
}

/**
 * The compact Merkle range [0, size): the hashes of the perfect subtrees given by the set bits of
 * size, largest first. Appending is O(log n) time and O(1) amortised hashing; the range keeps
 * references to the hashes it is given (they must not be mutated afterwards).
 */
export class CompactRange {
  #size: number;
  readonly #peaks: Buffer[];

  constructor() {
    this.#size = 0;
    this.#peaks = [];
  }

  /** Restores a range from its persisted peak hashes (see peakNodes(size) for their addresses). */
  static fromPeaks(size: number, peaks: readonly Uint8Array[]): CompactRange {
    requireCount('size', size);
    if (peaks.length !== popCount(size)) throw new RangeError(`a range of size ${size} has ${popCount(size)} peaks, got ${peaks.length}`);
    const r = new CompactRange();
    for (const p of peaks) {
      if (!isHash(p)) throw new TypeError('every peak must be a 32-byte hash');
      r.#peaks.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    }
    r.#size = size;
    return r;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Appends a leaf hash. Calls onNode for the leaf itself (level 0, index = old size) and then for
   * every perfect node this append completes, bottom up; over the life of a range that reports
   * every perfect node of the tree exactly once.
   */
  append(leafHash: Uint8Array, onNode?: NodeVisitor): void {
    if (!isHash(leafHash)) throw new TypeError('a leaf hash has 32 bytes');
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError('the range is full');
    let hash = Buffer.isBuffer(leafHash) ? leafHash : Buffer.from(leafHash.buffer, leafHash.byteOffset, leafHash.byteLength);
    let index = this.#size;
    let level = 0;
    onNode?.(0, index, hash);
    // Each trailing one bit of the old size is a peak that merges with the new node.
    while (index % 2 === 1) {
      hash = hashChildren(this.#peaks.pop()!, hash);
      index = (index - 1) / 2;
      level++;
      onNode?.(level, index, hash);
    }
    this.#peaks.push(hash);
    this.#size++;
  }

  /** Root of the tree [0, size); EMPTY_ROOT (a copy) for the empty tree. */
  root(): Buffer {
    const n = this.#peaks.length;
    if (n === 0) return Buffer.from(EMPTY_ROOT);
    return foldRight(this.#peaks, 0, n);
  }

  /** Peak hashes, largest subtree first (addresses: peakNodes(size)). */
  peaks(): readonly Buffer[] {
    return this.#peaks.slice();
  }

  clone(): CompactRange {
    return CompactRange.fromPeaks(this.#size, this.#peaks);
  }
}

/** Root of the tree of the given size from its perfect nodes: O(log n) reads. */
export function rootFromNodes(size: number, getNode: NodeReader): Buffer {
  const ids = peakNodes(size);
  if (ids.length === 0) return Buffer.from(EMPTY_ROOT);
  return foldRight(readAll(ids, getNode), 0, ids.length);
}

// ---------------------------------------------------------------------------------------------
// Proof plans: which perfect nodes a proof needs and how to combine them.

export interface EphemeralNode extends NodeId {
  /** ids[begin..end) are the perfect parts of the ephemeral node, left (largest) to right. */
  readonly begin: number;
  readonly end: number;
}

/**
 * How to build a proof from perfect nodes (after transparency-dev/merkle `proof.Nodes`).
 * Every proof element is one perfect node of `ids`, in proof order (bottom up), except that at
 * most one element is an ephemeral node: a non-perfect subtree on the right border whose hash is
 * the right-to-left fold of ids[ephemeral.begin..ephemeral.end) (two or more nodes).
 */
export interface ProofNodes {
  readonly ids: readonly NodeId[];
  readonly ephemeral?: EphemeralNode;
}

interface PlanBuilder {
  /** Proof elements top down; each is a list of perfect nodes (ephemeral when more than one). */
  readonly parts: { readonly nodes: NodeId[]; readonly level: number; readonly index: number }[];
}

/** Adds the sibling [start, start+width) of size `width` = 2^level (a perfect node). */
function addPerfect(b: PlanBuilder, start: number, width: number): void {
  const level = bitLength(width) - 1;
  b.parts.push({ nodes: [{ level, index: start / width }], level, index: start / width });
}

/** Adds the right part [start+k, start+n) of a split of a size-n subtree at k (possibly ephemeral). */
function addRightPart(b: PlanBuilder, start: number, n: number, k: number): void {
  const nodes: NodeId[] = [];
  coverNodes(start + k, n - k, nodes);
  b.parts.push({ nodes, level: bitLength(k) - 1, index: (start + k) / k });
}

function finish(b: PlanBuilder): ProofNodes {
  const ids: NodeId[] = [];
  let ephemeral: EphemeralNode | undefined;
  // Parts were collected top down (root split first); proofs list them bottom up.
  for (let i = b.parts.length - 1; i >= 0; i--) {
    const part = b.parts[i]!;
    if (part.nodes.length > 1) ephemeral = { level: part.level, index: part.index, begin: ids.length, end: ids.length + part.nodes.length };
    ids.push(...part.nodes);
  }
  return ephemeral ? { ids, ephemeral } : { ids };
}

/** Perfect nodes for the inclusion proof of leaf `index` in the tree of `size` (RFC 9162 §2.1.3.1 PATH). */
export function inclusionProofNodes(index: number, size: number): ProofNodes {
  requireCount('index', index);
  requireCount('size', size);
  if (index >= size) throw new RangeError(`index ${index} is not below tree size ${size}`);
  const b: PlanBuilder = { parts: [] };
  let start = 0;
  let n = size;
  let m = index;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      addRightPart(b, start, n, k);
      n = k;
    } else {
      addPerfect(b, start, k);
      m -= k;
      start += k;
      n -= k;
    }
  }
  return finish(b);
}

/**
 * Perfect nodes for the consistency proof from size m to size n (RFC 9162 §2.1.4.1 PROOF/SUBPROOF).
 * m = 0 and m = n give the empty proof: RFC 9162 defines no proof from the empty tree (every tree
 * extends it), and equal sizes need none.
 */
export function consistencyProofNodes(m: number, n: number): ProofNodes {
  requireCount('m', m);
  requireCount('n', n);
  if (m > n) throw new RangeError(`consistency from ${m} to a smaller size ${n}`);
  if (m === 0 || m === n) return { ids: [] };
  const b: PlanBuilder = { parts: [] };
  let start = 0;
  let size = n;
  let first = m;
  let known = true; // SUBPROOF's b: the subtree [start, start+first) is the old root itself
  while (first !== size) {
    const k = splitPoint(size);
    if (first <= k) {
      addRightPart(b, start, size, k);
      size = k;
    } else {
      addPerfect(b, start, k);
      first -= k;
      start += k;
      size -= k;
      known = false;
    }
  }
  // Here [start, start+first) is perfect: reached only by a left step (a power of two) or as the root.
  if (!known) addPerfect(b, start, first);
  return finish(b);
}

function readAll(ids: readonly NodeId[], getNode: NodeReader): Uint8Array[] {
  return ids.map(({ level, index }) => {
    const h = getNode(level, index);
    if (!isHash(h)) throw new TypeError(`node (${level}, ${index}) is not a 32-byte hash`);
    return h;
  });
}

/** Combines the hashes of nodes.ids (same order) into the proof: the ephemeral node is folded in. */
export function rehashProof(nodes: ProofNodes, hashes: readonly Uint8Array[]): Buffer[] {
  if (hashes.length !== nodes.ids.length) throw new RangeError(`expected ${nodes.ids.length} hashes, got ${hashes.length}`);
  const out: Buffer[] = [];
  const eph = nodes.ephemeral;
  for (let i = 0; i < hashes.length; i++) {
    if (eph && i === eph.begin) {
      out.push(foldRight(hashes, eph.begin, eph.end));
      i = eph.end - 1;
    } else {
      const h = hashes[i]!;
      out.push(Buffer.from(h.buffer, h.byteOffset, h.byteLength));
    }
  }
  return out;
}

/** Inclusion proof (audit path) of leaf `index` in the tree of `size`, bottom up. */
export function inclusionProof(index: number, size: number, getNode: NodeReader): Buffer[] {
  const nodes = inclusionProofNodes(index, size);
  return rehashProof(nodes, readAll(nodes.ids, getNode));
}

/** Consistency proof from size m to size n; [] when m = 0 or m = n (see consistencyProofNodes). */
export function consistencyProof(m: number, n: number, getNode: NodeReader): Buffer[] {
  const nodes = consistencyProofNodes(m, n);
  return rehashProof(nodes, readAll(nodes.ids, getNode));
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2). Never throws on wrong proofs, sizes or lengths.

function validProof(proof: readonly unknown[]): proof is readonly Uint8Array[] {
  if (!Array.isArray(proof) || proof.length > 2 * 64) return false;
  return proof.every(isHash);
}

/**
 * The root implied by an inclusion proof (RFC 9162 §2.1.3.2), or undefined when the proof cannot
 * be one for (index, size): index ≥ size, wrong length, or an element that is not 32 bytes.
 */
export function rootFromInclusionProof(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Buffer | undefined {
  requireCount('index', index);
  requireCount('size', size);
  if (index >= size || !isHash(leafHash) || !validProof(proof)) return undefined;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leafHash.buffer, leafHash.byteOffset, leafHash.byteLength);
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isHash(root)) return false;
  const r = rootFromInclusionProof(leafHash, index, size, proof);
  return r !== undefined && r.equals(root);
}

/**
 * Verifies a consistency proof from (m, rootM) to (n, rootN) (RFC 9162 §2.1.4.2).
 * m = n: the proof must be empty and the roots equal. m = 0: every tree extends the empty tree,
 * so the proof must be empty and rootM must be EMPTY_ROOT (and rootN too when n = 0); rootN is
 * otherwise not constrained.
 */
export function verifyConsistency(m: number, n: number, proof: readonly Uint8Array[], rootM: Uint8Array, rootN: Uint8Array): boolean {
  requireCount('m', m);
  requireCount('n', n);
  if (m > n || !isHash(rootM) || !isHash(rootN) || !validProof(proof)) return false;
  if (m === 0) return proof.length === 0 && sameHash(rootM, EMPTY_ROOT) && (n > 0 || sameHash(rootN, EMPTY_ROOT));
  if (m === n) return proof.length === 0 && sameHash(rootM, rootN);
  if (proof.length === 0) return false;
  // A power-of-two old tree is itself a node of the new tree: the proof omits it.
  const path: readonly Uint8Array[] = m === 2 ** (bitLength(m) - 1) ? [rootM, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!.buffer, path[0]!.byteOffset, path[0]!.byteLength);
  let sr: Buffer = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(rootM) && sr.equals(rootN);
}
