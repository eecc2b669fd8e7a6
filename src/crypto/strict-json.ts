/**
 * The one strict JSON reader (RFC 8259 read as RFC 7493 I-JSON asks): what the ledger signs, what
 * the release gate and verifiers read, and the HTTP request bodies all go through it, so no two
 * parts of the ledger (and no Go, Python or JS verifier) can read one payload two ways.
 *
 * Strict means exactly one JSON text in UTF-8: no byte order mark, no invalid, overlong or
 * CESU-8 (encoded surrogate) sequences, no lone surrogates (raw or escaped as `\ud800`), no
 * duplicate member names at any depth (compared after unescaping), nothing but whitespace after
 * the value, and nesting at most `maxDepth` (default 512) deep. The parser is iterative (an
 * explicit stack, never recursion) and linear in the input, so a 1 MiB body of `[[[[…` is refused
 * with `too_deep` instead of overflowing the stack.
 *
 * With `exactNumbers`, a number is refused (`inexact_number`) unless the RFC 8785 (JCS) text of
 * the double it parses to denotes the same decimal as the source text: `9007199254740993` (JCS
 * `9007199254740992`), `1e400` (no double) and `0.30000000000000001` (JCS `0.3`) are refused;
 * `0.1`, `1.0`, `1E2` and `-0` are kept (JCS `0.1`, `1`, `100`, `0`: the same decimal). Re-signing
 * a statement as JCS can then never change a number the caller wrote.
 *
 * `lenient` reads as a permissive verifier might (a leading U+FEFF skipped, duplicate names
 * last-wins, lone surrogates kept, text after the first value ignored); it exists only so the
 * signer can look for a reserved statement in what such a verifier would see, never to decide
 * what is signed. Pure: no I/O.
 */
import type { JsonValue } from '../json.ts';

export type StrictJsonReason =
  | 'invalid_utf8'
  | 'bom'
  | 'empty'
  | 'syntax'
  | 'control_character'
  | 'invalid_escape'
  | 'lone_surrogate'
  | 'duplicate_key'
  | 'trailing_data'
  | 'too_deep'
  | 'inexact_number';

export interface StrictJsonOptions {
  /** Deepest nesting of arrays and objects accepted (default 512). */
  readonly maxDepth?: number;
  /** Refuse numbers whose JCS serialisation would denote another decimal (see the module comment). */
  readonly exactNumbers?: boolean;
  /** Read as a permissive verifier would (see the module comment). Never for what is signed. */
  readonly lenient?: boolean;
  /** Called for every object member once its value is read; `depth` 1 is the top-level object. */
  readonly onMember?: (depth: number, key: string, value: JsonValue) => void;
}

export type StrictJsonResult =
  | { readonly ok: true; readonly value: JsonValue }
  | {
      readonly ok: false;
      readonly reason: StrictJsonReason;
      readonly message: string;
      /** Offset in UTF-16 code units of the decoded text (in bytes for `invalid_utf8`/`bom`). */
      readonly offset: number;
      /** Where in the document, as `a.b[2]` (for `duplicate_key`, `inexact_number`, `too_deep`). */
      readonly path?: string;
    };

const DEFAULT_MAX_DEPTH = 512;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Refusal {
  constructor(
    readonly reason: StrictJsonReason,
    readonly message: string,
    readonly offset: number,
  ) {}
}

interface Frame {
  readonly container: Record<string, JsonValue> | JsonValue[];
  /** The member name being read (objects). */
  key: string;
}

/** Sign, significant digits without leading/trailing zeros, exponent: the decimal a number text denotes. */
function decimalOf(text: string): string {
  let s = text;
  let negative = false;
  if (s[0] === '-') {
    negative = true;
    s = s.slice(1);
  }
  let exponent = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exponent = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  if (dot >= 0) {
    exponent -= s.length - dot - 1;
    s = s.slice(0, dot) + s.slice(dot + 1);
  }
  s = s.replace(/^0+/, '');
  if (s.length === 0) return '0';
  const trimmed = s.replace(/0+$/, '');
  exponent += s.length - trimmed.length;
  return `${negative ? '-' : ''}${trimmed}e${exponent}`;
}

/** Does the JCS text of `value` (ECMAScript Number::toString) denote the decimal `source` denotes? */
export function isExactNumber(source: string, value: number): boolean {
  if (!Number.isFinite(value)) return false;
  return decimalOf(source) === decimalOf(String(value === 0 ? 0 : value));
}

