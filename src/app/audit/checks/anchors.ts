/**
 * Trust anchors chain: every anchors version after the first was made by a ceremony, and verifies
 * against the previous version (verifyAnchorsSuccessor: its approvals are by the previous
 * version's approvers, a threshold of them).
 */
import { ANCHORS_STREAM, verifyAnchorsSuccessor, type AnchorsDocument } from '../../../domain/anchors.ts';
import type { HistoryChecker, HistoryEntry, ReportProblem } from './checker.ts';

export class AnchorsCheck implements HistoryChecker {
  private latest: AnchorsDocument | null = null;
  private versions = 0;
  private chained = 0;

  constructor(private readonly report: ReportProblem) {}

  observe({ event: e }: HistoryEntry): void {
    if (e.type !== 'AnchorsPublished' || e.stream !== ANCHORS_STREAM) return;
    // The anchors stream holds only documents the ledger published under this schema.
    const next = e.data as unknown as AnchorsDocument;
    this.versions++;
    if (this.latest && next.ceremony) {
      const verdict = verifyAnchorsSuccessor(this.latest, next);
      this.chained++;
      if (!verdict.ok) this.report(e.position, 'anchors', `anchors version ${next.version}: ${verdict.reasons.join('; ')}`);
    } else if (this.latest) this.report(e.position, 'anchors', `anchors version ${next.version} was published without a ceremony`);
    this.latest = next;
  }

  /** The anchors in force as of the events observed so far (null before the first version). */
  current(): AnchorsDocument | null {
    return this.latest;
  }

  summary(): { readonly versions: number; readonly chained: number } {
    return { versions: this.versions, chained: this.chained };
  }
}
