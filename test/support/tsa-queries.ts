/** fast-check arbitraries for hostile RFC 3161 queries: arbitrary bytes, or a valid query with one byte flipped. */
import fc from 'fast-check';

export const hostileQueryBytes = (base: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const m = Buffer.from(base);
      m[i] = m[i]! ^ x;
      return m;
    }),
  );
