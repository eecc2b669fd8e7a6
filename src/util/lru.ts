/**
 * A bounded map that forgets the least recently used entry when a new one would not fit: the one
 * cache shape of the ledger (verified tokens, release verdicts, registry clients and tokens, log
 * tiles and roots, tenant quota state).
 *
 * A JS Map keeps insertion order, so "recently used" is "re-inserted": a hit moves the entry to
 * the end and the first key is the least recently used one. O(1) per operation.
 *
 * Eviction may be told more than recency: `stale` entries (expired, idle) among the `scan` least
 * recently used go first, and `pinned` entries (in use) never go; when every scanned entry is
 * pinned the map grows past its capacity rather than drop state someone is still using (the
 * caller bounds how many can be in use). Without options it is a plain LRU. `undefined` is not a
 * value it stores (`get` answers undefined for "absent").
 */
export interface LruOptions<K, V> {
  /** Entries held at most (a positive integer), pinned ones aside. */
  readonly capacity: number;
  /** Least recently used entries looked at when making room. Default 1 (plain LRU). */
  readonly scan?: number;
  /** An entry worth nothing any more: the first one found among the scanned is evicted. */
  readonly stale?: (value: V, key: K) => boolean;
  /** An entry that must not be evicted now. */
  readonly pinned?: (value: V, key: K) => boolean;
  /** Told of each entry evicted to make room or pruned (not of `delete` or `clear`). */
  readonly onEvict?: (key: K, value: V) => void;
}

export class Lru<K, V> {
  readonly capacity: number;
  private readonly map = new Map<K, V>();
  private readonly scan: number;

  constructor(private readonly options: LruOptions<K, V>) {
    const { capacity, scan = 1 } = options;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('Lru capacity must be a positive integer');
    if (!Number.isSafeInteger(scan) || scan < 1) throw new RangeError('Lru scan must be a positive integer');
    this.capacity = capacity;
    this.scan = scan;
  }

  get size(): number {
    return this.map.size;
  }

  /** The value, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  /** The value without touching its recency. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Stores `value` as the most recently used; a new key first makes room when the map is full. */
  set(key: K, value: V): this {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.capacity) this.makeRoom();
    this.map.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  /** Evicts, among the `count` least recently used entries, those `drop` picks; returns how many. */
  prune(count: number, drop: (value: V, key: K) => boolean): number {
    const victims: [K, V][] = [];
    let looked = 0;
    for (const [k, v] of this.map) {
      if (looked++ >= count) break;
      if (drop(v, k)) victims.push([k, v]);
    }
    for (const [k, v] of victims) this.evict(k, v);
    return victims.length;
  }

  private makeRoom(): void {
    const { stale, pinned } = this.options;
    let fallback: [K, V] | undefined;
    let looked = 0;
    for (const entry of this.map) {
      if (looked++ >= this.scan) break;
      const [k, v] = entry;
      if (pinned?.(v, k)) continue;
      if (stale?.(v, k)) return this.evict(k, v);
      fallback ??= entry;
      if (!stale) break; // nothing would beat the oldest unpinned entry
    }
    if (fallback) this.evict(fallback[0], fallback[1]);
  }

  private evict(key: K, value: V): void {
    this.map.delete(key);
    this.options.onEvict?.(key, value);
  }
}
