/**
 * Strict JSON for hostile input: UTF-8 only, RFC 8259, no duplicate keys (JSON.parse would keep
 * the last one silently, so two readers could see two documents), no lone surrogates, nesting
 * depth at most 64. Read with the ledger's one strict reader (crypto/strict-json.ts), so the CLI
 * verifier reads a statement exactly as the signer did.
 */
import { readStrictJsonText } from '../../crypto/strict-json.ts';
import { InputError } from './errors.ts';
import { printable } from './printable.ts';

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

/** UTF-8, RFC 8259 JSON, no duplicate keys or lone surrogates, depth ≤ 64 (the ledger's one strict reader, crypto/strict-json.ts); throws InputError naming `what`. */
export function parseStrictJson(bytes: Uint8Array, what: string): unknown {
  const text = decodeUtf8(bytes, what);
  const result = readStrictJsonText(text, { maxDepth: MAX_DEPTH });
  if (result.ok) return result.value;
  if (result.reason === 'duplicate_key' || result.reason === 'too_deep' || result.reason === 'lone_surrogate') throw new InputError(`${what} is not strict JSON: ${printable(result.message, 120)}`);
  throw new InputError(`${what} is not JSON (${result.message} at offset ${result.offset})`);
}
