/**
 * The ceremony and rotation request bodies (attacker input), read once into typed values:
 * `{action, reason}` to open a ceremony, `{reason}` to start a rotation, `{approverId, signature}`
 * to approve, `{reason?}` to cancel. Only the shape is checked here; what needs the ledger's state
 * (is the key published, is the approver enrolled, is an instant in the past) is checked when the
 * service completes the action.
 *
 * Every refusal is `invalid_request` (400) with a stable `details.reason` and, where one field is
 * at fault, `details.field`. Reasons are shown to approvers' terminals: control, line-separator and
 * bidi-override characters are refused (`control_character`, domain/plain-text.ts).
 */
import { decodeBase64Strict } from '../../crypto/dsse.ts';
import { isEd25519Spki, keyIdOf } from '../../crypto/ed25519.ts';
import { CEREMONY_ACTION_TYPES, isCeremonyActionType, type CeremonyActionType, type CeremonyThresholds } from '../../domain/ceremony-action.ts';
import { parseRfc3339 } from '../../domain/instant.ts';
import { isKeyId } from '../../domain/keyring.ts';
import { assertPlainText } from '../../domain/plain-text.ts';
import { LedgerError } from '../../errors.ts';
import { isObject } from '../../json.ts';

const MAX_REASON = 1024;
const MAX_THRESHOLD = 1000;
/** A base64 Ed25519 SPKI is 60 characters; anything much longer is not one. */
const MAX_PUBLIC_KEY = 200;
/** A base64 Ed25519 signature is 88 characters. */
const MAX_SIGNATURE = 200;

/** What a caller may say about each action; the service fills in the rest (ids, keys). */
export type CeremonyParams = {
  readonly 'rotate-key': Readonly<Record<string, never>>;
  readonly 'revoke-key': { readonly keyId: string; readonly compromisedSince?: string };
  readonly 'update-anchors': { readonly thresholds?: CeremonyThresholds };
  /** approverId is the key id of publicKey, derived here. */
  readonly 'enroll-approver': { readonly publicKey: string; readonly approverId: string };
  readonly 'remove-approver': { readonly approverId: string };
};

type OpenRequestOf<T extends CeremonyActionType> = { readonly [K in T]: { readonly type: K; readonly params: CeremonyParams[K]; readonly reason: string } }[T];
/** A validated `{action, reason}`: the action's type with its caller-given parameters. */
export type OpenRequest = OpenRequestOf<CeremonyActionType>;

export interface ApprovalRequest {
  readonly approverId: string;
  readonly signature: string;
}

const invalid = (message: string, reason: string, field?: string) => new LedgerError('invalid_request', message, { reason, ...(field ? { field } : {}) });

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw invalid(`${where} has an unknown field "${k.slice(0, 40)}"`, 'unknown_field', `${where}.${k.slice(0, 40)}`);
}

function jsonObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw invalid('request body must be a JSON object', 'not_an_object');
  return body;
}

/** A ceremony's (or rotation's) reason: a non-empty string of at most MAX_REASON characters. */
function parseReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > MAX_REASON) throw invalid(`reason must be a non-empty string of at most ${MAX_REASON} characters`, 'invalid_reason', 'reason');
  assertPlainText(reason, 'reason');
  return reason;
}

/** An RFC 3339 instant (calendar-valid) in its canonical UTC form; whether it is in the past is the service's check. */
function parseCompromisedSince(value: unknown): string {
  const t = parseRfc3339(value);
  if (t === undefined) throw invalid('action.compromisedSince must be an RFC 3339 instant in the past', 'invalid_compromised_since', 'action.compromisedSince');
  return new Date(t).toISOString();
}

function parseThresholds(value: unknown): CeremonyThresholds {
  if (!isObject(value)) throw invalid('action.thresholds must be an object', 'invalid_thresholds', 'action.thresholds');
  const thresholds: { [T in CeremonyActionType]?: number } = {};
  for (const [k, v] of Object.entries(value)) {
    if (!isCeremonyActionType(k) || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_THRESHOLD) {
      throw invalid(`action.thresholds maps action types to integers 0..${MAX_THRESHOLD}`, 'invalid_thresholds', 'action.thresholds');
    }
    thresholds[k] = v;
  }
  return thresholds;
}

