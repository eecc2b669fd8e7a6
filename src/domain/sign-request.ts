/**
 * Parsing of the signing request body (SPEC §2), treated as an attacker's input: either
 * `{"payloadType", "payload": "<base64>"}` or `{"statement": <in-toto Statement v1>}`, which is
 * canonicalised with RFC 8785 JCS and signed as `application/vnd.in-toto+json`.
 *
 * Whatever the form, the (payloadType, payload) about to be signed passes `assertSignable`:
 * - a payload type in the ledger's namespace (the ceremony payload type and any `…sigledger…`
 *   media type, normalised) is refused: 403 `forbidden`, reason `reserved_payload_type`;
 * - a JSON payload type (`application/json`, `*\/json`, `*+json`, any parameters) needs exactly
 *   one strict UTF-8 JSON text (`crypto/strict-json.ts`): 400 `invalid_request` (payload form) or
 *   `invalid_statement` (statement form) with the reader's reason (`invalid_utf8`, `bom`,
 *   `lone_surrogate`, `duplicate_key`, `trailing_data`, `too_deep`, …), or `ambiguous_field` when
 *   statement fields fold onto each other (`predicateType` and `PredicateType`);
 * - a statement whose predicate type, in any reading, names `sigledger.dev` — what the ledger
 *   itself issues (re-signing, key transition) — is refused: 403 `forbidden`, reason
 *   `reserved_statement`; only exactly `…/attestations/release/v1` under exactly
 *   `application/vnd.in-toto+json` passes, to its scope rule (signing-service, `signer.release`).
 * See `payload-reading.ts` for why this is a class rule rather than separate payload types.
 */
import { decodeBase64Strict } from '../crypto/dsse.ts';
import { jcsBytes } from '../crypto/jcs.ts';
import { LedgerError } from '../errors.ts';
import { isObject } from '../json.ts';
import { IN_TOTO_PAYLOAD_TYPE, isReservedPayloadType, namesLedgerNamespace, readPayload } from './payload-reading.ts';
import { RELEASE_PREDICATE_TYPE } from './release.ts';

export { IN_TOTO_PAYLOAD_TYPE };
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

export interface SignRequest {
  readonly payloadType: string;
  readonly payload: Buffer;
}

const MAX_PAYLOAD_TYPE_LENGTH = 256;
// Printable ASCII, like a media type; no control characters or spaces at the ends.
const PAYLOAD_TYPE_RE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const DIGEST_ALG_RE = /^[a-z0-9][a-z0-9-_]{0,31}$/;
const HEX_RE = /^[0-9a-fA-F]+$/;
const MAX_SUBJECTS = 1024;

function invalid(message: string, reason: string, field?: string): LedgerError {
  return new LedgerError('invalid_request', message, { reason, ...(field ? { field } : {}) });
}

function invalidStatement(message: string, field: string): LedgerError {
  return new LedgerError('invalid_statement', message, { reason: 'not_in_toto_statement_v1', field });
}

/** Throws `invalid_statement` unless `value` is an in-toto Statement v1. */
function assertInTotoStatement(value: unknown): asserts value is Record<string, unknown> {
  if (!isObject(value)) throw invalidStatement('statement must be a JSON object', 'statement');
  if (value._type !== IN_TOTO_STATEMENT_V1) throw invalidStatement(`statement._type must be "${IN_TOTO_STATEMENT_V1}"`, 'statement._type');
  const subject = value.subject;
  if (!Array.isArray(subject) || subject.length === 0) throw invalidStatement('statement.subject must be a non-empty array', 'statement.subject');
  if (subject.length > MAX_SUBJECTS) throw invalidStatement(`statement.subject has more than ${MAX_SUBJECTS} entries`, 'statement.subject');
  subject.forEach((s, i) => {
    const field = `statement.subject[${i}]`;
    if (!isObject(s)) throw invalidStatement(`${field} must be an object`, field);
    if (s.name !== undefined && typeof s.name !== 'string') throw invalidStatement(`${field}.name must be a string`, `${field}.name`);
    const digest = s.digest;
    if (!isObject(digest) || Object.keys(digest).length === 0) throw invalidStatement(`${field}.digest must be a non-empty object`, `${field}.digest`);
    for (const [alg, hex] of Object.entries(digest)) {
      if (!DIGEST_ALG_RE.test(alg)) throw invalidStatement(`${field}.digest has an invalid algorithm name`, `${field}.digest`);
      if (typeof hex !== 'string' || hex.length === 0 || hex.length > 256 || !HEX_RE.test(hex)) {
        throw invalidStatement(`${field}.digest.${alg} must be a hex string`, `${field}.digest.${alg}`);
      }
    }
  });
  if (typeof value.predicateType !== 'string' || value.predicateType.length === 0 || value.predicateType.length > 1024) {
    throw invalidStatement('statement.predicateType must be a non-empty string (a URI)', 'statement.predicateType');
  }
  if (value.predicate !== undefined && !isObject(value.predicate)) throw invalidStatement('statement.predicate must be an object', 'statement.predicate');
}

