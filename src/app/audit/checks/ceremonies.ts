/**
 * Ceremonies: every executed ceremony has approvals that verify over its proposal from a
 * threshold of distinct approvers of its snapshot, and that threshold is at least the policy in
 * force (the anchors' thresholds) when it opened.
 */
import { decodeBase64Strict } from '../../../crypto/dsse.ts';
import { ed25519Verify, publicKeyFromSpki } from '../../../crypto/ed25519.ts';
import type { AnchorsDocument } from '../../../domain/anchors.ts';
import { approvalMessage, CEREMONY_STREAM_PREFIX, thresholdFor, type CeremonyEvent, type CeremonyProposal } from '../../../domain/ceremony.ts';
import type { HistoryChecker, HistoryEntry, ReportProblem } from './checker.ts';

interface CeremonyTrack {
  readonly proposal: CeremonyProposal | null;
  readonly threshold: number;
  /** Approver id → base64 SPKI, as snapshotted when the ceremony opened. */
  readonly keys: ReadonlyMap<string, string>;
  /** Approvers whose approval verified. */
  readonly approved: Set<string>;
}

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
    else if (event.type === 'CeremonyExecuted') {
      this.executed++;
      if (c.approved.size < c.threshold) this.report(e.position, 'ceremonies', `ceremony ${id} executed with approvals by ${c.approved.size}/${c.threshold} approvers`);
    }
  }

  private opened(id: string, position: number, d: Extract<CeremonyEvent, { type: 'CeremonyOpened' }>['data']): void {
    const type = (d.proposal?.action as { type?: string } | undefined)?.type;
    let policy = 0;
    try {
      policy = thresholdFor(type as never, d.approvers.length, this.anchorsInForce()?.thresholds[type as keyof AnchorsDocument['thresholds']]);
    } catch {
      this.report(position, 'ceremonies', `ceremony ${id}: unknown action ${String(type)}`);
    }
    if (d.threshold < policy) this.report(position, 'ceremonies', `ceremony ${id}: threshold ${d.threshold} is below the policy in force (${policy})`);
    this.ceremonies.set(id, { proposal: d.proposal, threshold: d.threshold, keys: new Map(Object.entries(d.approverKeys)), approved: new Set() });
  }

  private approval(id: string, position: number, c: CeremonyTrack, proposal: CeremonyProposal, d: Extract<CeremonyEvent, { type: 'ApprovalRecorded' }>['data']): void {
    const { approverId, signature } = d;
    const key = c.keys.get(approverId);
    const sig = decodeBase64Strict(signature);
    const spki = key ? decodeBase64Strict(key) : undefined;
    const ok = !!spki && !!sig && ed25519Verify(publicKeyFromSpki(spki), approvalMessage(proposal), sig);
    this.approvals++;
    if (!key) this.report(position, 'ceremonies', `ceremony ${id}: approval by ${approverId}, who is not in the ceremony's approver snapshot`);
    else if (!ok) this.report(position, 'ceremonies', `ceremony ${id}: the approval by ${approverId} does not verify over the proposal`);
    else c.approved.add(approverId);
  }

  summary(): { readonly executed: number; readonly approvals: number } {
    return { executed: this.executed, approvals: this.approvals };
  }
}
