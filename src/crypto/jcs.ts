/**
 * RFC 8785 JSON Canonicalization Scheme via `canonicalize`, behind a strict validator: only
 * plain JSON values are accepted (no undefined, functions, symbols, bigints, non-finite numbers,
 * class instances, cycles, lone surrogates, or nesting deeper than MAX_DEPTH). `canonicalize`
 * alone would silently drop or coerce some of those; a ledger must refuse them instead.
 */
import canonicalizeImpl from 'canonicalize';

export const MAX_JSON_DEPTH = 64;

export class NotJsonError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'NotJsonError';
  }
}

const canonicalize = canonicalizeImpl as unknown as (v: unknown) => string | undefined;

export function assertJsonValue(value: unknown, path = '$', depth = 0, seen: Set<object> = new Set()): void {
  if (depth > MAX_JSON_DEPTH) throw new NotJsonError(path, `nested deeper than ${MAX_JSON_DEPTH}`);
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new NotJsonError(path, 'string contains a lone surrogate');
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new NotJsonError(path, 'number is not finite');
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new NotJsonError(path, 'cyclic reference');
      seen.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) assertJsonValue(value[i], `${path}[${i}]`, depth + 1, seen);
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) throw new NotJsonError(path, 'not a plain object');
        for (const key of Object.keys(value)) {
          if (!key.isWellFormed()) throw new NotJsonError(path, 'key contains a lone surrogate');
          assertJsonValue((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1, seen);
        }
      }
      seen.delete(value);
      return;
    }
    default:
      throw new NotJsonError(path, `${typeof value} is not a JSON value`);
  }
}

/** Validates, then returns the RFC 8785 canonical JSON text. Throws NotJsonError. */
export function jcs(value: unknown): string {
  assertJsonValue(value);
  const text = canonicalize(value);
  if (text === undefined) throw new NotJsonError('$', 'not serialisable');
  return text;
}

/** JCS as UTF-8 bytes. */
export const jcsBytes = (value: unknown): Buffer => Buffer.from(jcs(value), 'utf8');
