import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../src/util/single-flight.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  describe('when a key is asked for while its call runs', () => {
    it('starts one call and gives every asker its result', async () => {
      const flights = new SingleFlight<string, number>();
      const d = deferred<number>();
      let starts = 0;
      const start = () => (starts++, d.promise);
      const asks = [flights.run('k', start), flights.run('k', start), flights.run('k', start)];
      expect(flights.size).toBe(1);
      d.resolve(7);
      expect(await Promise.all(asks)).toEqual([7, 7, 7]);
      expect(starts).toBe(1);
    });

    it('runs calls of other keys side by side', async () => {
      const flights = new SingleFlight<string, string>();
      const results = await Promise.all([flights.run('a', async () => 'A'), flights.run('b', async () => 'B')]);
      expect(results).toEqual(['A', 'B']);
    });
  });

  describe('when the call settles', () => {
    it('forgets it, so the next ask starts afresh', async () => {
      const flights = new SingleFlight<string, number>();
      expect(await flights.run('k', async () => 1)).toBe(1);
      expect(flights.size).toBe(0);
      expect(await flights.run('k', async () => 2)).toBe(2);
    });

    it('shares a failure with every asker and does not keep it', async () => {
      const flights = new SingleFlight<string, number>();
      const d = deferred<number>();
      const asks = [flights.run('k', () => d.promise), flights.run('k', () => d.promise)];
      d.reject(new Error('down'));
      for (const ask of asks) await expect(ask).rejects.toThrow('down');
      expect(flights.size).toBe(0);
      expect(await flights.run('k', async () => 3)).toBe(3);
    });
  });

  describe('when starting the call throws', () => {
    it('propagates the throw and leaves nothing in flight', () => {
      const flights = new SingleFlight<string, number>();
      expect(() =>
        flights.run('k', () => {
          throw new Error('no start');
        }),
      ).toThrow('no start');
      expect(flights.size).toBe(0);
    });
  });
});