const PARAMS: { readonly [T in CeremonyActionType]: (params: Record<string, unknown>) => CeremonyParams[T] } = {
  'rotate-key': (params) => {
    onlyKeys(params, [], 'action');
    return {};
  },
  'revoke-key': (params) => {
    onlyKeys(params, ['keyId', 'compromisedSince'], 'action');
    const { keyId, compromisedSince } = params;
    if (!isKeyId(keyId)) throw invalid('action.keyId must be a key id (64 lowercase hex characters)', 'invalid_key_id', 'action.keyId');
    return compromisedSince === undefined ? { keyId } : { keyId, compromisedSince: parseCompromisedSince(compromisedSince) };
  },
  'update-anchors': (params) => {
    onlyKeys(params, ['thresholds'], 'action');
    return params.thresholds === undefined ? {} : { thresholds: parseThresholds(params.thresholds) };
  },
  'enroll-approver': (params) => {
    onlyKeys(params, ['publicKey'], 'action');
    const { publicKey } = params;
    const spki = typeof publicKey === 'string' && publicKey.length <= MAX_PUBLIC_KEY ? decodeBase64Strict(publicKey) : undefined;
    if (typeof publicKey !== 'string' || !spki || !isEd25519Spki(spki)) throw invalid('action.publicKey must be a base64 DER Ed25519 SubjectPublicKeyInfo', 'invalid_approver_key', 'action.publicKey');
    return { publicKey, approverId: keyIdOf(spki) };
  },
  'remove-approver': (params) => {
    onlyKeys(params, ['approverId'], 'action');
    const { approverId } = params;
    if (!isKeyId(approverId)) throw invalid('action.approverId must be 64 lowercase hex characters', 'invalid_approver_id', 'action.approverId');
    return { approverId };
  },
};

function openRequestOf<T extends CeremonyActionType>(type: T, params: Record<string, unknown>, reason: string): OpenRequestOf<T> {
  return { type, params: PARAMS[type](params), reason };
}

/** Validates `{action, reason}` (POST /api/v1/ceremonies). */
export function parseOpenRequest(body: unknown): OpenRequest {
  const obj = jsonObject(body);
  onlyKeys(obj, ['action', 'reason'], 'body');
  const reason = parseReason(obj.reason);
  const { action } = obj;
  if (!isObject(action) || !isCeremonyActionType(action.type)) throw invalid(`action.type must be one of ${CEREMONY_ACTION_TYPES.join(', ')}`, 'invalid_action', 'action.type');
  const { type, ...params } = action;
  return openRequestOf(type, params, reason);
}

/** Validates a `{reason}` body (POST /api/v1/rotations). */
export function parseRotationRequest(body: unknown): string {
  const obj = jsonObject(body);
  onlyKeys(obj, ['reason'], 'body');
  return parseReason(obj.reason);
}

/** Validates `{approverId, signature}` (POST /api/v1/ceremonies/{id}/approvals); the signature itself is the decider's check. */
export function parseApprovalRequest(body: unknown): ApprovalRequest {
  const obj = jsonObject(body);
  onlyKeys(obj, ['approverId', 'signature'], 'body');
  const { approverId, signature } = obj;
  if (!isKeyId(approverId)) throw invalid('approverId must be 64 lowercase hex characters', 'invalid_approver_id', 'approverId');
  if (typeof signature !== 'string' || signature.length > MAX_SIGNATURE) throw invalid('signature must be a base64 Ed25519 signature', 'invalid_signature', 'signature');
  return { approverId, signature };
}

/** The reason of an optional `{reason}` body (POST /api/v1/ceremonies/{id}/cancel); `cancelled` when none is given. */
export function parseCancelReason(body: unknown): string {
  const reason = isObject(body) && typeof body.reason === 'string' ? body.reason : 'cancelled';
  if (reason.length > MAX_REASON) throw invalid(`reason must be at most ${MAX_REASON} characters`, 'invalid_reason', 'reason');
  assertPlainText(reason, 'reason');
  return reason;
}
