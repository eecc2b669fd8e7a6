import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jcs, jcsBytes } from '../../src/crypto/jcs.ts';
import { leafDataOf, leafTextOfCanonical, rekorDsseEntry } from '../../src/log/rekor-entry.ts';

const SEED = 20261123;
const base64 = fc.uint8Array({ minLength: 0, maxLength: 96 }).map((b) => Buffer.from(b).toString('base64'));

describe('rekor-entry leaves', () => {
  describe('when an event carries an envelope', () => {
    it('gives exactly the RFC 8785 bytes of its Rekor v2 entry', () => {
      fc.assert(
        fc.property(fc.string(), base64, fc.array(fc.record({ keyid: fc.constantFrom('k1', 'k2'), sig: fc.oneof(base64, fc.string()) }), { minLength: 1, maxLength: 3 }), (payloadType, payload, signatures) => {
          const keys: Record<string, string> = { k1: Buffer.alloc(44, 1).toString('base64'), k2: Buffer.alloc(44, 2).toString('base64') };
          const envelope = { payloadType, payload, signatures };
          let expected: Buffer | Error;
          try {
            expected = jcsBytes(rekorDsseEntry(envelope, (k) => keys[k]));
          } catch (err) {
            expected = err as Error;
          }
          if (expected instanceof Error) expect(() => leafDataOf({ stream: 's', revision: 0, type: 'T', data: { envelope } }, (k) => keys[k])).toThrow();
          else expect(leafDataOf({ stream: 's', revision: 0, type: 'T', data: { envelope } }, (k) => keys[k]).equals(expected)).toBe(true);
        }),
        { seed: SEED, numRuns: 500 },
      );
    });
  });

  describe('when an event has no envelope and its data is stored as canonical text', () => {
    it('gives the same bytes as canonicalising {stream, revision, type, data}', () => {
      fc.assert(
        fc.property(fc.string({ minLength: 1 }).filter((s) => s.isWellFormed()), fc.nat(), fc.constantFrom('BundleSigned', 'KeyActivated', 'x.y:z'), fc.jsonValue(), (stream, revision, type, data) => {
          const dataJson = jcs(data);
          expect(leafTextOfCanonical(stream, revision, type, dataJson).equals(jcsBytes({ stream, revision, type, data: JSON.parse(dataJson) }))).toBe(true);
        }),
        { seed: SEED, numRuns: 500 },
      );
    });
  });
});
