/**
 * A ceremony (stream `ceremony-<id>`): a proposal to change the ledger's keys, anchors or
 * approvers, approved by a threshold of enrolled approvers before it may execute.
 *
 * The proposal is JSON `{action, reason, createdAt, expiresAt, nonce}`; approvers sign the DSSE
 * PAE of its JCS bytes under CEREMONY_PAYLOAD_TYPE with their Ed25519 key. The approver set is
 * snapshotted (ids and keys) when the ceremony opens, so later enrolments or removals do not
 * change who may approve it. As in TUF's threshold check, verified approvals are counted over a
 * set of distinct approver ids: an approver counts once however often it signs.
 *
 * States: pending → partially-approved → approved → executed, or expired, cancelled.
 *
 * Rejections are LedgerErrors with a precise `details.reason`:
 *   approval_rejected   — not_enrolled, bad_signature (422: the approval itself is refused)
 *   invalid_request     — invalid_proposal, invalid_threshold,
 *                         threshold_unreachable, invalid_approver_key, approver_id_mismatch,
 *                         invalid_result
 *   key_state_conflict  — already_approved, expired, cancelled, executed, not_approved,
 *                         not_expired, already_opened
 *   not_found           — not_opened
 */
import { decodeBase64Strict, pae } from '../crypto/dsse.ts';
import { ed25519Verify, isEd25519Spki, keyIdOf, publicKeyFromSpki } from '../crypto/ed25519.ts';
import { sha256Hex } from '../crypto/hash.ts';
import { assertJsonValue, jcsBytes } from '../crypto/jcs.ts';
import { LedgerError } from '../errors.ts';
import { isObject, type JsonValue } from '../json.ts';
import { CEREMONY_ACTION_TYPES, isCeremonyActionType, parseCeremonyAction, type CeremonyAction, type CeremonyActionType, type ProposedAction } from './ceremony-action.ts';
import type { Decider, DomainEvent } from './decider.ts';
import { parseRfc3339 } from './instant.ts';

// The action vocabulary lives in ceremony-action.ts; these names stay importable from here.
export { CEREMONY_ACTION_TYPES, type CeremonyActionType };

export const CEREMONY_PAYLOAD_TYPE = 'application/vnd.sigledger.ceremony+json';
export const CEREMONY_STREAM_PREFIX = 'ceremony-';
export const ceremonyStream = (ceremonyId: string): string => `${CEREMONY_STREAM_PREFIX}${ceremonyId}`;

export type CeremonyProposal = {
  readonly action: ProposedAction;
  readonly reason: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly nonce: string;
};

export type CeremonyStatus = 'pending' | 'partially-approved' | 'approved' | 'executed' | 'expired' | 'cancelled';

/** The bytes approvers sign over (inside the PAE): RFC 8785 JCS of the proposal. */
const proposalBytes = (proposal: CeremonyProposal): Buffer => jcsBytes(proposal);
/** Lowercase hex SHA-256 of proposalBytes. */
export const proposalDigest = (proposal: CeremonyProposal): string => sha256Hex(proposalBytes(proposal));
/** DSSE PAE(CEREMONY_PAYLOAD_TYPE, proposalBytes): the message each approver signs with Ed25519. */
export const approvalMessage = (proposal: CeremonyProposal): Buffer => pae(CEREMONY_PAYLOAD_TYPE, proposalBytes(proposal));

export const DEFAULT_THRESHOLDS: Readonly<Record<CeremonyActionType, number>> = Object.freeze({
  'rotate-key': 2,
  'revoke-key': 2,
  'update-anchors': 2,
  'enroll-approver': 3,
  'remove-approver': 3,
});

const isApproverChange = (t: CeremonyActionType): boolean => t === 'enroll-approver' || t === 'remove-approver';

/**
 * The number of distinct approvals a ceremony needs: `configured ?? DEFAULT_THRESHOLDS[type]`;
 * for approver changes capped at the number of enrolled approvers ("3, or all approvers when
 * fewer"). 0 means the ceremony is approved on opening.
 */