type Form = 'statement' | 'payload';

/** Refuses what the ledger must not sign for a caller (see the module comment). */
function assertSignable(payloadType: string, payload: Uint8Array, form: Form = 'payload'): void {
  if (isReservedPayloadType(payloadType)) {
    throw new LedgerError('forbidden', 'payload types in the sigledger namespace are signed only by the ledger itself', { reason: 'reserved_payload_type', field: 'payloadType' });
  }
  const reading = readPayload(payloadType, payload);
  const code = form === 'statement' ? 'invalid_statement' : 'invalid_request';
  const field = form === 'statement' ? 'statement' : 'payload';
  if (reading.problem?.kind === 'not_strict_json') {
    const { reason, message, offset, path } = reading.problem.json;
    throw new LedgerError(code, `the ${field} of a JSON payload type must be exactly one strict UTF-8 JSON text: ${message}`, { reason, field, offset, ...(path !== undefined ? { path: path.slice(0, 200) } : {}) });
  }
  if (reading.problem?.kind === 'ambiguous_field') {
    throw new LedgerError(code, `the ${field} names a statement field twice in ways verifiers read differently (${reading.problem.field})`, { reason: 'ambiguous_field', field, names: reading.problem.field });
  }
  // The release predicate type passes (to its scope rule) only exactly, under exactly the in-toto payload type.
  const reserved = reading.predicateTypes.find((t) => namesLedgerNamespace(t) && (t !== RELEASE_PREDICATE_TYPE || payloadType !== IN_TOTO_PAYLOAD_TYPE));
  if (reserved !== undefined) {
    throw new LedgerError('forbidden', 'statements in the sigledger.dev namespace are issued only by the ledger itself', { reason: 'reserved_statement', predicateType: reserved.slice(0, 200) });
  }
}

/**
 * Validates a parsed JSON body and returns what to sign. `maxPayloadBytes` is the caller's plan
 * limit on the decoded artifact.
 */
export function parseSignRequest(body: unknown, maxPayloadBytes: number): SignRequest {
  if (!isObject(body)) throw invalid('request body must be a JSON object', 'not_an_object');
  const hasStatement = Object.hasOwn(body, 'statement');
  const hasPayload = Object.hasOwn(body, 'payload') || Object.hasOwn(body, 'payloadType');
  if (hasStatement && hasPayload) throw invalid('give either "statement" or "payloadType" and "payload", not both', 'ambiguous_form');
  for (const k of Object.keys(body)) {
    if (k !== 'statement' && k !== 'payload' && k !== 'payloadType') throw invalid(`unknown field "${k.slice(0, 64)}"`, 'unknown_field', k.slice(0, 64));
  }
  if (hasStatement) {
    assertInTotoStatement(body.statement);
    let payload: Buffer;
    try {
      payload = jcsBytes(body.statement);
    } catch {
      throw invalidStatement('statement cannot be canonicalised (RFC 8785)', 'statement');
    }
    if (payload.length > maxPayloadBytes) throw new LedgerError('payload_too_large', `statement is larger than the plan's ${maxPayloadBytes} bytes`, { limit: maxPayloadBytes });
    assertSignable(IN_TOTO_PAYLOAD_TYPE, payload, 'statement');
    return { payloadType: IN_TOTO_PAYLOAD_TYPE, payload };
  }
  const { payloadType, payload } = body;
  if (typeof payloadType !== 'string') throw invalid('payloadType must be a string', 'wrong_type', 'payloadType');
  if (payloadType.length === 0 || payloadType.length > MAX_PAYLOAD_TYPE_LENGTH || !PAYLOAD_TYPE_RE.test(payloadType)) {
    throw invalid(`payloadType must be 1-${MAX_PAYLOAD_TYPE_LENGTH} printable ASCII characters`, 'invalid_payload_type', 'payloadType');
  }
  if (typeof payload !== 'string') throw invalid('payload must be a base64 string', 'wrong_type', 'payload');
  if (payload.length === 0) throw invalid('payload must not be empty', 'empty_payload', 'payload');
  // Check the size before decoding so an oversized value is never copied.
  if (Math.floor((payload.length * 3) / 4) - 2 > maxPayloadBytes) {
    throw new LedgerError('payload_too_large', `payload is larger than the plan's ${maxPayloadBytes} bytes`, { limit: maxPayloadBytes });
  }
  const bytes = decodeBase64Strict(payload);
  if (!bytes) throw invalid('payload is not valid base64 (standard alphabet, padded)', 'invalid_base64', 'payload');
  if (bytes.length === 0) throw invalid('payload must not be empty', 'empty_payload', 'payload');
  if (bytes.length > maxPayloadBytes) throw new LedgerError('payload_too_large', `payload is larger than the plan's ${maxPayloadBytes} bytes`, { limit: maxPayloadBytes });
  assertSignable(payloadType, bytes, 'payload');
  return { payloadType, payload: bytes };
}
