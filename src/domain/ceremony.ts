/**
 * A ceremony (stream `ceremony-<id>`): a proposal to change the ledger's keys, anchors or
 * approvers, approved by a threshold of enrolled approvers before it may execute.
 *
 * The proposal is JSON `{action, reason, createdAt, expiresAt, nonce}`; approvers sign the DSSE
 * PAE of its JCS bytes under CEREMONY_PAYLOAD_TYPE with their Ed25519 key.
 *
 * Who may approve and how many approvals are needed is decided by the trust anchors in force
 * (governance.ts), passed with every command: an approval is accepted only from an approver
 * enrolled in the anchors version in force when it is made, and counts only while that approver
 * stays enrolled; the threshold is the one in force (TUF's rollover rule: the version the
 * ceremony publishes must be approved by a threshold of the current approvers and of its own).
 * When the anchors change approvers or thresholds, open ceremonies are re-evaluated
 * (`CeremonyReevaluated`, which says why) or voided (cancelled by `system:governance` when the
 * new anchors make them unapprovable). As in TUF's threshold check, verified approvals are
 * counted over distinct approver ids: an approver counts once however often it signs.
 *
 * States: pending → partially-approved → approved → executed, or expired, cancelled; a
 * re-evaluation may move an open ceremony between pending, partially-approved and approved.
 *
 * Rejections are LedgerErrors with a precise `details.reason`:
 *   approval_rejected   — not_enrolled, bad_signature (422: the approval itself is refused)
 *   invalid_request     — invalid_proposal, invalid_threshold,
 *                         threshold_unreachable, invalid_approver_key, approver_id_mismatch,
 *                         invalid_result
 *   key_state_conflict  — already_approved, expired, cancelled, executed, not_approved,
 *                         not_expired, already_opened, stale_anchors
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
import { DEFAULT_THRESHOLDS, neededApprovals, standing, thresholdFor, unreachableThresholds, type Governance, type Standing } from './governance.ts';
import { parseRfc3339 } from './instant.ts';
import { assertPlainText } from './plain-text.ts';

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

// Thresholds live with the rest of the governance rule (governance.ts); these names stay importable from here.
export { DEFAULT_THRESHOLDS, thresholdFor, unreachableThresholds };

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
    /** The anchors version in force at opening (absent in ceremonies opened before governance followed the anchors). */
    anchorsVersion?: number;
  }
>;
export type ApprovalRecorded = DomainEvent<'ApprovalRecorded', { approverId: string; signature: string; approvedAt: string; anchorsVersion?: number }>;
export type CeremonyApproved = DomainEvent<'CeremonyApproved', { approvedAt: string; approverIds: string[]; anchorsVersion?: number }>;
/**
 * The anchors in force changed approvers or thresholds while the ceremony was open: its standing
 * under the new version. `dropped` are approvals that no longer count (their approver is not
 * enrolled any more); `approvers`/`approverKeys` are who may approve from now on.
 */
export type CeremonyReevaluated = DomainEvent<
  'CeremonyReevaluated',
  {
    reevaluatedAt: string;
    anchorsVersion: number;
    threshold: number;
    state: 'pending' | 'partially-approved' | 'approved';
    counted: string[];
    dropped: string[];
    approvers: string[];
    approverKeys: { [approverId: string]: string };
    reason: string;
  }
>;
export type CeremonyExecuted = DomainEvent<'CeremonyExecuted', { executedAt: string; result: JsonValue }>;
export type CeremonyCancelled = DomainEvent<'CeremonyCancelled', { cancelledAt: string; reason: string; actor: string }>;
export type CeremonyExpired = DomainEvent<'CeremonyExpired', { expiredAt: string }>;
export type CeremonyEvent = CeremonyOpened | ApprovalRecorded | CeremonyApproved | CeremonyReevaluated | CeremonyExecuted | CeremonyCancelled | CeremonyExpired;

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
  /** The newest anchors version this ceremony was decided under (null for ceremonies from before). */
  readonly anchorsVersion: number | null;
  /** The last re-evaluation, when the anchors changed while it was open. */
  readonly reevaluation: { readonly at: string; readonly anchorsVersion: number; readonly reason: string; readonly dropped: readonly string[] } | null;
}