export function thresholdFor(action: CeremonyActionType | Pick<CeremonyAction, 'type'>, approverCount: number, configured?: number): number {
  const type = typeof action === 'string' ? action : action.type;
  if (!isCeremonyActionType(type)) throw new LedgerError('invalid_request', `unknown ceremony action ${String(type)}`, { reason: 'invalid_proposal' });
  if (configured !== undefined && (!Number.isSafeInteger(configured) || configured < 0)) {
    throw new LedgerError('invalid_request', `ceremony threshold must be a non-negative integer, got ${String(configured)}`, { reason: 'invalid_threshold' });
  }
  if (!Number.isSafeInteger(approverCount) || approverCount < 0) throw new LedgerError('invalid_request', 'approver count must be a non-negative integer', { reason: 'invalid_threshold' });
  const base = configured ?? DEFAULT_THRESHOLDS[type];
  return isApproverChange(type) ? Math.min(base, approverCount) : base;
}

/**
 * The action types whose threshold (configured, else the default, read as `thresholdFor` reads
 * it) is more than `approverCount`: a ceremony of such a type could never be approved, so the
 * service warns at start-up rather than when the first such ceremony is refused.
 */
export function unreachableThresholds(thresholds: Readonly<Record<string, number>>, approverCount: number): string[] {
  return CEREMONY_ACTION_TYPES.filter((type) => thresholdFor(type, approverCount, thresholds[type]) > approverCount);
}

// ---------------------------------------------------------------------------------------------
// Events

export type CeremonyOpened = DomainEvent<
  'CeremonyOpened',
  {
    ceremonyId: string;
    proposal: CeremonyProposal;
    proposalDigest: string;
    threshold: number;
    /** Ids of the enrolled approvers at opening (sorted). */
    approvers: string[];
    /** Their public keys (base64 DER SPKI) by id, so approvals verify from this stream alone. */
    approverKeys: { [approverId: string]: string };
  }
>;
export type ApprovalRecorded = DomainEvent<'ApprovalRecorded', { approverId: string; signature: string; approvedAt: string }>;
export type CeremonyApproved = DomainEvent<'CeremonyApproved', { approvedAt: string; approverIds: string[] }>;
export type CeremonyExecuted = DomainEvent<'CeremonyExecuted', { executedAt: string; result: JsonValue }>;
export type CeremonyCancelled = DomainEvent<'CeremonyCancelled', { cancelledAt: string; reason: string; actor: string }>;
export type CeremonyExpired = DomainEvent<'CeremonyExpired', { expiredAt: string }>;
export type CeremonyEvent = CeremonyOpened | ApprovalRecorded | CeremonyApproved | CeremonyExecuted | CeremonyCancelled | CeremonyExpired;

// ---------------------------------------------------------------------------------------------
// State

export type CeremonyApprover = { readonly approverId: string; readonly publicKey: string };
export type CeremonyApproval = { readonly approverId: string; readonly signature: string; readonly approvedAt: string };

export interface CeremonyState {
  /** null until CeremonyOpened. */
  readonly ceremonyId: string | null;
  /** null until CeremonyOpened. */
  readonly state: CeremonyStatus | null;
  readonly proposal: CeremonyProposal | null;
  readonly proposalDigest: string | null;
  readonly threshold: number;
  /** The approver snapshot taken at opening, sorted by id. */
  readonly approvers: readonly CeremonyApprover[];
  /** Recorded approvals, one per distinct approver, in the order they arrived. */
  readonly approvals: readonly CeremonyApproval[];
  readonly approvedAt: string | null;
  readonly approverIds: readonly string[];
  readonly executedAt: string | null;
  readonly result: JsonValue | null;
  readonly cancelledAt: string | null;
  readonly cancelReason: string | null;
  readonly cancelledBy: string | null;
  readonly expiredAt: string | null;
}

export type OpenCeremony = {
  readonly type: 'OpenCeremony';
  readonly ceremonyId: string;
  readonly proposal: CeremonyProposal;
  readonly threshold: number;
  /** The enrolled approver set at opening. */
  readonly approvers: readonly CeremonyApprover[];
};
export type Approve = { readonly type: 'Approve'; readonly approverId: string; readonly signature: string; readonly time: string };
export type ExpireCeremony = { readonly type: 'Expire'; readonly time: string };
export type CancelCeremony = { readonly type: 'Cancel'; readonly reason: string; readonly actor: string; readonly time: string };
export type MarkExecuted = { readonly type: 'MarkExecuted'; readonly time: string; readonly result: JsonValue };
export type CeremonyCommand = OpenCeremony | Approve | ExpireCeremony | CancelCeremony | MarkExecuted;

