import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/hash.ts';
import { jcs, jcsBytes } from '../../src/crypto/jcs.ts';
import { digestLeafOf, leafDataOf, leafTextOfCanonical, MAX_LEAF_BYTES, rekorDsseEntry } from '../../src/log/rekor-entry.ts';
import { encodeEntryBundle } from '../../src/log/tiles.ts';
import { MAX_EVENT_TYPE_LENGTH, MAX_STREAM_NAME_LENGTH } from '../../src/store/event-store.ts';

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

describe('bounded leaves', () => {
  const hex = (data: unknown) => sha256Hex(jcs(data));
  const blob = (n: number) => ({ blob: 'x'.repeat(n) });
  /** JSON overhead of `{"data":{"blob":""},"revision":0,"stream":"s","type":"T"}`. */
  const overhead = leafDataOf({ stream: 's', revision: 0, type: 'T', data: blob(0) }, () => undefined).length;

  describe('when an event has no envelope and its full leaf would exceed 65535 bytes', () => {
    it('gives the digest leaf: the JCS of {dataSha256, revision, stream, type}', () => {
      const data = { ...blob(70_000), n: 1 };
      const leaf = leafDataOf({ stream: 'probe-1', revision: 7, type: 'Large', data }, () => undefined);
      expect(leaf.toString('utf8')).toBe(`{"dataSha256":"${hex(data)}","revision":7,"stream":"probe-1","type":"Large"}`);
      expect(leaf.equals(digestLeafOf('probe-1', 7, 'Large', hex(data)))).toBe(true);
    });

    it('keeps a full leaf of exactly 65535 bytes and switches to the digest leaf at 65536', () => {
      const at = (n: number) => leafDataOf({ stream: 's', revision: 0, type: 'T', data: blob(n) }, () => undefined);
      const fits = at(MAX_LEAF_BYTES - overhead);
      expect(fits.length).toBe(MAX_LEAF_BYTES);
      expect(fits.equals(jcsBytes({ stream: 's', revision: 0, type: 'T', data: blob(MAX_LEAF_BYTES - overhead) }))).toBe(true);
      const over = at(MAX_LEAF_BYTES - overhead + 1);
      expect(over.equals(digestLeafOf('s', 0, 'T', hex(blob(MAX_LEAF_BYTES - overhead + 1))))).toBe(true);
    });

    it('gives the same bytes from the stored canonical text as from the event, on both sides of the limit', () => {
      fc.assert(
        fc.property(fc.integer({ min: MAX_LEAF_BYTES - overhead - 40, max: MAX_LEAF_BYTES - overhead + 40 }), fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s.isWellFormed()), fc.nat(), (n, stream, revision) => {
          const data = { blob: 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2) };
          expect(leafTextOfCanonical(stream, revision, 'T', jcs(data)).equals(leafDataOf({ stream, revision, type: 'T', data }, () => undefined))).toBe(true);
        }),
        { seed: SEED, numRuns: 200 },
      );
    });

    it('has at most 1100 bytes for the longest stream name and type the store accepts', () => {
      // 3 UTF-8 bytes per code unit is the most JSON gives a stream name without control characters.
      const stream = '\uffff'.repeat(MAX_STREAM_NAME_LENGTH);
      const type = 'T'.repeat(MAX_EVENT_TYPE_LENGTH);
      const leaf = leafDataOf({ stream, revision: Number.MAX_SAFE_INTEGER, type, data: blob(100_000) }, () => undefined);
      expect(JSON.parse(leaf.toString('utf8'))).toEqual({ dataSha256: hex(blob(100_000)), revision: Number.MAX_SAFE_INTEGER, stream, type });
      expect(leaf.length).toBeLessThanOrEqual(1100);
    });
  });

  describe('when an anchors document grows with every key', () => {
    const anchors = (keys: number) => ({
      version: keys,
      issuedAt: '2026-11-23T00:00:00Z',
      keys: Object.fromEntries(
        Array.from({ length: keys }, (_, i) => [sha256Hex(`key ${i}`), { rawBytes: Buffer.alloc(44, i).toString('base64'), keyDetails: 'PKIX_ED25519', validFor: { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' } }]),
      ),
      signatures: [{ keyid: 'approver-1', sig: Buffer.alloc(64, 1).toString('base64') }],
    });

    it('keeps the full leaf while it fits and has a digest leaf of constant size after', () => {
      const small = anchors(10);
      expect(leafDataOf({ stream: 'anchors', revision: 9, type: 'AnchorsPublished', data: small }, () => undefined).equals(jcsBytes({ stream: 'anchors', revision: 9, type: 'AnchorsPublished', data: small }))).toBe(true);
      const large = anchors(600);
      expect(jcs(large).length).toBeGreaterThan(MAX_LEAF_BYTES);
      const leaf = leafDataOf({ stream: 'anchors', revision: 599, type: 'AnchorsPublished', data: large }, () => undefined);
      expect(leaf.equals(digestLeafOf('anchors', 599, 'AnchorsPublished', hex(large)))).toBe(true);
      expect(encodeEntryBundle([leaf])).toHaveLength(leaf.length + 2);
    });
  });

  describe('when an envelope event gives a Rekor entry over 65535 bytes', () => {
    it('gives the digest leaf of its data instead', () => {
      const keys: Record<string, string> = { k1: Buffer.alloc(44, 1).toString('base64') };
      const envelope = { payloadType: 'text/plain', payload: 'aGk=', signatures: Array.from({ length: 600 }, () => ({ keyid: 'k1', sig: Buffer.alloc(64, 2).toString('base64') })) };
      const data = { envelope, n: 1 };
      expect(jcsBytes(rekorDsseEntry(envelope, (k) => keys[k])).length).toBeGreaterThan(MAX_LEAF_BYTES);
      const leaf = leafDataOf({ stream: 'attestation-1', revision: 0, type: 'Signed', data }, (k) => keys[k]);
      expect(leaf.equals(digestLeafOf('attestation-1', 0, 'Signed', hex(data)))).toBe(true);
    });

    it('keeps the Rekor entry of a one-signature envelope, whatever the payload size', () => {
      const keys: Record<string, string> = { k1: Buffer.alloc(44, 1).toString('base64') };
      const envelope = { payloadType: 'text/plain', payload: Buffer.alloc(200_000, 7).toString('base64'), signatures: [{ keyid: 'k1', sig: Buffer.alloc(64, 2).toString('base64') }] };
      const leaf = leafDataOf({ stream: 'bundle-1', revision: 0, type: 'BundleSigned', data: { envelope } }, (k) => keys[k]);
      expect(leaf.equals(jcsBytes(rekorDsseEntry(envelope, (k) => keys[k])))).toBe(true);
    });
  });
});
