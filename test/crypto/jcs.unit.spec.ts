import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jcs, NotJsonError } from '../../src/crypto/jcs.ts';

describe('jcs', () => {
  describe('when given plain JSON', () => {
    it('equals canonicalize for arbitrary JSON values', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (v) => {
          expect(jcs(v)).toBe((canonicalize as unknown as (x: unknown) => string)(v));
        }),
        { seed: 20261123, numRuns: 500 },
      );
    });

    it('sorts keys by UTF-16 code units and writes numbers the ECMAScript way (RFC 8785 §3.2)', () => {
      expect(jcs({ b: 1, a: 2, '\u20ac': 3, '\ud83d\ude00': 4, '\r': 5 })).toBe('{"\\r":5,"a":2,"b":1,"€":3,"😀":4}');
      expect(jcs([1e21, 0.1, -0, 1e-7])).toBe('[1e+21,0.1,0,1e-7]');
    });
  });

  describe('when given something that is not JSON', () => {
    const deep: unknown[] = [];
    let cur = deep;
    for (let i = 0; i < 100; i++) {
      const next: unknown[] = [];
      cur.push(next);
      cur = next;
    }
    const cases: [string, unknown][] = [
      ['undefined', undefined],
      ['a bigint', 1n],
      ['a symbol', Symbol('s')],
      ['NaN', NaN],
      ['a class instance', new Map()],
      ['a lone surrogate key', { '\udc00': 1 }],
      ['nesting deeper than 64', deep],
    ];
    for (const [what, value] of cases) {
      it(`refuses ${what}`, () => {
        expect(() => jcs(value)).toThrow(NotJsonError);
      });
    }
  });
});
