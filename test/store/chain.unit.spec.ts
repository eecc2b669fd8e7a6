import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jcs } from '../../src/crypto/jcs.ts';
import { sha256Hex } from '../../src/crypto/hash.ts';
import { IntegrityError } from '../../src/errors.ts';
import { canonicalEventText, chainHash, ChainVerifier, GENESIS_HASH, prepareEvents } from '../../src/store/chain.ts';
import type { RecordedEvent } from '../../src/store/event-store.ts';

const time = '2026-11-23T00:00:00Z';

function build(stream: string, datas: unknown[], startPosition = 1): RecordedEvent[] {
  let prev: string | null = null;
  return prepareEvents(datas.map((d) => ({ type: 'T', data: d as never, metadata: { time } }))).map((p, revision) => {
    const hash = chainHash(prev, canonicalEventText(stream, revision, p));
    prev = hash;
    return { id: p.id, stream, revision, position: startPosition + revision, type: p.type, data: JSON.parse(p.dataJson), metadata: JSON.parse(p.metadataJson), hash };
  });
}

describe('hash chain', () => {
  describe('when composing the canonical event', () => {
    it('equals the JCS of the whole event object for arbitrary data', () => {
      fc.assert(
        fc.property(fc.jsonValue(), fc.string({ minLength: 1, maxLength: 40 }), fc.nat(), (data, stream, revision) => {
          const [p] = prepareEvents([{ type: 'Some.Type', data: data as never, metadata: { time, actor: 'a' } }]);
          const composed = canonicalEventText(stream, revision, p!);
          expect(composed).toBe(jcs({ data, id: p!.id, metadata: { time, actor: 'a' }, revision, stream, type: 'Some.Type' }));
        }),
        { seed: 7, numRuns: 300 },
      );
    });

    it('hashes SHA-256(previous hash bytes ‖ canonical text), starting from 32 zero bytes', () => {
      const text = '{"a":1}';
      expect(chainHash(null, text)).toBe(sha256Hex(Buffer.alloc(32), text));
      expect(chainHash(GENESIS_HASH, text)).toBe(sha256Hex(Buffer.alloc(32), text));
      const h1 = chainHash(null, text);
      expect(chainHash(h1, text)).toBe(sha256Hex(Buffer.from(h1, 'hex'), text));
    });
  });

  describe('when verifying a history', () => {
    it('accepts an untouched chain', () => {
      const v = new ChainVerifier();
      for (const e of build('s', [1, { a: 2 }, [3]])) v.check(e);
      expect(v.verified).toBe(3);
    });

    it('names the position of changed data, a changed hash, a gap and a reordering', () => {
      const tamper = (f: (events: RecordedEvent[]) => RecordedEvent[]): number => {
        const v = new ChainVerifier();
        try {
          for (const e of f(build('s', [1, 2, 3, 4], 10))) v.check(e);
        } catch (err) {
          expect(err).toBeInstanceOf(IntegrityError);
          return (err as IntegrityError).position;
        }
        return -1;
      };
      expect(tamper((es) => es.map((e) => (e.revision === 2 ? { ...e, data: 99 } : e)))).toBe(12);
      expect(tamper((es) => es.map((e) => (e.revision === 1 ? { ...e, hash: 'ab'.repeat(32) } : e)))).toBe(11);
      expect(tamper((es) => es.filter((e) => e.revision !== 1))).toBe(12);
      expect(tamper((es) => [es[0]!, { ...es[2]!, position: 11 }, { ...es[1]!, position: 12 }, es[3]!])).toBe(11);
      expect(tamper((es) => es)).toBe(-1);
    });
  });
});
