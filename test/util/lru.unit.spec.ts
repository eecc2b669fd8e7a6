import { describe, expect, it } from 'vitest';
import { Lru } from '../../src/util/lru.ts';

const filled = (capacity: number, keys: readonly string[], options: Partial<ConstructorParameters<typeof Lru<string, number>>[0]> = {}) => {
  const lru = new Lru<string, number>({ capacity, ...options });
  keys.forEach((k, i) => lru.set(k, i));
  return lru;
};

describe('Lru', () => {
  describe('when a new key does not fit', () => {
    it('forgets the least recently set key', () => {
      const lru = filled(2, ['a', 'b', 'c']);
      expect(lru.size).toBe(2);
      expect(lru.has('a')).toBe(false);
      expect([lru.peek('b'), lru.peek('c')]).toEqual([1, 2]);
    });

    it('counts a get as a use, and a peek not', () => {
      const lru = filled(2, ['a', 'b']);
      lru.get('a');
      lru.peek('b');
      lru.set('c', 2);
      expect(lru.has('a')).toBe(true);
      expect(lru.has('b')).toBe(false);
    });

    it('evicts nothing when an existing key is set again', () => {
      const lru = filled(2, ['a', 'b']);
      lru.set('a', 10);
      expect(lru.size).toBe(2);
      expect(lru.get('a')).toBe(10);
      lru.set('c', 2);
      expect(lru.has('b')).toBe(false);
    });
  });

  describe('when eviction is told what is stale and what is pinned', () => {
    it('evicts the first stale entry among the scanned ones before the least recently used', () => {
      const evicted: string[] = [];
      const lru = filled(3, ['a', 'b', 'c'], { scan: 2, stale: (v) => v === 1, onEvict: (k) => evicted.push(k) });
      lru.set('d', 3);
      expect(evicted).toEqual(['b']);
    });

    it('looks no further than `scan` entries for a stale one', () => {
      const lru = filled(3, ['a', 'b', 'c'], { scan: 2, stale: (v) => v === 2 });
      lru.set('d', 3);
      expect(lru.has('a')).toBe(false);
      expect(lru.has('c')).toBe(true);
    });

    it('never evicts a pinned entry, and grows past capacity when all scanned ones are', () => {
      const pinned = new Set(['a', 'b']);
      const lru = filled(2, ['a', 'b'], { scan: 2, pinned: (_v, k) => pinned.has(k) });
      lru.set('c', 2);
      expect(lru.size).toBe(3);
      pinned.delete('b');
      lru.set('d', 3);
      expect([...['a', 'b', 'c', 'd'].filter((k) => lru.has(k))]).toEqual(['a', 'c', 'd']);
    });
  });

  describe('when pruned', () => {
    it('evicts what the predicate picks among the least recently used, and says how many', () => {
      const evicted: string[] = [];
      const lru = filled(10, ['a', 'b', 'c', 'd'], { onEvict: (k) => evicted.push(k) });
      expect(lru.prune(3, (v) => v % 2 === 0)).toBe(2);
      expect(evicted).toEqual(['a', 'c']);
      expect(lru.has('d')).toBe(true);
    });
  });

  describe('when deleted or cleared', () => {
    it('forgets without telling onEvict', () => {
      const evicted: string[] = [];
      const lru = filled(3, ['a', 'b', 'c'], { onEvict: (k) => evicted.push(k) });
      expect(lru.delete('a')).toBe(true);
      expect(lru.delete('a')).toBe(false);
      lru.clear();
      expect(lru.size).toBe(0);
      expect(evicted).toEqual([]);
    });
  });

  describe('when the bounds are not positive integers', () => {
    it.each([0, -1, 1.5, Number.NaN])('refuses capacity %s', (capacity) => {
      expect(() => new Lru({ capacity })).toThrow(RangeError);
    });

    it('refuses a scan of 0', () => {
      expect(() => new Lru({ capacity: 1, scan: 0 })).toThrow(RangeError);
    });
  });
});