export type OpenCeremony = {
  readonly type: 'OpenCeremony';
  readonly ceremonyId: string;
  readonly proposal: CeremonyProposal;
  /** The anchors in force: who may approve, and the thresholds. */
  readonly governance: Governance;
};
export type Approve = { readonly type: 'Approve'; readonly approverId: string; readonly signature: string; readonly time: string; readonly governance: Governance };
/** Re-decides an open ceremony's standing under the anchors now in force. */
export type ReevaluateCeremony = { readonly type: 'Reevaluate'; readonly time: string; readonly governance: Governance };
export type ExpireCeremony = { readonly type: 'Expire'; readonly time: string };
export type CancelCeremony = { readonly type: 'Cancel'; readonly reason: string; readonly actor: string; readonly time: string };
export type MarkExecuted = { readonly type: 'MarkExecuted'; readonly time: string; readonly result: JsonValue };
export type CeremonyCommand = OpenCeremony | Approve | ReevaluateCeremony | ExpireCeremony | CancelCeremony | MarkExecuted;

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
  anchorsVersion: null,
  reevaluation: null,
});

/** A ceremony's state once CeremonyOpened is folded: what every later decision works on. */
export type OpenedCeremony = CeremonyState & { readonly ceremonyId: string; readonly proposal: CeremonyProposal; readonly proposalDigest: string; readonly state: CeremonyStatus };

export const isOpened = (state: CeremonyState): state is OpenedCeremony => state.ceremonyId !== null && state.proposal !== null && state.proposalDigest !== null && state.state !== null;

/** Distinct approver ids whose approval is recorded (each counts once). */
export function approvedBy(state: CeremonyState): ReadonlySet<string> {
  return new Set(state.approvals.map((a) => a.approverId));
}

/** Human-readable progress, e.g. "approved by 1/2 approvers" (approvals that stopped counting left out). */
export function approvalProgress(state: CeremonyState): string {
  const dropped = new Set(state.reevaluation?.dropped ?? []);
  const counting = [...approvedBy(state)].filter((id) => !dropped.has(id)).length;
  return `approved by ${counting}/${state.threshold} approvers`;
}

const maxVersion = (a: number | null, b: number | undefined): number | null => (b === undefined ? a : a === null ? b : Math.max(a, b));

