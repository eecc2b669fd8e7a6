/**
 * Ceremonies: every approval verifies over its ceremony's proposal and comes from an approver
 * enrolled in the anchors in force when it was recorded; every executed ceremony stood, when it
 * executed, under the anchors then in force (governance.ts: a threshold of the current approvers
 * and of the version it publishes); and no ceremony opened with a threshold below that policy.
 *
 * Ceremonies recorded before approvals followed the anchors (their events carry no
 * `anchorsVersion`) are checked as they were decided: against the approver snapshot taken at
 * opening.
 */
import { decodeBase64Strict } from '../../../crypto/dsse.ts';
import { ed25519Verify, publicKeyFromSpki } from '../../../crypto/ed25519.ts';
import { governanceOf, type AnchorsDocument } from '../../../domain/anchors.ts';
import { parseCeremonyAction, type CeremonyAction } from '../../../domain/ceremony-action.ts';
import { approvalMessage, CEREMONY_STREAM_PREFIX, thresholdFor, type CeremonyEvent, type CeremonyProposal } from '../../../domain/ceremony.ts';
import { neededApprovals, standing } from '../../../domain/governance.ts';
import type { HistoryChecker, HistoryEntry, ReportProblem } from './checker.ts';

interface CeremonyTrack {
  readonly proposal: CeremonyProposal | null;
  readonly action: CeremonyAction | undefined;
  readonly threshold: number;
  /** Decided under the anchors in force (false: a ceremony from before, decided on its snapshot). */
  readonly governed: boolean;
  /** Approver id → base64 SPKI, as snapshotted when the ceremony opened. */
  readonly keys: ReadonlyMap<string, string>;
  /** Approvers whose approval verified. */
  readonly approved: Set<string>;
}

type Data<T extends CeremonyEvent['type']> = Extract<CeremonyEvent, { type: T }>['data'];

export class CeremonyCheck implements HistoryChecker {
  private readonly ceremonies = new Map<string, CeremonyTrack>();
  private executed = 0;
  private approvals = 0;

  /** `anchorsInForce` answers the anchors as of the event being observed (the anchors checker's view). */
  constructor(
    private readonly report: ReportProblem,
    private readonly anchorsInForce: () => AnchorsDocument | null,
  ) {}

  observe({ event: e }: HistoryEntry): void {
    if (!e.stream.startsWith(CEREMONY_STREAM_PREFIX)) return;
    const id = e.stream.slice(CEREMONY_STREAM_PREFIX.length);
    // Ceremony streams hold only ceremony events (the ledger wrote them under this schema).
    const event = { type: e.type, data: e.data } as unknown as CeremonyEvent;
    if (event.type === 'CeremonyOpened') return this.opened(id, e.position, event.data);
    const c = this.ceremonies.get(id);
    if (!c || !c.proposal) return this.report(e.position, 'ceremonies', `ceremony ${id}: ${e.type} before CeremonyOpened`);
    if (event.type === 'ApprovalRecorded') this.approval(id, e.position, c, c.proposal, event.data);
    else if (event.type === 'CeremonyExecuted') this.execution(id, e.position, c);
  }

  private opened(id: string, position: number, d: Data<'CeremonyOpened'>): void {
    const type = (d.proposal?.action as { type?: string } | undefined)?.type;
    const action = parseCeremonyAction(d.proposal?.action);
    const governed = d.anchorsVersion !== undefined;
    const inForce = this.anchorsInForce();
    let policy = 0;
    try {
      policy =
        governed && action && inForce
          ? neededApprovals(standing(governanceOf(inForce), action, []))
          : thresholdFor(type as never, d.approvers.length, inForce?.thresholds[type as keyof AnchorsDocument['thresholds']]);
    } catch {
      this.report(position, 'ceremonies', `ceremony ${id}: unknown action ${String(type)}`);
    }
    if (d.threshold < policy) this.report(position, 'ceremonies', `ceremony ${id}: threshold ${d.threshold} is below the policy in force (${policy})`);
    if (governed && (d.anchorsVersion ?? 0) > (inForce?.version ?? 0)) this.report(position, 'ceremonies', `ceremony ${id}: opened under anchors version ${d.anchorsVersion}, which was not published yet`);
    this.ceremonies.set(id, { proposal: d.proposal, action, threshold: d.threshold, governed, keys: new Map(Object.entries(d.approverKeys)), approved: new Set() });
  }

  private approval(id: string, position: number, c: CeremonyTrack, proposal: CeremonyProposal, d: Data<'ApprovalRecorded'>): void {
    const { approverId, signature } = d;
    this.approvals++;
    let key: string | undefined;
    if (c.governed || d.anchorsVersion !== undefined) {
      const inForce = this.anchorsInForce();
      key = inForce && Object.hasOwn(inForce.approvers, approverId) ? inForce.approvers[approverId]!.rawBytes : undefined;
      if (!key) {
        // Recorded under an older version by a reader that had not seen the newer one yet: it never counts.
        if (inForce && d.anchorsVersion !== undefined && d.anchorsVersion < inForce.version) return;
        return this.report(position, 'ceremonies', `ceremony ${id}: approval by ${approverId}, who is not enrolled in the anchors in force (version ${inForce?.version ?? 'none'})`);
      }
    } else {
      key = c.keys.get(approverId);
      if (!key) return this.report(position, 'ceremonies', `ceremony ${id}: approval by ${approverId}, who is not in the ceremony's approver snapshot`);
    }
    const sig = decodeBase64Strict(signature);
    const spki = decodeBase64Strict(key);
    const ok = !!spki && !!sig && ed25519Verify(publicKeyFromSpki(spki), approvalMessage(proposal), sig);
    if (!ok) this.report(position, 'ceremonies', `ceremony ${id}: the approval by ${approverId} does not verify over the proposal`);
    else c.approved.add(approverId);
  }

  private execution(id: string, position: number, c: CeremonyTrack): void {
    this.executed++;
    const inForce = this.anchorsInForce();
    // A ceremony that published a version was checked with it (the anchors check verifies each
    // successor); one that published none (a superseded rotation) must stand under the version in force.
    if (!c.governed || !c.action || !inForce || inForce.ceremony?.ceremonyId === id) {
      if (c.approved.size < c.threshold) this.report(position, 'ceremonies', `ceremony ${id} executed with approvals by ${c.approved.size}/${c.threshold} approvers`);
      return;
    }
    const now = standing(governanceOf(inForce), c.action, c.approved);
    if (!now.approved) this.report(position, 'ceremonies', `ceremony ${id} executed without standing under anchors version ${inForce.version}: ${now.reasons.join('; ')}`);
  }

  summary(): { readonly executed: number; readonly approvals: number } {
    return { executed: this.executed, approvals: this.approvals };
  }
}
