/**
 * How the ledger reads a DSSE payload before it signs it, and how the gate and verifiers read it
 * after: one strict reading (`crypto/strict-json.ts`) for every JSON payload type, plus the
 * readings a permissive verifier might make, so the signer can refuse what any of them would take
 * for a statement the ledger itself issues.
 *
 * Why a class rule and not separate payload types: docs/CONTRACT.md §3 fixes the ledger's own
 * attestations (re-signing, key transition) as in-toto Statement v1 under
 * `application/vnd.in-toto+json`, the payload type every in-toto/Sigstore verifier expects, so
 * they cannot move to a type callers cannot use. Instead the ledger's namespace is closed as a
 * class, in every reading:
 * - a payload type in the ledger's vendor tree (`vnd.sigledger…`, e.g. the ceremony payload type),
 *   compared on the normalised media type (case, parameters and whitespace ignored), is reserved;
 * - a predicate type naming `sigledger.dev` (case-insensitive, percent-decoded, whitespace
 *   ignored) is reserved, except exactly `…/attestations/release/v1`, which keeps its scope rule.
 *   Predicate types are collected from every top-level member a verifier could take for
 *   `predicateType` (Go matches names case-insensitively, protojson also accepts
 *   `predicate_type`), in the strict reading and, for payload types that are not JSON, in lenient
 *   readings (UTF-8 with replacement, UTF-16/32, BOM skipped, duplicates, trailing text ignored).
 * Pure: no I/O.
 */
import { readStrictJson, readStrictJsonText, type StrictJsonResult } from '../crypto/strict-json.ts';
import type { JsonValue } from '../json.ts';
import { isObject } from '../json.ts';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The host that names everything the ledger itself issues. */
const LEDGER_NAMESPACE = 'sigledger.dev';

/** `type/subtype` lower-cased, without parameters or whitespace: `Application/Vnd.In-Toto+JSON ; x=y` → `application/vnd.in-toto+json`. */
export const mediaTypeEssence = (payloadType: string): string => payloadType.split(';')[0]!.replace(/\s+/g, '').toLowerCase();

/** JSON payload types: `application/json`, `*\/json`, `*+json` (with or without parameters). Their payload must be strict JSON. */
export const isJsonPayloadType = (payloadType: string): boolean => /(?:^|[/+])json$/.test(mediaTypeEssence(payloadType));

/** Any media type naming `sigledger` (the vendor tree of `application/vnd.sigledger.ceremony+json`): only the ledger signs these. */
export const isReservedPayloadType = (payloadType: string): boolean => mediaTypeEssence(payloadType).includes('sigledger');

/** A member name as lenient verifiers match it: case folded (Go's `EqualFold`, incl. `ſ` and `K`), `_`/`-` dropped (protojson). */
const foldKey = (key: string): string => key.replace(/\u017f/g, 's').toLowerCase().replace(/[_-]/g, '');

/** The statement's own members, as folded names: two names folding to one of these are ambiguous. */
const STATEMENT_FIELDS = new Set(['type', 'subject', 'predicatetype', 'predicate']);

/** Does a predicate type name the ledger's namespace (in any case, encoding or spacing)? */
export function namesLedgerNamespace(predicateType: string): boolean {
  let text = predicateType;
  try {
    text = decodeURIComponent(text);
  } catch {
    // Not percent-encoded text: read as it is.
  }
  return text.replace(/[\s\u0000-\u001f]+/g, '').toLowerCase().includes(LEDGER_NAMESPACE);
}

export type PayloadProblem =
  /** A JSON payload type whose payload is not one strict JSON text; `json` says why. */
  | { readonly kind: 'not_strict_json'; readonly json: Extract<StrictJsonResult, { ok: false }> }
  /** A statement field named twice in ways verifiers read differently (`predicateType` and `PredicateType`). */
  | { readonly kind: 'ambiguous_field'; readonly field: string };

export interface PayloadReading {
  /** The strict reading, for JSON payload types. */
  readonly json?: JsonValue;
  /** Every string some reading could take as the statement's `predicateType`. */
  readonly predicateTypes: readonly string[];
  readonly problem?: PayloadProblem;
}

const predicateTypeValues = (value: JsonValue, into: string[]) => {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') into.push(v);
};