const initialState = (): CeremonyState => ({
  ceremonyId: null,
  state: null,
  proposal: null,
  proposalDigest: null,
  threshold: 0,
  approvers: [],
  approvals: [],
  approvedAt: null,
  approverIds: [],
  executedAt: null,
  result: null,
  cancelledAt: null,
  cancelReason: null,
  cancelledBy: null,
  expiredAt: null,
});

/** A ceremony's state once CeremonyOpened is folded: what every later decision works on. */
export type OpenedCeremony = CeremonyState & { readonly ceremonyId: string; readonly proposal: CeremonyProposal; readonly proposalDigest: string; readonly state: CeremonyStatus };

export const isOpened = (state: CeremonyState): state is OpenedCeremony => state.ceremonyId !== null && state.proposal !== null && state.proposalDigest !== null && state.state !== null;

/** Distinct approver ids whose approval is recorded (each counts once). */
export function approvedBy(state: CeremonyState): ReadonlySet<string> {
  return new Set(state.approvals.map((a) => a.approverId));
}

/** Human-readable progress, e.g. "approved by 1/2 approvers". */
export function approvalProgress(state: CeremonyState): string {
  return `approved by ${approvedBy(state).size}/${state.threshold} approvers`;
}

function evolve(state: CeremonyState, event: CeremonyEvent): CeremonyState {
  switch (event.type) {
    case 'CeremonyOpened': {
      const d = event.data;
      const approvers = d.approvers.map((approverId) => ({ approverId, publicKey: d.approverKeys[approverId] ?? '' }));
      return { ...initialState(), ceremonyId: d.ceremonyId, state: 'pending', proposal: d.proposal, proposalDigest: d.proposalDigest, threshold: d.threshold, approvers };
    }
    case 'ApprovalRecorded': {
      const d = event.data;
      if (state.approvals.some((a) => a.approverId === d.approverId)) return state;
      const approvals = [...state.approvals, { approverId: d.approverId, signature: d.signature, approvedAt: d.approvedAt }];
      const next: CeremonyStatus = state.state === 'pending' ? 'partially-approved' : (state.state ?? 'partially-approved');
      return { ...state, approvals, state: next };
    }
    case 'CeremonyApproved':
      return { ...state, state: 'approved', approvedAt: event.data.approvedAt, approverIds: [...event.data.approverIds] };
    case 'CeremonyExecuted':
      return { ...state, state: 'executed', executedAt: event.data.executedAt, result: event.data.result };
    case 'CeremonyCancelled':
      return { ...state, state: 'cancelled', cancelledAt: event.data.cancelledAt, cancelReason: event.data.reason, cancelledBy: event.data.actor };
    case 'CeremonyExpired':
      return { ...state, state: 'expired', expiredAt: event.data.expiredAt };
  }
}

// ---------------------------------------------------------------------------------------------
// Decisions

const invalid = (message: string, reason: string, extra?: Record<string, unknown>): LedgerError => new LedgerError('invalid_request', message, { reason, ...extra });
const rejected = (message: string, reason: string, extra?: Record<string, unknown>): LedgerError => new LedgerError('approval_rejected', message, { reason, ...extra });
const conflict = (message: string, reason: string, extra?: Record<string, unknown>): LedgerError => new LedgerError('key_state_conflict', message, { reason, ...extra });

function instant(value: unknown, what: string): number {
  const t = parseRfc3339(value);
  if (t === undefined) throw invalid(`${what} must be an RFC 3339 timestamp`, 'invalid_request');
  return t;
}

function validateProposal(proposal: CeremonyProposal): void {
  if (!isObject(proposal)) throw invalid('proposal must be a JSON object', 'invalid_proposal');
  try {
    assertJsonValue(proposal);
  } catch (err) {
    throw invalid(`proposal is not plain JSON: ${(err as Error).message}`, 'invalid_proposal');
  }
  const { action, reason, createdAt, expiresAt, nonce } = proposal;
  if (!isObject(action) || !isCeremonyActionType(action.type)) throw invalid(`proposal action type must be one of ${CEREMONY_ACTION_TYPES.join(', ')}`, 'invalid_proposal');
  // The executor reads the action's parameters without re-checking them: they are checked here, once.
  if (!parseCeremonyAction(action)) throw invalid(`proposal action ${action.type} lacks a parameter or has a mistyped one`, 'invalid_proposal');
  if (typeof reason !== 'string') throw invalid('proposal reason must be a string', 'invalid_proposal');
  if (typeof nonce !== 'string' || nonce.length === 0) throw invalid('proposal nonce must be a non-empty string', 'invalid_proposal');
  const created = instant(createdAt, 'proposal createdAt');
  const expires = instant(expiresAt, 'proposal expiresAt');
  if (expires <= created) throw invalid('proposal expiresAt must be after createdAt', 'invalid_proposal');
  const keys = Object.keys(proposal).sort().join(',');
  if (keys !== 'action,createdAt,expiresAt,nonce,reason') throw invalid('proposal must have exactly action, reason, createdAt, expiresAt and nonce', 'invalid_proposal');
}

