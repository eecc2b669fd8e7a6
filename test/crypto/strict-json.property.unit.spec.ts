/**
 * The strict reader against an independent strict parser, on a hostile corpus (seeded). The
 * reference is built differently on purpose: WHATWG's fatal UTF-8 decoder for the bytes,
 * `JSON.parse` for the grammar, `String.prototype.isWellFormed` on every parsed string for lone
 * surrogates, and a regex tokenizer (not a character state machine) for duplicate names and depth.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readStrictJson } from '../../src/crypto/strict-json.ts';

const MAX_DEPTH = 512;
const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const TOKEN = /"(?:[^"\\]|\\[\s\S])*"|[{}[\],:]|[^{}[\],:"\s]+/g;

function wellFormed(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (Array.isArray(value)) return value.every(wellFormed);
  if (value !== null && typeof value === 'object') return Object.entries(value).every(([k, v]) => k.isWellFormed() && wellFormed(v));
  return true;
}

/** Duplicate names or too deep, from tokens of text JSON.parse accepted. */
function structureRefused(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  let previous = '';
  for (const [token] of text.matchAll(TOKEN)) {
    if (token === '{' || token === '[') {
      stack.push(token === '{' ? new Set() : null);
      if (stack.length > MAX_DEPTH) return true;
    } else if (token === '}' || token === ']') stack.pop();
    else if (token.startsWith('"')) {
      const top = stack.at(-1);
      if (top && (previous === '{' || previous === ',')) {
        const name = JSON.parse(token) as string;
        if (top.has(name)) return true;
        top.add(name);
      }
    }
    previous = token;
  }
  return false;
}

/** The reference: accepted value, or undefined when a strict reader must refuse. */
function reference(bytes: Uint8Array): { value: unknown } | undefined {
  let text: string;
  try {
    text = fatal.decode(bytes);
  } catch {
    return undefined;
  }
  if (text.startsWith('\ufeff')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!wellFormed(value) || structureRefused(text)) return undefined;
  return { value };
}

const HOSTILE_BYTES: number[][] = [
  [0xff], [0xfe], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], [0xf4, 0x90, 0x80, 0x80],
  [0xef, 0xbb, 0xbf], [0xff, 0xfe], [0x00], [0x80], [0xc3], [0xe2, 0x82],
  [...Buffer.from('\\ud800')], [...Buffer.from('\\udc00')], [...Buffer.from('\\ud83d\\ude00')], [...Buffer.from('"a":1,')], [...Buffer.from(',"a":2')],
  [...Buffer.from('{}')], [...Buffer.from(' ')], [...Buffer.from('\n')], [...Buffer.from('"')], [...Buffer.from('\\')], [...Buffer.from('[')], [...Buffer.from(']')],
  [...Buffer.from('é😀')], [...Buffer.from('1e400')], [...Buffer.from('-0')], [...Buffer.from('\u2028')],
];

const keys = fc.constantFrom('a', 'b', 'predicateType', 'predicate\\u0054ype', '__proto__', 'é', '\\ud800', '\\ud83d\\ude00', '');
const leaf = fc.oneof(fc.constantFrom('1', '-0', '1e400', 'true', 'null', '"x"', '"\\ud800"', '"\\udc00"', '"é"', '[]', '{}'), fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)));
/** Objects written as text, so names can repeat (JSON.stringify could never produce that). */
const duplicating = fc.letrec<{ doc: string }>((tie) => ({
  doc: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(fc.tuple(keys, tie('doc')), { maxLength: 4 }).map((members) => `{${members.map(([k, v]) => `"${k}":${v}`).join(',')}}`),
    fc.array(tie('doc'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
  ),
})).doc;
const deep = fc.tuple(fc.integer({ min: 500, max: 530 }), fc.boolean()).map(([n, obj]) => (obj ? '{"a":'.repeat(n) + '1' + '}'.repeat(n) : '['.repeat(n) + ']'.repeat(n)));

/** A valid document, then hostile bytes spliced in at random places. */
const corpus = fc
  .tuple(
    fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), duplicating, deep),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(...HOSTILE_BYTES)), { maxLength: 3 }),
  )
  .map(([doc, splices]) => {
    let out = Buffer.from(doc, 'utf8');
    for (const [at, piece] of splices) {
      const i = at % (out.length + 1);
      out = Buffer.concat([out.subarray(0, i), Buffer.from(piece), out.subarray(i)]);
    }
    return new Uint8Array(out);
  });

describe('readStrictJson against an independent strict parser', () => {
  describe('when given a hostile corpus', () => {
    it('accepts exactly what the reference accepts, and reads the same value', () => {
      let accepted = 0;
      let refused = 0;
      fc.assert(
        fc.property(corpus, (bytes) => {
          const expected = reference(bytes);
          const actual = readStrictJson(bytes);
          expect(actual.ok, Buffer.from(bytes).toString('hex').slice(0, 400)).toBe(expected !== undefined);
          if (actual.ok && expected) {
            accepted++;
            expect(JSON.stringify(actual.value)).toBe(JSON.stringify(expected.value));
          } else refused++;
        }),
        { seed: 20261216, numRuns: 3000 },
      );
      // The corpus exercises both sides.
      expect(accepted).toBeGreaterThan(300);
      expect(refused).toBeGreaterThan(300);
    });
  });
});
