import { describe, expect, it } from 'vitest';
import { isExactNumber, readStrictJson, readStrictJsonText } from '../../src/crypto/strict-json.ts';

const bytes = (...parts: (string | number[])[]): Uint8Array => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

function reasonOf(input: Uint8Array | string, options = {}): string {
  const r = typeof input === 'string' ? readStrictJsonText(input, options) : readStrictJson(input, options);
  return r.ok ? 'accepted' : r.reason;
}

describe('readStrictJson', () => {
  describe('when given one strict UTF-8 JSON text', () => {
    it('reads it as JSON.parse does', () => {
      const text = '{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"n":[1,-2.5e3,0,true,false,null],"s":"\\u00e9\\ud83d\\ude00\\n\\/ é😀"}';
      const r = readStrictJson(bytes(text));
      expect(r).toEqual({ ok: true, value: JSON.parse(text) });
    });

    it('keeps a "__proto__" member as data and does not touch the prototype', () => {
      const r = readStrictJson(bytes('{"__proto__":{"polluted":true},"a":1}'));
      expect(r.ok).toBe(true);
      const value = (r as { value: Record<string, unknown> }).value;
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.hasOwn(value, '__proto__')).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('allows whitespace around the value', () => {
      expect(reasonOf(bytes(' \t\r\n{"a":[ 1 , 2 ]}\n '))).toBe('accepted');
    });
  });

  describe('when given the hostile corpus of issue 16 finding 5', () => {
    it('refuses byte 0xFF inside a string', () => {
      expect(reasonOf(bytes('{"predicateType":"a', [0xff], '"}'))).toBe('invalid_utf8');
    });

    it('refuses an overlong encoding (C0 AF for "/")', () => {
      expect(reasonOf(bytes('{"a":"', [0xc0, 0xaf], '"}'))).toBe('invalid_utf8');
      expect(reasonOf(bytes('{"a":"', [0xe0, 0x80, 0xaf], '"}'))).toBe('invalid_utf8');
    });

    it('refuses CESU-8 (a surrogate pair encoded as two 3-byte sequences)', () => {
      expect(reasonOf(bytes('{"a":"', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], '"}'))).toBe('invalid_utf8');
    });

    it('names the offset of the first invalid byte', () => {
      const r = readStrictJson(bytes('{"a":"é', [0xff], '"}'));
      expect(r).toMatchObject({ ok: false, reason: 'invalid_utf8', offset: 8 });
    });

    it('refuses UTF-16 with a byte order mark, either endianness', () => {
      const text = '{"predicateType":"x"}';
      expect(reasonOf(bytes([0xff, 0xfe], [...Buffer.from(text, 'utf16le')]))).toBe('bom');
      expect(reasonOf(bytes([0xfe, 0xff], [...Buffer.from(text, 'utf16le').swap16()]))).toBe('bom');
    });

    it('refuses UTF-16 without a byte order mark (NUL bytes are no JSON)', () => {
      expect(reasonOf(bytes([...Buffer.from('{"a":1}', 'utf16le')]))).not.toBe('accepted');
    });

    it('refuses a UTF-8 byte order mark, as bytes and as decoded text', () => {
      expect(reasonOf(bytes([0xef, 0xbb, 0xbf], '{}'))).toBe('bom');
      expect(reasonOf('\ufeff{}')).toBe('bom');
    });

    it('refuses trailing data after the value', () => {
      expect(reasonOf(bytes('{"a":1}x'))).toBe('trailing_data');
      expect(reasonOf(bytes('{"a":1} 1'))).toBe('trailing_data');
    });

    it('refuses a second object', () => {
      expect(reasonOf(bytes('{"predicateType":"a"}{"predicateType":"b"}'))).toBe('trailing_data');
      expect(reasonOf(bytes('{"predicateType":"a"}\n{"predicateType":"b"}'))).toBe('trailing_data');
    });

    it('refuses duplicate predicateType keys, also when one is escaped', () => {
      expect(reasonOf(bytes('{"predicateType":"https://slsa.dev/provenance/v1","predicateType":"https://sigledger.dev/attestations/resign/v1"}'))).toBe('duplicate_key');
      expect(reasonOf(bytes('{"predicateType":"a","predicate\\u0054ype":"b"}'))).toBe('duplicate_key');
    });

    it('refuses duplicate keys at any depth and names where', () => {
      const r = readStrictJson(bytes('{"predicate":{"x":[{"k":1,"k":2}]}}'));
      expect(r).toMatchObject({ ok: false, reason: 'duplicate_key', path: 'predicate.x[0].k' });
    });

    it('refuses escaped lone surrogates (high, low, and high followed by a non-low escape)', () => {
      expect(reasonOf(bytes('{"a":"\\ud800"}'))).toBe('lone_surrogate');
      expect(reasonOf(bytes('{"a":"\\udc00x"}'))).toBe('lone_surrogate');
      expect(reasonOf(bytes('{"a":"\\ud800\\u0041"}'))).toBe('lone_surrogate');
      expect(reasonOf(bytes('{"\\ud800":1}'))).toBe('lone_surrogate');
    });

    it('refuses a raw lone surrogate in decoded text, and keeps a raw pair', () => {
      expect(reasonOf('{"a":"\ud800"}')).toBe('lone_surrogate');
      expect(reasonOf('{"a":"\ud83d\ude00"}')).toBe('accepted');
    });

    it('refuses what RFC 8259 refuses (control characters, bad escapes, single quotes, leading zeros, comments)', () => {
      expect(reasonOf(bytes('{"a":"\n"}'))).toBe('control_character');
      expect(reasonOf(bytes('{"a":"\\x41"}'))).toBe('invalid_escape');
      expect(reasonOf(bytes('{"a":"\\u12G4"}'))).toBe('invalid_escape');
      for (const text of ["{'a':1}", '{"a":01}', '{"a":1,}', '[1,]', '{"a":.5}', '{"a":1.}', '{"a":1e}', '/*x*/{}', '{"a":NaN}', '{"a":tru}', '[', '"a', '']) {
        expect(reasonOf(bytes(text)), text).not.toBe('accepted');
      }
    });
  });

  describe('when nesting is deep', () => {
    it('refuses nesting deeper than 512 without overflowing the stack, even 1 MiB deep', () => {
      expect(reasonOf(bytes('['.repeat(512) + ']'.repeat(512)))).toBe('accepted');
      expect(reasonOf(bytes('['.repeat(513) + ']'.repeat(513)))).toBe('too_deep');
      expect(reasonOf(bytes('['.repeat(1 << 20)))).toBe('too_deep');
      expect(reasonOf(bytes('{"a":'.repeat(1 << 18)))).toBe('too_deep');
    });

    it('reads a 1 MiB document', () => {
      const doc = JSON.stringify({ items: Array.from({ length: 20_000 }, (_, i) => ({ i, s: `value ${i} é😀`, n: i / 7 })) });
      expect(doc.length).toBeGreaterThan(1 << 20);
      const r = readStrictJson(bytes(doc));
      expect(r.ok && JSON.stringify(r.value) === doc).toBe(true);
    });
  });

  describe('when exact numbers are asked for (statement form)', () => {
    it.each(['9007199254740993', '1e400', '-1e400', '1e-400', '0.30000000000000001', '123456789012345678901234567890', '1.00000000000000000001'])('refuses %s', (n) => {
      const r = readStrictJsonText(`{"statement":{"predicate":{"n":[${n}]}}}`, { exactNumbers: true });
      expect(r).toMatchObject({ ok: false, reason: 'inexact_number', path: 'statement.predicate.n[0]' });
    });

    it.each(['0', '-0', '0.1', '1.0', '1E2', '1e21', '5e-324', '9007199254740992', '-12.5e-3', '0.000001', '1e-7', '100'])('keeps %s (its JCS text denotes the same decimal)', (n) => {
      expect(readStrictJsonText(`[${n}]`, { exactNumbers: true }).ok).toBe(true);
    });

    it('leaves numbers alone unless asked', () => {
      expect(readStrictJsonText('[9007199254740993]')).toEqual({ ok: true, value: [9007199254740992] });
    });

    it('compares decimals, not texts', () => {
      expect(isExactNumber('1.50e1', 15)).toBe(true);
      expect(isExactNumber('15.000000000000001', 15.000000000000002)).toBe(false);
      expect(isExactNumber('1e999999999999999999999', Infinity)).toBe(false);
    });
  });

  describe('when reading leniently (only to look for reserved statements)', () => {
    it('keeps the last duplicate, ignores trailing text and keeps lone surrogates, reporting every member', () => {
      const seen: string[] = [];
      const r = readStrictJsonText('{"p":"a","p":"b","s":"\\ud800"} {"p":"c"}', { lenient: true, onMember: (depth, key, value) => seen.push(`${depth}:${key}=${String(value)}`) });
      expect(r).toMatchObject({ ok: true, value: { p: 'b' } });
      expect(seen).toEqual(['1:p=a', '1:p=b', '1:s=\ud800']);
    });
  });
});