function pathOf(stack: readonly Frame[]): string {
  let path = '';
  for (const frame of stack) {
    if (Array.isArray(frame.container)) path += `[${frame.container.length}]`;
    else path += /^[A-Za-z_$][\w$]*$/.test(frame.key) ? `${path ? '.' : ''}${frame.key}` : `[${JSON.stringify(frame.key.slice(0, 64))}]`;
  }
  return path;
}

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const hexValue = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);

function parseText(s: string, options: StrictJsonOptions): JsonValue {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const lenient = options.lenient === true;
  const onMember = options.onMember;
  const n = s.length;
  let i = 0;
  const stack: Frame[] = [];

  const fail = (reason: StrictJsonReason, message: string, at = i): never => {
    throw new Refusal(reason, message, at);
  };
  const skipWs = () => {
    while (i < n && isWs(s.charCodeAt(i))) i++;
  };

  const readHex4 = (): number => {
    if (i + 4 > n) fail('invalid_escape', 'a \\u escape needs four hex digits');
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const h = hexValue(s.charCodeAt(i + k));
      if (h < 0) fail('invalid_escape', 'a \\u escape needs four hex digits', i + k);
      v = v * 16 + h;
    }
    i += 4;
    return v;
  };

  // At the opening quote; returns the unescaped string and leaves i after the closing quote.
  const readString = (): string => {
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('syntax', 'unterminated string');
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        out += s.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control_character', 'a control character must be escaped inside a string');
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = s.charCodeAt(i + 1);
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          i += 2;
          continue;
        }
        if (!lenient) fail('lone_surrogate', 'a string holds a lone surrogate');
        i++;
        continue;
      }
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += s.slice(start, i);
      i++;
      const e = s.charCodeAt(i);
      i++;
      switch (e) {
        case 0x22: out += '"'; break;
        case 0x5c: out += '\\'; break;
        case 0x2f: out += '/'; break;
        case 0x62: out += '\b'; break;
        case 0x66: out += '\f'; break;
        case 0x6e: out += '\n'; break;
        case 0x72: out += '\r'; break;
        case 0x74: out += '\t'; break;
        case 0x75: {
          const at = i - 2;
          const u = readHex4();
          if (u >= 0xd800 && u <= 0xdbff) {
            if (s.charCodeAt(i) === 0x5c && s.charCodeAt(i + 1) === 0x75) {
              const save = i;
              i += 2;
              const low = readHex4();
              if (low >= 0xdc00 && low <= 0xdfff) {
                out += String.fromCharCode(u, low);
                break;
              }
              i = save;
            }
            if (!lenient) fail('lone_surrogate', 'a string holds an escaped lone surrogate', at);
            out += String.fromCharCode(u);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            if (!lenient) fail('lone_surrogate', 'a string holds an escaped lone surrogate', at);
            out += String.fromCharCode(u);
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          fail('invalid_escape', 'invalid escape sequence in a string', i - 2);
      }
      start = i;
    }
  };

  const readDigits = (): number => {
    const from = i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      i++;
    }
    return i - from;
  };

  const readNumber = (): number => {
    const from = i;
    if (s.charCodeAt(i) === 0x2d) i++;
    const first = s.charCodeAt(i);
    if (first === 0x30) i++;
    else if (first >= 0x31 && first <= 0x39) readDigits();
    else fail('syntax', 'invalid number');
    if (s.charCodeAt(i) === 0x2e) {
      i++;
      if (readDigits() === 0) fail('syntax', 'invalid number: digits must follow the decimal point');
    }
    const e = s.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const sign = s.charCodeAt(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      if (readDigits() === 0) fail('syntax', 'invalid number: digits must follow the exponent');
    }
    const text = s.slice(from, i);
    const value = Number(text);
    if (options.exactNumbers && !isExactNumber(text, value)) {
      throw Object.assign(new Refusal('inexact_number', `the number ${text.slice(0, 40)} has no exact double (JCS would sign ${Number.isFinite(value) ? String(value) : 'nothing'})`, from), { path: pathOf(stack) });
    }
    return value;
  };

  const literal = (word: string, value: JsonValue): JsonValue => {
    if (s.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return fail('syntax', 'unexpected character');
  };

  const open = () => {
    if (stack.length + 1 > maxDepth) throw Object.assign(new Refusal('too_deep', `nested deeper than ${maxDepth}`, i), { path: pathOf(stack) });
  };

  // After `{` or `,` in an object: reads `"key" :` into the frame.
  const readKey = (frame: Frame) => {
    skipWs();
    if (s.charCodeAt(i) !== 0x22) fail('syntax', 'expected a member name');
    frame.key = readString();
    skipWs();
    if (s.charCodeAt(i) !== 0x3a) fail('syntax', "expected ':' after a member name");
    i++;
  };

  let value: JsonValue;
  skipWs();
  if (i >= n) fail('empty', 'no JSON value');
  for (;;) {
    // Read one value (or open a container and loop to read its first value).
    skipWs();
    if (i >= n) fail('syntax', 'unexpected end of input');
    const c = s.charCodeAt(i);
    if (c === 0x7b) {
      open();
      i++;
      skipWs();
      if (s.charCodeAt(i) === 0x7d) {
        i++;
        value = {};
      } else {
        const frame: Frame = { container: {}, key: '' };
        stack.push(frame);
        readKey(frame);
        continue;
      }
    } else if (c === 0x5b) {
      open();
      i++;
      skipWs();
      if (s.charCodeAt(i) === 0x5d) {
        i++;
        value = [];
      } else {
        stack.push({ container: [], key: '' });
        continue;
      }
    } else if (c === 0x22) value = readString();
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) value = readNumber();
    else if (c === 0x74) value = literal('true', true);
    else if (c === 0x66) value = literal('false', false);
    else if (c === 0x6e) value = literal('null', null);
    else fail('syntax', 'unexpected character');

    // Hand the value to its container; close containers that end here.
    let more = false;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const container = frame.container;
      if (Array.isArray(container)) {
        container.push(value!);
      } else {
        const key = frame.key;
        if (Object.hasOwn(container, key)) {
          if (!lenient) {
            const path = pathOf(stack.slice(0, -1));
            throw Object.assign(new Refusal('duplicate_key', `duplicate key ${JSON.stringify(key.slice(0, 64))}`, i), { path: path ? `${path}.${key.slice(0, 64)}` : key.slice(0, 64) });
          }
        }
        if (key === '__proto__') Object.defineProperty(container, key, { value: value!, writable: true, enumerable: true, configurable: true });
        else container[key] = value!;
        onMember?.(stack.length, key, value!);
      }
      skipWs();
      const d = s.charCodeAt(i);
      if (d === 0x2c) {
        i++;
        if (!Array.isArray(container)) readKey(frame);
        more = true;
        break;
      }
      if (d === (Array.isArray(container) ? 0x5d : 0x7d)) {
        i++;
        stack.pop();
        value = container;
        continue;
      }
      fail('syntax', Array.isArray(container) ? "expected ',' or ']'" : "expected ',' or '}'");
    }
    if (more) continue;
    break;
  }
  if (!lenient) {
    skipWs();
    if (i < n) fail('trailing_data', 'text after the JSON value');
  }
  return value!;
}

