/**
 * What a ceremony may do: its action, as stored in the proposal approvers sign. One
 * discriminated union, so the code that executes or verifies a ceremony switches on `type` and
 * reads typed parameters instead of casting. Every parameter the server filled in when the
 * ceremony opened (the rotation id, the outgoing key, the incoming key, the approver id) is part
 * of the action, because approvers must see it to approve knowingly.
 *
 * `parseCeremonyAction` reads an action someone else handed in (an event, an anchors document a
 * verifier downloaded): known fields must have their types, unknown fields are ignored, and the
 * result is undefined rather than an error so that each caller says in its own words why.
 */
import { isNonEmptyString, isObject } from '../json.ts';
import { isRfc3339 } from './instant.ts';
import { isKeyId, type KeyEntry } from './keyring.ts';

export const CEREMONY_ACTION_TYPES = ['rotate-key', 'revoke-key', 'update-anchors', 'enroll-approver', 'remove-approver'] as const;
export type CeremonyActionType = (typeof CEREMONY_ACTION_TYPES)[number];

export const isCeremonyActionType = (v: unknown): v is CeremonyActionType => typeof v === 'string' && (CEREMONY_ACTION_TYPES as readonly string[]).includes(v);

/** Thresholds by action type, as an update-anchors ceremony sets them (absent: unchanged default). */
export type CeremonyThresholds = { readonly [T in CeremonyActionType]?: number };

/** The incoming signing key, generated in the key store when the ceremony opened (public parts only). */
export type IncomingKey = Pick<KeyEntry, 'keyId' | 'publicKey' | 'backend' | 'ref'>;

export type RotateKeyAction = { readonly type: 'rotate-key'; readonly rotationId: string; readonly keyId: string; readonly newKey: IncomingKey };
export type RevokeKeyAction = {
  readonly type: 'revoke-key';
  readonly rotationId: string;
  readonly keyId: string;
  /** Only what the key signed at or after this instant is re-signed (and its validity ends here). */
  readonly compromisedSince?: string;
  /** Present when the revoked key is the active one: the key that takes over. */
  readonly newKey?: IncomingKey;
};
export type UpdateAnchorsAction = { readonly type: 'update-anchors'; readonly thresholds?: CeremonyThresholds };
export type EnrollApproverAction = { readonly type: 'enroll-approver'; readonly approverId: string; readonly publicKey: string };
export type RemoveApproverAction = { readonly type: 'remove-approver'; readonly approverId: string };

export type RotationAction = RotateKeyAction | RevokeKeyAction;
export type CeremonyAction = RotationAction | UpdateAnchorsAction | EnrollApproverAction | RemoveApproverAction;

/**
 * An action as a proposal carries it. `rotationId` reads on any action (a string on rotations,
 * absent otherwise), so code that only wants to know which rotation a ceremony started need not
 * switch on the type.
 */
export type ProposedAction = CeremonyAction & { readonly rotationId?: string };

/** A threshold is a non-negative safe integer. */
const isThreshold = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseIncomingKey(value: unknown): IncomingKey | undefined {
  if (!isObject(value)) return undefined;
  const { keyId, publicKey, backend, ref } = value;
  if (!isKeyId(keyId) || !isNonEmptyString(publicKey) || (backend !== 'file' && backend !== 'pkcs11') || typeof ref !== 'string') return undefined;
  return { keyId, publicKey, backend, ref };
}

function parseThresholds(value: unknown): CeremonyThresholds | undefined {
  if (!isObject(value)) return undefined;
  const out: { [T in CeremonyActionType]?: number } = {};
  for (const [type, n] of Object.entries(value)) {
    if (!isCeremonyActionType(type) || !isThreshold(n)) return undefined;
    out[type] = n;
  }
  return out;
}

/** The typed action, or undefined when `value` is not one (unknown type, a parameter missing or mistyped). */
export function parseCeremonyAction(value: unknown): CeremonyAction | undefined {
  if (!isObject(value)) return undefined;
  switch (value.type) {
    case 'rotate-key': {
      const { rotationId, keyId } = value;
      const newKey = parseIncomingKey(value.newKey);
      return isNonEmptyString(rotationId) && isKeyId(keyId) && newKey ? { type: 'rotate-key', rotationId, keyId, newKey } : undefined;
    }
    case 'revoke-key': {
      const { rotationId, keyId, compromisedSince } = value;
      const newKey = value.newKey === undefined ? undefined : parseIncomingKey(value.newKey);
      if (!isNonEmptyString(rotationId) || !isKeyId(keyId) || (value.newKey !== undefined && !newKey)) return undefined;
      if (compromisedSince !== undefined && !isRfc3339(compromisedSince)) return undefined;
      return { type: 'revoke-key', rotationId, keyId, ...(compromisedSince !== undefined ? { compromisedSince } : {}), ...(newKey ? { newKey } : {}) };
    }
    case 'update-anchors': {
      if (value.thresholds === undefined) return { type: 'update-anchors' };
      const thresholds = parseThresholds(value.thresholds);
      return thresholds ? { type: 'update-anchors', thresholds } : undefined;
    }
    case 'enroll-approver': {
      const { approverId, publicKey } = value;
      return isKeyId(approverId) && isNonEmptyString(publicKey) ? { type: 'enroll-approver', approverId, publicKey } : undefined;
    }
    case 'remove-approver': {
      const { approverId } = value;
      return isKeyId(approverId) ? { type: 'remove-approver', approverId } : undefined;
    }
    default:
      return undefined;
  }
}
