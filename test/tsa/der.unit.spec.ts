import * as asn1js from 'asn1js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as der from '../../src/tsa/der.ts';
import { TAG } from '../../src/tsa/der.ts';

const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('hex');
const bigintArb = fc.oneof(
  fc.bigInt({ min: 0n, max: 1n << 200n }),
  fc.constantFrom(0n, 1n, 127n, 128n, 255n, 256n, 32767n, 32768n, (1n << 160n) - 1n, 1n << 159n),
);

describe('DER writer', () => {
  describe('when encoding INTEGERs', () => {
    it('matches asn1js for non-negative bigints (minimal, 0x00 prefix when the high bit is set)', () => {
      fc.assert(
        fc.property(bigintArb, (v) => {
          expect(hex(der.integer(v))).toBe(hex(asn1js.Integer.fromBigInt(v).toBER(false)));
        }),
        { numRuns: 500 },
      );
      expect(hex(der.integer(0n))).toBe('020100');
      expect(hex(der.integer(128n))).toBe('02020080');
      expect(hex(der.integer((1n << 160n) - 1n))).toBe(`021500${'ff'.repeat(20)}`);
      expect(() => der.integer(-1n)).toThrow(RangeError);
    });
  });

  describe('when encoding OBJECT IDENTIFIERs', () => {
    it('matches asn1js, including large arcs', () => {
      const arcs = fc.array(fc.oneof(fc.nat(200), fc.bigInt({ min: 0n, max: 1n << 70n }).map(String)), { minLength: 0, maxLength: 8 });
      fc.assert(
        fc.property(fc.constantFrom(0, 1, 2), fc.nat(39), arcs, (a0, a1, rest) => {
          const dotted = [a0, a1, ...rest].join('.');
          expect(hex(der.oid(dotted))).toBe(hex(new asn1js.ObjectIdentifier({ value: dotted }).toBER(false)));
        }),
        { numRuns: 500 },
      );
      expect(hex(der.oid('2.999.3'))).toBe(hex(new asn1js.ObjectIdentifier({ value: '2.999.3' }).toBER(false)));
      expect(() => der.oid('1.40')).toThrow(TypeError);
      expect(() => der.oid('1.02')).toThrow(TypeError);
    });
  });

  describe('when encoding GeneralizedTime', () => {
    it('matches asn1js (fraction only for non-zero milliseconds, trailing zeros trimmed)', () => {
      fc.assert(
        fc.property(fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
          expect(hex(der.generalizedTime(d))).toBe(hex(new asn1js.GeneralizedTime({ valueDate: d }).toBER(false)));
        }),
        { numRuns: 1000 },
      );
      expect(Buffer.from(der.generalizedTime(new Date('2024-01-02T03:04:05.120Z'))).subarray(2).toString()).toBe('20240102030405.12Z');
      expect(Buffer.from(der.generalizedTime(new Date('2024-01-02T03:04:05Z'))).subarray(2).toString()).toBe('20240102030405Z');
      expect(() => der.generalizedTime(new Date('+010000-01-01T00:00:00Z'))).toThrow(RangeError);
    });
  });

  describe('when writing tag-length-value', () => {
    it('uses minimal definite lengths, like asn1js, for contents of every size class', () => {
      for (const len of [0, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000]) {
        const v = new Uint8Array(len).fill(7);
        expect(hex(der.tlv(TAG.OCTET_STRING, v))).toBe(hex(new asn1js.OctetString({ valueHex: v }).toBER(false)));
        // Several parts are concatenated; tlvOwned's result does not share Node's buffer pool.
        const split = der.tlvOwned(TAG.OCTET_STRING, v.subarray(0, len >> 1), v.subarray(len >> 1));
        expect(hex(split)).toBe(hex(der.tlv(TAG.OCTET_STRING, v)));
        expect(split.byteOffset).toBe(0);
        expect(split.buffer.byteLength).toBe(split.byteLength);
      }
      expect(hex(der.tlv(TAG.context(0), Buffer.from('0500', 'hex')))).toBe('a0020500');
    });
  });
});