function validateApprovers(approvers: readonly CeremonyApprover[]): CeremonyApprover[] {
  if (!Array.isArray(approvers)) throw invalid('approvers must be an array', 'invalid_request');
  const seen = new Set<string>();
  const out: CeremonyApprover[] = [];
  for (const a of approvers) {
    const spki = typeof a?.publicKey === 'string' ? decodeBase64Strict(a.publicKey) : undefined;
    if (!spki || !isEd25519Spki(spki)) throw invalid(`approver ${String(a?.approverId)}: public key is not a base64 DER Ed25519 SubjectPublicKeyInfo`, 'invalid_approver_key');
    if (keyIdOf(spki) !== a.approverId) throw invalid(`approver id ${String(a.approverId)} is not the key id of its public key`, 'approver_id_mismatch');
    if (seen.has(a.approverId)) continue;
    seen.add(a.approverId);
    out.push({ approverId: a.approverId, publicKey: a.publicKey });
  }
  return out.sort((x, y) => (x.approverId < y.approverId ? -1 : x.approverId > y.approverId ? 1 : 0));
}

function requireOpened(state: CeremonyState): asserts state is OpenedCeremony {
  if (!isOpened(state)) throw new LedgerError('not_found', 'ceremony has not been opened', { reason: 'not_opened' });
}

function decideOpen(command: OpenCeremony, state: CeremonyState): CeremonyEvent[] {
  if (typeof command.ceremonyId !== 'string' || command.ceremonyId.length === 0) throw invalid('ceremony id must be a non-empty string', 'invalid_request');
  validateProposal(command.proposal);
  const digest = proposalDigest(command.proposal);
  if (state.ceremonyId !== null) {
    if (state.ceremonyId === command.ceremonyId && state.proposalDigest === digest) return [];
    throw conflict(`ceremony ${state.ceremonyId} is already open with another proposal`, 'already_opened', { ceremonyId: state.ceremonyId });
  }
  const approvers = validateApprovers(command.approvers);
  const { threshold } = command;
  if (!Number.isSafeInteger(threshold) || threshold < 0) throw invalid(`threshold must be a non-negative integer, got ${String(threshold)}`, 'invalid_threshold');
  if (threshold > approvers.length) {
    throw invalid(`threshold ${threshold} cannot be reached with ${approvers.length} enrolled approvers`, 'threshold_unreachable', { threshold, approvers: approvers.length });
  }
  const approverKeys: { [id: string]: string } = {};
  for (const a of approvers) approverKeys[a.approverId] = a.publicKey;
  const events: CeremonyEvent[] = [
    {
      type: 'CeremonyOpened',
      data: { ceremonyId: command.ceremonyId, proposal: command.proposal, proposalDigest: digest, threshold, approvers: approvers.map((a) => a.approverId), approverKeys },
    },
  ];
  if (threshold === 0) events.push({ type: 'CeremonyApproved', data: { approvedAt: command.proposal.createdAt, approverIds: [] } });
  return events;
}

function rejectIfClosed(state: CeremonyState & { ceremonyId: string; state: CeremonyStatus }, doing: string): void {
  if (state.state === 'executed') throw conflict(`ceremony ${state.ceremonyId} is already executed: cannot ${doing}`, 'executed', { ceremonyId: state.ceremonyId });
  if (state.state === 'cancelled') throw conflict(`ceremony ${state.ceremonyId} is cancelled: cannot ${doing}`, 'cancelled', { ceremonyId: state.ceremonyId });
  if (state.state === 'expired') throw conflict(`ceremony ${state.ceremonyId} has expired: cannot ${doing}`, 'expired', { ceremonyId: state.ceremonyId });
}

