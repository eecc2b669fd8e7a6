/**
 * A minimal DER writer for the TSA's hot path: definite minimal lengths, tag-length-value
 * concatenation, INTEGER from a non-negative bigint, OBJECT IDENTIFIER from dotted text and
 * GeneralizedTime. Only what `tsa.ts` needs to assemble a TimeStampResp; parsing stays in pkijs.
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [n] constructed, context-specific (EXPLICIT tagging, or IMPLICIT of a constructed type). */
  context: (n: number): number => 0xa0 | n,
} as const;

function headerLength(len: number): number {
  if (len < 0x80) return 2;
  if (len < 0x100) return 3;
  if (len < 0x10000) return 4;
  if (len < 0x1000000) return 5;
  return 6;
}

function writeHeader(out: Uint8Array, tag: number, len: number): number {
  out[0] = tag;
  if (len < 0x80) {
    out[1] = len;
    return 2;
  }
  const n = headerLength(len) - 2;
  out[1] = 0x80 | n;
  for (let i = n; i >= 1; i--) {
    out[1 + i] = len & 0xff;
    len = Math.floor(len / 256);
  }
  return 2 + n;
}

function build(alloc: (size: number) => Buffer, tag: number, parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.byteLength;
  const out = alloc(headerLength(len) + len);
  let at = writeHeader(out, tag, len);
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** tag ‖ length ‖ parts… (single-byte tags: universal or low-numbered context tags). */
export const tlv = (tag: number, ...parts: readonly Uint8Array[]): Buffer => build(Buffer.allocUnsafe, tag, parts);

/** Same as `tlv`, but the result owns its ArrayBuffer (not a slice of Node's shared pool). */
export const tlvOwned = (tag: number, ...parts: readonly Uint8Array[]): Buffer => build(Buffer.allocUnsafeSlow, tag, parts);

/** Contents octets of a DER INTEGER for v ≥ 0: minimal big-endian, 0x00 prefix when the high bit is set. */
export function integerContents(v: bigint): Buffer {
  if (typeof v !== 'bigint' || v < 0n) throw new RangeError('only non-negative bigint integers are supported');
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return bytes[0]! & 0x80 ? Buffer.concat([ZERO, bytes]) : bytes;
}
const ZERO = Buffer.from([0]);

/** A DER INTEGER (tag, length, contents) for v ≥ 0. */
export function integer(v: bigint): Buffer {
  return tlv(TAG.INTEGER, integerContents(v));
}

/** A DER OBJECT IDENTIFIER from dotted decimal text (arcs of any size). */
export function oid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(dotted)) throw new TypeError(`invalid OID: ${dotted}`);
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [a0, a1, ...rest] = arcs as [bigint, bigint, ...bigint[]];
  if (a0 < 2n && a1 > 39n) throw new TypeError(`invalid OID: ${dotted}`);
  const bytes: number[] = [];
  for (const arc of [a0 * 40n + a1, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(TAG.OID, Uint8Array.from(bytes));
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * A DER GeneralizedTime `YYYYMMDDHHMMSS[.fff]Z` in UTC: the fraction is present only when the
 * milliseconds are not zero, and has no trailing zeros (…05.12Z for 120 ms), as X.690 requires.
 */
export function generalizedTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) throw new RangeError('GeneralizedTime year must be within 0000..9999');
  const ms = date.getUTCMilliseconds();
  const text =
    pad(year, 4) +
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    (ms === 0 ? '' : `.${pad(ms, 3).replace(/0+$/, '')}`) +
    'Z';
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(text, 'latin1'));
}
