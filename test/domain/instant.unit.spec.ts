import { describe, expect, it } from 'vitest';
import { isRfc3339, parseRfc3339 } from '../../src/domain/instant.ts';

describe('instant: strict RFC 3339 (unit)', () => {
  describe('when a calendar date or time does not exist', () => {
    it.each([
      '2026-02-30T00:00:00Z', // shifted to 2026-03-02 by Date
      '2026-02-29T00:00:00Z', // not a leap year
      '1900-02-29T00:00:00Z', // divisible by 100, not by 400
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T24:00:00Z', // 24:00 is not an RFC 3339 time (Date reads the next day)
      '2026-01-01T23:60:00Z',
      '2026-06-30T23:59:60Z', // leap seconds are refused: the ledger's clock (POSIX time) has none
      '2026-01-01T00:00:00+24:00',
      '2026-01-01T00:00:00+01:60',
    ])('refuses %s', (value) => {
      expect(parseRfc3339(value)).toBeUndefined();
      expect(isRfc3339(value)).toBe(false);
    });
  });

  describe('when the text is not RFC 3339', () => {
    it.each(['2026-01-01', '2026-01-01 00:00:00Z', '2026-01-01T00:00:00', '2026-1-01T00:00:00Z', '+002026-01-01T00:00:00Z', '2026-01-01T00:00:00.Z', '2026-01-01T00:00:00.1234567890Z', ' 2026-01-01T00:00:00Z', 'Thu, 01 Jan 2026 00:00:00 GMT', 1_767_225_600_000])('refuses %s', (value) => {
      expect(parseRfc3339(value)).toBeUndefined();
    });
  });

  describe('when the instant is valid', () => {
    it('reads leap days, offsets, lowercase t/z and fractions (kept to the millisecond)', () => {
      expect(parseRfc3339('2024-02-29T12:00:00Z')).toBe(Date.UTC(2024, 1, 29, 12));
      expect(parseRfc3339('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
      expect(parseRfc3339('2026-03-01T01:30:00+01:00')).toBe(Date.UTC(2026, 2, 1, 0, 30));
      expect(parseRfc3339('2026-03-01t00:30:00z')).toBe(Date.UTC(2026, 2, 1, 0, 30));
      expect(parseRfc3339('2026-03-01T00:30:00.123456789Z')).toBe(Date.UTC(2026, 2, 1, 0, 30, 0, 123));
      expect(parseRfc3339('0099-01-01T00:00:00Z')).toBe(new Date('0099-01-01T00:00:00Z').getTime());
    });
  });
});
