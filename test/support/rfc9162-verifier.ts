/**
 * An independent RFC 9162 reference, for tests only: written from the RFC text (§2.1.1 MTH,
 * §2.1.3.1 PATH, §2.1.3.2 inclusion verification, §2.1.4.1 PROOF/SUBPROOF, §2.1.4.2 consistency
 * verification), step by step and with the RFC's names. It deliberately imports nothing from
 * src/ (its own SHA-256 through node:crypto) and uses BigInt for the index arithmetic, so that it
 * shares no code and no 53-bit tricks with src/log.
 */
import { createHash } from 'node:crypto';

type Hash = Uint8Array;
type Count = number | bigint;

const HASH = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const ZERO = Uint8Array.of(0x00);
const ONE = Uint8Array.of(0x01);
const equal = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
const isHash = (h: unknown): h is Hash => h instanceof Uint8Array && h.length === 32;

/** MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export const leafHash = (data: Uint8Array): Buffer => HASH(ZERO, data);
/** SHA-256(0x01 || MTH(left) || MTH(right)). */
export const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer => HASH(ONE, left, right);

/** The largest power of two smaller than n (n > 1). */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// ---------------------------------------------------------------------------------------------
// Reference generators over the full list of leaf hashes D[0:n] (O(n), tests only).

/** MTH(D[lo:hi]) per §2.1.1, from leaf hashes. MTH({}) = SHA-256(). */
export function mth(leafHashes: readonly Hash[], lo = 0, hi = leafHashes.length): Buffer {
  const n = hi - lo;
  if (n === 0) return HASH();
  if (n === 1) return Buffer.from(leafHashes[lo]!);
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(mth(leafHashes, lo, lo + k), mth(leafHashes, lo + k, hi));
}

/** PATH(m, D[lo:hi]) per §2.1.3.1 (m relative to lo). */
export function path(m: number, leafHashes: readonly Hash[], lo = 0, hi = leafHashes.length): Buffer[] {
  const n = hi - lo;
  if (n === 1) return [];
  const k = largestPowerOfTwoBelow(n);
  if (m < k) return [...path(m, leafHashes, lo, lo + k), mth(leafHashes, lo + k, hi)];
  return [...path(m - k, leafHashes, lo + k, hi), mth(leafHashes, lo, lo + k)];
}

function subproof(m: number, leafHashes: readonly Hash[], lo: number, hi: number, b: boolean): Buffer[] {
  const n = hi - lo;
  if (m === n) return b ? [] : [mth(leafHashes, lo, hi)];
  const k = largestPowerOfTwoBelow(n);
  if (m <= k) return [...subproof(m, leafHashes, lo, lo + k, b), mth(leafHashes, lo + k, hi)];
  return [...subproof(m - k, leafHashes, lo + k, hi, false), mth(leafHashes, lo, lo + k)];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true) per §2.1.4.1, for 0 < m ≤ n. */
export function proof(m: number, leafHashes: readonly Hash[]): Buffer[] {
  return subproof(m, leafHashes, 0, leafHashes.length, true);
}

// ---------------------------------------------------------------------------------------------
// Verifiers (§2.1.3.2, §2.1.4.2). They return undefined / false on any malformed input.

function toBig(x: Count): bigint | undefined {
  if (typeof x === 'bigint') return x >= 0n ? x : undefined;
  return Number.isSafeInteger(x) && x >= 0 ? BigInt(x) : undefined;
}
const LSB = (x: bigint): boolean => (x & 1n) === 1n;

/** The root computed from an inclusion proof (§2.1.3.2 steps 1–5 without the final compare). */
export function rootFromInclusion(hash: Hash, leafIndex: Count, treeSize: Count, inclusionPath: readonly Hash[]): Buffer | undefined {
  const index = toBig(leafIndex);
  const size = toBig(treeSize);
  if (index === undefined || size === undefined || !isHash(hash) || !Array.isArray(inclusionPath) || !inclusionPath.every(isHash)) return undefined;
  // 1. Compare leaf_index from the inclusion_proof against tree_size. If leaf_index is greater
  //    than or equal to tree_size, then fail the proof verification.
  if (index >= size) return undefined;
  // 2. Set fn to leaf_index and sn to tree_size - 1.
  let fn = index;
  let sn = size - 1n;
  // 3. Set r to hash.
  let r: Buffer = Buffer.from(hash);
  // 4. For each value p in the inclusion_path array:
  for (const p of inclusionPath) {
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0n) return undefined;
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (LSB(fn) || fn === sn) {
      // 1. Set r to HASH(0x01 || p || r).
      r = nodeHash(p, r);
      // 2. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn)
      //    is set or fn is 0.
      if (!LSB(fn)) {
        while (!LSB(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      // Otherwise: Set r to HASH(0x01 || r || p).
      r = nodeHash(r, p);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5. Compare sn to 0. (Comparing r against root_hash is left to the caller.)
  return sn === 0n ? r : undefined;
}

export function verifyInclusion(hash: Hash, leafIndex: Count, treeSize: Count, inclusionPath: readonly Hash[], rootHash: Hash): boolean {
  const r = rootFromInclusion(hash, leafIndex, treeSize, inclusionPath);
  return r !== undefined && isHash(rootHash) && equal(r, rootHash);
}

/**
 * §2.1.4.2, plus the two cases the RFC's algorithm leaves out: first = second (empty path, equal
 * roots) and first = 0 (empty path, first_hash = MTH({}): every tree extends the empty tree).
 */
export function verifyConsistency(firstSize: Count, secondSize: Count, consistencyPath: readonly Hash[], firstHash: Hash, secondHash: Hash): boolean {
  const first = toBig(firstSize);
  const second = toBig(secondSize);
  if (first === undefined || second === undefined || first > second) return false;
  if (!isHash(firstHash) || !isHash(secondHash) || !Array.isArray(consistencyPath) || !consistencyPath.every(isHash)) return false;
  if (first === second) return consistencyPath.length === 0 && equal(firstHash, secondHash);
  if (first === 0n) return consistencyPath.length === 0 && equal(firstHash, HASH());
  // 1. If consistency_path is an empty array, stop and fail the proof verification.
  if (consistencyPath.length === 0) return false;
  // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
  const cpath = (first & (first - 1n)) === 0n ? [firstHash, ...consistencyPath] : [...consistencyPath];
  // 3. Set fn to first - 1 and sn to second - 1.
  let fn = first - 1n;
  let sn = second - 1n;
  // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
  while (LSB(fn)) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5. Set both fr and sr to the first value in the consistency_path array.
  let fr: Buffer = Buffer.from(cpath[0]!);
  let sr: Buffer = Buffer.from(cpath[0]!);
  // 6. For each subsequent value c in the consistency_path array:
  for (const c of cpath.slice(1)) {
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0n) return false;
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if (LSB(fn) || fn === sn) {
      // 1. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      // 2. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn)
      //    is set or fn is 0.
      if (!LSB(fn)) {
        while (!LSB(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      // Otherwise: Set sr to HASH(0x01 || sr || c).
      sr = nodeHash(sr, c);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn >>= 1n;
    sn >>= 1n;
  }
  // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
  return equal(fr, firstHash) && equal(sr, secondHash) && sn === 0n;
}