function decideApprove(command: Approve, state: CeremonyState): CeremonyEvent[] {
  requireOpened(state);
  const id = state.ceremonyId;
  rejectIfClosed(state, 'approve');
  if (instant(command.time, 'approval time') >= instant(state.proposal.expiresAt, 'proposal expiresAt')) {
    throw conflict(`ceremony ${id} expired at ${state.proposal.expiresAt}`, 'expired', { ceremonyId: id });
  }
  const approver = state.approvers.find((a) => a.approverId === command.approverId);
  if (!approver) throw rejected(`${String(command.approverId)} is not an enrolled approver of ceremony ${id}`, 'not_enrolled', { ceremonyId: id });
  const previous = state.approvals.find((a) => a.approverId === command.approverId);
  if (previous) {
    // An approver counts once: repeating an approval (even the identical one) is refused, so the
    // caller learns that it changed nothing.
    throw conflict(`approver ${command.approverId} has already approved ceremony ${id} (${approvalProgress(state)})`, 'already_approved', { ceremonyId: id, approverId: command.approverId });
  }
  const sig = typeof command.signature === 'string' ? decodeBase64Strict(command.signature) : undefined;
  const spki = decodeBase64Strict(approver.publicKey);
  if (!sig || !spki || !ed25519Verify(publicKeyFromSpki(spki), approvalMessage(state.proposal), sig)) {
    throw rejected(`signature of approver ${command.approverId} does not verify over ceremony ${id}'s proposal`, 'bad_signature', { ceremonyId: id, approverId: command.approverId });
  }
  const events: CeremonyEvent[] = [{ type: 'ApprovalRecorded', data: { approverId: command.approverId, signature: command.signature, approvedAt: command.time } }];
  const distinct = new Set([...approvedBy(state), command.approverId]);
  if (state.state !== 'approved' && distinct.size >= state.threshold) {
    events.push({ type: 'CeremonyApproved', data: { approvedAt: command.time, approverIds: [...distinct] } });
  }
  return events;
}

function decideExpire(command: ExpireCeremony, state: CeremonyState): CeremonyEvent[] {
  requireOpened(state);
  if (state.state === 'expired' || state.state === 'executed' || state.state === 'cancelled') return [];
  if (instant(command.time, 'time') < instant(state.proposal.expiresAt, 'proposal expiresAt')) {
    throw conflict(`ceremony ${state.ceremonyId} does not expire before ${state.proposal.expiresAt}`, 'not_expired', { ceremonyId: state.ceremonyId });
  }
  return [{ type: 'CeremonyExpired', data: { expiredAt: command.time } }];
}

function decideCancel(command: CancelCeremony, state: CeremonyState): CeremonyEvent[] {
  requireOpened(state);
  if (state.state === 'cancelled') return [];
  rejectIfClosed(state, 'cancel');
  if (typeof command.reason !== 'string' || typeof command.actor !== 'string') throw invalid('cancel needs a reason and an actor', 'invalid_request');
  return [{ type: 'CeremonyCancelled', data: { cancelledAt: command.time, reason: command.reason, actor: command.actor } }];
}

function decideMarkExecuted(command: MarkExecuted, state: CeremonyState): CeremonyEvent[] {
  requireOpened(state);
  if (state.state === 'executed') return [];
  rejectIfClosed(state, 'execute');
  if (state.state !== 'approved') throw conflict(`ceremony ${state.ceremonyId} is not approved: ${approvalProgress(state)}`, 'not_approved', { ceremonyId: state.ceremonyId });
  try {
    assertJsonValue(command.result);
  } catch (err) {
    throw invalid(`execution result is not plain JSON: ${(err as Error).message}`, 'invalid_result');
  }
  return [{ type: 'CeremonyExecuted', data: { executedAt: command.time, result: command.result } }];
}

function decide(command: CeremonyCommand, state: CeremonyState): CeremonyEvent[] {
  switch (command.type) {
    case 'OpenCeremony':
      return decideOpen(command, state);
    case 'Approve':
      return decideApprove(command, state);
    case 'Expire':
      return decideExpire(command, state);
    case 'Cancel':
      return decideCancel(command, state);
    case 'MarkExecuted':
      return decideMarkExecuted(command, state);
  }
}

export const ceremonyDecider: Decider<CeremonyState, CeremonyCommand, CeremonyEvent> = {
  initialState,
  evolve,
  decide,
};
