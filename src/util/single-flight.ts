/**
 * One call in flight per key: while a lookup for a key is running, asking again for the same key
 * joins it instead of starting another (a burst of requests for one digest costs one registry
 * round, not one per request). Nothing is remembered once the call settles, success or failure:
 * caching results is the caller's business (see lru.ts).
 */
export class SingleFlight<K, V> {
  private readonly flights = new Map<K, Promise<V>>();

  /** Calls in flight. */
  get size(): number {
    return this.flights.size;
  }

  /** Whether a call for `key` is in flight (a `run` now would join it). */
  has(key: K): boolean {
    return this.flights.has(key);
  }

  /**
   * The running call for `key`, else `start()`'s. Only the caller that started the call sees its
   * side effects run (they belong in `start`); joiners get the same promise. A synchronous throw of
   * `start` propagates and leaves nothing behind.
   */
  run(key: K, start: () => Promise<V>): Promise<V> {
    const running = this.flights.get(key);
    if (running) return running;
    const flight = start().finally(() => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    });
    this.flights.set(key, flight);
    return flight;
  }
}
