/**
 * Strict JSON for hostile input: UTF-8 only, RFC 8259, no duplicate keys (JSON.parse would keep
 * the last one silently, so two readers could see two documents), nesting depth at most 64.
 */
import { InputError } from './errors.ts';
import { errorMessage, printable } from './printable.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_DEPTH = 64;

/** Strict UTF-8 text; InputError naming `what` otherwise. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InputError(`${what} is not UTF-8 text`);
  }
}

/** Duplicate keys and nesting depth, on text JSON.parse already accepted. */
function structureProblem(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return `duplicate key "${printable(key, 60)}"`;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      stack.push(ch === 0x7b ? new Set() : null);
      if (stack.length > MAX_DEPTH) return `nested deeper than ${MAX_DEPTH}`;
      expectKey = ch === 0x7b;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return undefined;
}

/** UTF-8, RFC 8259 JSON, no duplicate keys, depth ≤ 64; throws InputError naming `what`. */
export function parseStrictJson(bytes: Uint8Array, what: string): unknown {
  const text = decodeUtf8(bytes, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${what} is not JSON (${errorMessage(err)})`);
  }
  const problem = structureProblem(text);
  if (problem) throw new InputError(`${what} is not strict JSON: ${problem}`);
  return value;
}