function evolve(state: CeremonyState, event: CeremonyEvent): CeremonyState {
  switch (event.type) {
    case 'CeremonyOpened': {
      const d = event.data;
      const approvers = d.approvers.map((approverId) => ({ approverId, publicKey: d.approverKeys[approverId] ?? '' }));
      return { ...initialState(), ceremonyId: d.ceremonyId, state: 'pending', proposal: d.proposal, proposalDigest: d.proposalDigest, threshold: d.threshold, approvers, anchorsVersion: d.anchorsVersion ?? null };
    }
    case 'ApprovalRecorded': {
      const d = event.data;
      if (state.approvals.some((a) => a.approverId === d.approverId)) return state;
      const approvals = [...state.approvals, { approverId: d.approverId, signature: d.signature, approvedAt: d.approvedAt }];
      const next: CeremonyStatus = state.state === 'pending' ? 'partially-approved' : (state.state ?? 'partially-approved');
      return { ...state, approvals, state: next, anchorsVersion: maxVersion(state.anchorsVersion, d.anchorsVersion) };
    }
    case 'CeremonyApproved':
      return { ...state, state: 'approved', approvedAt: event.data.approvedAt, approverIds: [...event.data.approverIds], anchorsVersion: maxVersion(state.anchorsVersion, event.data.anchorsVersion) };
    case 'CeremonyReevaluated': {
      const d = event.data;
      const approvers = d.approvers.map((approverId) => ({ approverId, publicKey: d.approverKeys[approverId] ?? '' }));
      const approved = d.state === 'approved';
      return {
        ...state,
        state: d.state,
        threshold: d.threshold,
        approvers,
        anchorsVersion: maxVersion(state.anchorsVersion, d.anchorsVersion),
        approvedAt: approved ? (state.approvedAt ?? d.reevaluatedAt) : null,
        approverIds: approved ? [...d.counted] : [],
        reevaluation: { at: d.reevaluatedAt, anchorsVersion: d.anchorsVersion, reason: d.reason, dropped: [...d.dropped] },
      };
    }
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
  assertPlainText(reason, 'reason');
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
  const governance = assertGovernance(command.governance);
  const approvers = validateApprovers(approversOf(governance));
  const action = actionOf(command.proposal);
  const now = standing(governance, action, []);
  const threshold = neededApprovals(now);
  if (!now.reachable) {
    throw invalid(`threshold ${threshold} cannot be reached with ${approvers.length} enrolled approvers`, 'threshold_unreachable', { threshold, approvers: approvers.length });
  }
  const events: CeremonyEvent[] = [
    {
      type: 'CeremonyOpened',
      data: { ceremonyId: command.ceremonyId, proposal: command.proposal, proposalDigest: digest, threshold, approvers: approvers.map((a) => a.approverId), approverKeys: keysOf(approvers), anchorsVersion: governance.version },
    },
  ];
  if (now.approved) events.push({ type: 'CeremonyApproved', data: { approvedAt: command.proposal.createdAt, approverIds: [], anchorsVersion: governance.version } });
  return events;
}

function assertGovernance(governance: Governance): Governance {
  if (!isObject(governance) || !Number.isSafeInteger(governance.version) || governance.version < 1 || !isObject(governance.approvers) || !isObject(governance.thresholds)) {
    throw invalid('the anchors in force are missing or malformed', 'invalid_request');
  }
  return governance;
}

const approversOf = (governance: Governance): CeremonyApprover[] => Object.entries(governance.approvers).map(([approverId, publicKey]) => ({ approverId, publicKey }));

function keysOf(approvers: readonly CeremonyApprover[]): { [id: string]: string } {
  const keys: { [id: string]: string } = {};
  for (const a of approvers) keys[a.approverId] = a.publicKey;
  return keys;
}

/** The proposal's typed action (validateProposal has checked that it parses). */
function actionOf(proposal: CeremonyProposal): CeremonyAction {
  const action = parseCeremonyAction(proposal.action);
  if (!action) throw invalid('proposal action lacks a parameter or has a mistyped one', 'invalid_proposal');
  return action;
}

/** The ceremony's standing under `governance`, counting every approval recorded so far (plus `extra`). */
export function standingOf(state: OpenedCeremony, governance: Governance, extra?: string): Standing {
  const signers = state.approvals.map((a) => a.approverId);
  return standing(governance, actionOf(state.proposal), extra === undefined ? signers : [...signers, extra]);
}

/** Refuses a decision under anchors older than ones this ceremony was already decided under (a lagging reader). */
function rejectStale(state: OpenedCeremony, governance: Governance): void {
  if (state.anchorsVersion !== null && governance.version < state.anchorsVersion) {
    throw conflict(`ceremony ${state.ceremonyId} was decided under anchors version ${state.anchorsVersion}; this instance still reads version ${governance.version}: retry`, 'stale_anchors', { ceremonyId: state.ceremonyId });
  }
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
  const governance = assertGovernance(command.governance);
  rejectStale(state, governance);
  const publicKey = typeof command.approverId === 'string' && Object.hasOwn(governance.approvers, command.approverId) ? governance.approvers[command.approverId] : undefined;
  if (publicKey === undefined) throw rejected(`${String(command.approverId)} is not an approver enrolled in anchors version ${governance.version}`, 'not_enrolled', { ceremonyId: id });
  const previous = state.approvals.find((a) => a.approverId === command.approverId);
  if (previous) {
    // An approver counts once: repeating an approval (even the identical one) is refused, so the
    // caller learns that it changed nothing.
    throw conflict(`approver ${command.approverId} has already approved ceremony ${id} (${approvalProgress(state)})`, 'already_approved', { ceremonyId: id, approverId: command.approverId });
  }
  const sig = typeof command.signature === 'string' ? decodeBase64Strict(command.signature) : undefined;
  const spki = decodeBase64Strict(publicKey);
  if (!sig || !spki || !ed25519Verify(publicKeyFromSpki(spki), approvalMessage(state.proposal), sig)) {
    throw rejected(`signature of approver ${command.approverId} does not verify over ceremony ${id}'s proposal`, 'bad_signature', { ceremonyId: id, approverId: command.approverId });
  }
  const events: CeremonyEvent[] = [{ type: 'ApprovalRecorded', data: { approverId: command.approverId, signature: command.signature, approvedAt: command.time, anchorsVersion: governance.version } }];
  const now = standingOf(state, governance, command.approverId);
  if (state.state !== 'approved' && now.approved) {
    events.push({ type: 'CeremonyApproved', data: { approvedAt: command.time, approverIds: [...now.counted], anchorsVersion: governance.version } });
  }
  return events;
}

/**
 * Re-decides an open ceremony under the anchors now in force: approvals by approvers no longer
 * enrolled stop counting, the threshold becomes the current one. A ceremony the new anchors make
 * impossible to approve is voided (cancelled by `system:governance`, saying why). Nothing is
 * decided when its standing did not change, or when it is no longer open.
 */
function decideReevaluate(command: ReevaluateCeremony, state: CeremonyState): CeremonyEvent[] {
  requireOpened(state);
  if (state.state === 'executed' || state.state === 'cancelled' || state.state === 'expired') return [];
  const governance = assertGovernance(command.governance);
  if (state.anchorsVersion !== null && governance.version <= state.anchorsVersion) return [];
  const now = standingOf(state, governance);
  const threshold = neededApprovals(now);
  if (!now.reachable) {
    const reason = `voided: anchors version ${governance.version} leaves ${Object.keys(governance.approvers).length} approvers, fewer than the ${threshold} this ceremony needs`;
    return [{ type: 'CeremonyCancelled', data: { cancelledAt: command.time, reason, actor: 'system:governance' } }];
  }
  const next: 'pending' | 'partially-approved' | 'approved' = now.approved ? 'approved' : now.counted.length > 0 ? 'partially-approved' : 'pending';
  const approvers = validateApprovers(approversOf(governance));
  const unchanged =
    next === state.state && threshold === state.threshold && now.dropped.length === 0 && approvers.map((a) => a.approverId).join(',') === state.approvers.map((a) => a.approverId).join(',');
  const parts = [`anchors version ${governance.version} is in force`];
  if (now.dropped.length > 0) parts.push(`approvals by ${now.dropped.join(', ')} no longer count (not enrolled)`);
  if (threshold !== state.threshold) parts.push(`the threshold is now ${threshold} (was ${state.threshold})`);
  parts.push(now.approved ? 'still approved' : now.reasons.join('; '));
  if (unchanged) return [];
  return [
    {
      type: 'CeremonyReevaluated',
      data: {
        reevaluatedAt: command.time,
        anchorsVersion: governance.version,
        threshold,
        state: next,
        counted: [...now.counted],
        dropped: [...now.dropped],
        approvers: approvers.map((a) => a.approverId),
        approverKeys: keysOf(approvers),
        reason: parts.join('; '),
      },
    },
  ];
}

function decideExpire(command: ExpireCeremony, state: CeremonyState): CeremonyEvent[] {
  requireOpened(state);
  // An approved ceremony is executing (or about to): it ends executed, not expired.
  if (state.state === 'expired' || state.state === 'executed' || state.state === 'cancelled' || state.state === 'approved') return [];
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
  assertPlainText(command.reason, 'reason');
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
    case 'Reevaluate':
      return decideReevaluate(command, state);
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
