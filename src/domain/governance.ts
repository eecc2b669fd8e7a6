/**
 * Governance: who may approve a ceremony and how many approvals it needs, decided from the trust
 * anchors in force — never from a snapshot taken when the ceremony opened.
 *
 * The rule is TUF's root rollover, applied to every anchors version: version N+1 (what executing
 * a ceremony publishes) must carry approvals from a threshold of version N's approvers, counted
 * with N's threshold for the ceremony's action, AND from a threshold of N+1's own approvers with
 * N+1's threshold. For a rotation both halves are the same check; for an approver change the
 * second half means a removed approver's signature cannot carry the change, and for a threshold
 * raise it means the raise must already be met. `standing` answers that question for a set of
 * approvers whose signatures verified; `verifyAnchorsSuccessor` (anchors.ts) answers it for a
 * published version from its signatures, with the same functions, so the service can never
 * publish what verifiers refuse.
 */
import { LedgerError } from '../errors.ts';
import { CEREMONY_ACTION_TYPES, isCeremonyActionType, type CeremonyAction, type CeremonyActionType, type CeremonyThresholds } from './ceremony-action.ts';

/** What governs approvals: one anchors version's approvers (id → base64 DER SPKI) and thresholds. */
export interface Governance {
  readonly version: number;
  readonly approvers: Readonly<Record<string, string>>;
  readonly thresholds: CeremonyThresholds;
}

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

/** The threshold `governance` sets for `type`. */
export const requiredApprovals = (governance: Governance, type: CeremonyActionType): number => thresholdFor(type, Object.keys(governance.approvers).length, governance.thresholds[type]);

/** The governance the next anchors version has once `action` executes under `governance`. */
export function governanceAfter(governance: Governance, action: CeremonyAction): Governance {
  const version = governance.version + 1;
  switch (action.type) {
    case 'enroll-approver':
      return { version, approvers: { ...governance.approvers, [action.approverId]: action.publicKey }, thresholds: governance.thresholds };
    case 'remove-approver': {
      const approvers = { ...governance.approvers };
      delete approvers[action.approverId];
      return { version, approvers, thresholds: governance.thresholds };
    }
    case 'update-anchors':
      return { version, approvers: governance.approvers, thresholds: action.thresholds ?? governance.thresholds };
    case 'rotate-key':
    case 'revoke-key':
      return { version, approvers: governance.approvers, thresholds: governance.thresholds };
  }
}

export interface Standing {
  /** Both halves of the rollover rule hold. */
  readonly approved: boolean;
  /** Signers enrolled in the governance in force (sorted): the approvals that count. */
  readonly counted: readonly string[];
  /** Signers that do not count: not enrolled in the governance in force (sorted). */
  readonly dropped: readonly string[];
  /** Approvals needed from the approvers in force (version N). */
  readonly threshold: number;
  /** Approvals needed from the next version's approvers (N+1) and how many of the signers are among them. */
  readonly nextThreshold: number;
  readonly nextCounted: number;
  /** Whether a threshold of both halves could be met at all (every enrolled approver signing). */
  readonly reachable: boolean;
  /** Why not approved, in words; empty when approved. */
  readonly reasons: readonly string[];
}

const sorted = (ids: Iterable<string>): string[] => [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * How a ceremony with `action` stands under `governance` (the anchors in force) when the
 * approvers in `signers` have signed its proposal (their signatures already verified).
 */
export function standing(governance: Governance, action: CeremonyAction, signers: Iterable<string>): Standing {
  const all = sorted(signers);
  const counted = all.filter((id) => Object.hasOwn(governance.approvers, id));
  const dropped = all.filter((id) => !Object.hasOwn(governance.approvers, id));
  const next = governanceAfter(governance, action);
  const threshold = requiredApprovals(governance, action.type);
  const nextThreshold = requiredApprovals(next, action.type);
  const nextCounted = counted.filter((id) => Object.hasOwn(next.approvers, id)).length;
  const reasons: string[] = [];
  if (counted.length < threshold) reasons.push(`approved by ${counted.length}/${threshold} approvers of anchors version ${governance.version}`);
  if (nextCounted < nextThreshold) reasons.push(`approved by ${nextCounted}/${nextThreshold} approvers of the version it would publish (${next.version})`);
  const enrolled = Object.keys(governance.approvers);
  const reachable = enrolled.length >= threshold && enrolled.filter((id) => Object.hasOwn(next.approvers, id)).length >= nextThreshold;
  return { approved: reasons.length === 0, counted, dropped, threshold, nextThreshold, nextCounted, reachable, reasons };
}

/** The approvals a ceremony needs under `governance`, for display: the larger half of the rule. */
export const neededApprovals = (s: Pick<Standing, 'threshold' | 'nextThreshold'>): number => Math.max(s.threshold, s.nextThreshold);
