/**
 * Free text that a human will read (ceremony and rotation reasons, cancel reasons, subjects shown
 * as actors): no character that can drive a terminal or reorder what it shows. Refused are the C0
 * controls (U+0000–U+001F, tab and newline included: a reason is one line), DEL (U+007F), the C1
 * controls (U+0080–U+009F, e.g. U+009B CSI), the line and paragraph separators (U+2028, U+2029),
 * and the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
 * make text read differently from what it is ("Trojan Source", CVE-2021-42574). Pure.
 */
import { LedgerError } from '../errors.ts';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Whether `text` has none of the characters above. */
export const isPlainText = (text: string): boolean => !UNSAFE.test(text);

/**
 * Throws `invalid_request` (400) with `details.reason` `control_character`, `details.field` and
 * the code point (`U+001B`) of the first refused character; never echoes the text.
 */
export function assertPlainText(text: string, field: string): void {
  const m = UNSAFE.exec(text);
  if (!m) return;
  const codePoint = `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new LedgerError('invalid_request', `${field} must not contain control, line-separator or bidirectional-override characters (found ${codePoint})`, {
    reason: 'control_character',
    field,
    codePoint,
  });
}

/** `text` with every refused character escaped as `\u` and four hex digits, e.g. `\u001b` (for showing text that predates the rule). */
export const escapeUnsafe = (text: string): string => text.replace(UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