/** Members of a strict reading's top level and of its subject entries must not fold onto each other. */
function ambiguousField(value: JsonValue): string | undefined {
  const objects: Record<string, unknown>[] = [];
  if (isObject(value)) {
    objects.push(value);
    for (const [k, v] of Object.entries(value)) if (foldKey(k) === 'subject' && Array.isArray(v)) for (const s of v) if (isObject(s)) objects.push(s);
  }
  for (const object of objects) {
    const seen = new Map<string, string>();
    for (const k of Object.keys(object)) {
      const folded = foldKey(k);
      const other = seen.get(folded);
      if (other !== undefined && (STATEMENT_FIELDS.has(folded) || object !== objects[0])) return `${other}/${k}`.slice(0, 128);
      seen.set(folded, k);
    }
  }
  return undefined;
}

const utf16le = new TextDecoder('utf-16le');
const utf16be = new TextDecoder('utf-16be');
const lossyUtf8 = new TextDecoder('utf-8');

function utf32(bytes: Uint8Array, littleEndian: boolean): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: string[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    const cp = view.getUint32(i, littleEndian);
    parts.push(cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd');
  }
  return parts.join('');
}

/**
 * Does a reading in code units of `width` bytes start (after an optional BOM and whitespace) with
 * `{`? Checked on the bytes, so a large binary payload is decoded only in the readings that could
 * be a JSON object at all.
 */
function opensObject(bytes: Uint8Array, width: 1 | 2 | 4, littleEndian: boolean): boolean {
  const unit = (at: number): number => {
    let v = 0;
    for (let k = 0; k < width; k++) v = v * 256 + bytes[at + (littleEndian ? width - 1 - k : k)]!;
    return v;
  };
  let i = 0;
  if (width === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  else if (width > 1 && bytes.length >= width && unit(0) === 0xfeff) i = width;
  while (i + width <= bytes.length) {
    const c = unit(i);
    if (c === 0x7b) return true;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
    i += width;
  }
  return false;
}

/** How a permissive verifier might decode bytes it takes for JSON (Python's `json.loads` guesses UTF-16/32 from NULs and BOMs). */
function lenientTexts(bytes: Uint8Array): string[] {
  const texts: string[] = [];
  if (opensObject(bytes, 1, false)) texts.push(lossyUtf8.decode(bytes));
  if (opensObject(bytes, 2, true)) texts.push(utf16le.decode(bytes));
  if (opensObject(bytes, 2, false)) texts.push(utf16be.decode(bytes));
  if (opensObject(bytes, 4, true)) texts.push(utf32(bytes, true));
  if (opensObject(bytes, 4, false)) texts.push(utf32(bytes, false));
  return texts;
}

/** Top-level predicate-type candidates of one lenient reading of `text` (none when it is not JSON at all). */
function lenientPredicateTypes(text: string, into: string[]): void {
  const start = text.search(/[^\s\ufeff]/);
  if (start < 0 || text.charCodeAt(start) !== 0x7b) return;
  readStrictJsonText(text.slice(start), {
    lenient: true,
    maxDepth: Number.MAX_SAFE_INTEGER,
    onMember: (depth, key, value) => {
      if (depth === 1 && foldKey(key) === 'predicatetype') predicateTypeValues(value, into);
    },
  });
}

/**
 * Reads a payload the way the signer must before signing it: strictly for JSON payload types
 * (a `problem` when it is not one strict JSON text or names a statement field ambiguously), and
 * collects every predicate type any reading could see.
 */
export function readPayload(payloadType: string, payload: Uint8Array): PayloadReading {
  const predicateTypes: string[] = [];
  if (isJsonPayloadType(payloadType)) {
    const strict = readStrictJson(payload, {
      onMember: (depth, key, value) => {
        if (depth === 1 && foldKey(key) === 'predicatetype') predicateTypeValues(value, predicateTypes);
      },
    });
    if (!strict.ok) return { predicateTypes, problem: { kind: 'not_strict_json', json: strict } };
    const field = ambiguousField(strict.value);
    return { json: strict.value, predicateTypes, ...(field !== undefined ? { problem: { kind: 'ambiguous_field', field } } : {}) };
  }
  for (const text of lenientTexts(payload)) lenientPredicateTypes(text, predicateTypes);
  return { predicateTypes };
}

/** The in-toto statement a payload holds, read strictly, or undefined (other payload type, not strict JSON, not an object). */
export function strictStatementOf(payloadType: string, payload: Uint8Array): Record<string, JsonValue> | undefined {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  const result = readStrictJson(payload);
  return result.ok && isObject(result.value) ? (result.value as Record<string, JsonValue>) : undefined;
}
