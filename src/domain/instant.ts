/**
 * The one strict RFC 3339 reader of the ledger. Every instant a caller, a file or an event hands
 * in is read here: real calendar dates only (`2026-02-30` is refused, not shifted), no leap
 * seconds, offsets up to ±23:59, at most nine fraction digits (kept to the millisecond).
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

const daysIn = (year: number, month: number): number =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/**
 * Milliseconds since the epoch of a strict RFC 3339 instant (no leap seconds, real calendar
 * dates, offsets up to ±23:59), or undefined. `Date.parse` alone would accept `2026-02-30`.
 */
export function parseRfc3339(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = m[7] === undefined ? 0 : Number(`${m[7].slice(1)}00`.slice(0, 3));
  const d = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, fraction));
  d.setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
  return d.getTime() - offsetMinutes * 60_000;
}

/** Whether `value` is a strict RFC 3339 instant. */
export const isRfc3339 = (value: unknown): value is string => parseRfc3339(value) !== undefined;
