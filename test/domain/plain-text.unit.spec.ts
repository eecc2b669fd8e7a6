import { describe, expect, it } from 'vitest';
import { assertPlainText, escapeUnsafe, isPlainText } from '../../src/domain/plain-text.ts';
import { isLedgerError } from '../../src/errors.ts';

describe('plain text (unit)', () => {
  describe('when text has a character a terminal would act on or reorder', () => {
    const refused = [
      ...Array.from({ length: 0x20 }, (_, i) => i),
      0x7f,
      ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
      0x2028,
      0x2029,
      0x202a,
      0x202b,
      0x202c,
      0x202d,
      0x202e,
      0x2066,
      0x2067,
      0x2068,
      0x2069,
    ];
    it('refuses every C0, DEL, C1, line/paragraph separator and bidi embedding, override and isolate', () => {
      for (const cp of refused) expect(isPlainText(`a${String.fromCharCode(cp)}b`), cp.toString(16)).toBe(false);
    });

    it('throws invalid_request control_character naming the field and the code point, never the text', () => {
      try {
        assertPlainText('secret\u202eplan', 'reason');
        expect.unreachable();
      } catch (err) {
        expect(isLedgerError(err) && { code: err.code, details: err.details }).toEqual({ code: 'invalid_request', details: { reason: 'control_character', field: 'reason', codePoint: 'U+202E' } });
        expect((err as Error).message).not.toContain('secret');
      }
    });

    it('escapes them for display', () => {
      expect(escapeUnsafe('a\u001b[2Jb\u202ec')).toBe('a\\u001b[2Jb\\u202ec');
    });
  });

  describe('when text is printable in any script', () => {
    it('accepts it, including the neighbours of the refused ranges', () => {
      for (const text of ['plain', 'ü ß é', '\u00a0nbsp', '\u200e lrm mark', '\u2027', '\u202f', '\u2065', '\u206a', '日本語', '🔑']) expect(isPlainText(text), text).toBe(true);
      expect(() => assertPlainText('fine', 'reason')).not.toThrow();
    });
  });
});