function failure(err: unknown): StrictJsonResult {
  if (err instanceof Refusal) {
    const path = (err as Refusal & { path?: string }).path;
    return { ok: false, reason: err.reason, message: err.message, offset: err.offset, ...(path !== undefined ? { path } : {}) };
  }
  throw err;
}

/** Reads already-decoded text (strings from a strict UTF-8 decoder, or a lenient decoding). */
export function readStrictJsonText(text: string, options: StrictJsonOptions = {}): StrictJsonResult {
  let start = 0;
  if (text.charCodeAt(0) === 0xfeff) {
    if (!options.lenient) return { ok: false, reason: 'bom', message: 'the text starts with a byte order mark', offset: 0 };
    start = 1;
  }
  try {
    return { ok: true, value: parseText(start ? text.slice(start) : text, options) };
  } catch (err) {
    return failure(err);
  }
}

/** Reads bytes that must be exactly one strict UTF-8 JSON text. */
export function readStrictJson(bytes: Uint8Array, options: StrictJsonOptions = {}): StrictJsonResult {
  if ((bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) || (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return { ok: false, reason: 'bom', message: 'the text starts with a byte order mark (UTF-8 without BOM is required)', offset: 0 };
  }
  let text: string;
  try {
    text = fatalUtf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'invalid_utf8', message: 'not UTF-8 (invalid, overlong or surrogate sequence)', offset: firstInvalidUtf8(bytes) };
  }
  return readStrictJsonText(text, options);
}

/** Offset of the first byte of the first invalid UTF-8 sequence (for error details; failure path only). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // Lead byte → sequence length and the allowed range of the second byte (no overlongs, no surrogates, ≤ U+10FFFF).
    let len: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) len = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    if (i + len > n) return i;
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k < len; k++) {
      const c = bytes[i + k]!;
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += len;
  }
  return n;
}

/** `JSON.parse` for hostile text: strict as above, throwing a SyntaxError naming the reason. */
export function parseStrictJsonText(text: string, options: StrictJsonOptions = {}): JsonValue {
  const result = readStrictJsonText(text, options);
  if (!result.ok) throw new SyntaxError(`${result.reason}: ${result.message} at ${result.offset}`);
  return result.value;
}
