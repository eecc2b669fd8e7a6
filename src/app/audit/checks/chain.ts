/**
 * Hash chain: every event's hash is SHA-256(previous hash in its stream ‖ canonical event), with
 * revisions contiguous (src/store/chain.ts). After the first break every later hash differs too,
 * so only the first one is reported.
 */
import { isLedgerError } from '../../../errors.ts';
import { canonicalEventText, ChainVerifier } from '../../../store/chain.ts';
import type { HistoryChecker, HistoryEntry, ReportProblem } from './checker.ts';

export class ChainCheck implements HistoryChecker {
  private readonly verifier = new ChainVerifier();
  private broken = false;

  constructor(private readonly report: ReportProblem) {}

  observe({ event: e, dataJson, metadataJson }: HistoryEntry): void {
    if (this.broken) return;
    // With the stored canonical text, the chain hashes exactly the stored bytes (no re-canonicalising).
    const stored = dataJson !== undefined && metadataJson !== undefined ? canonicalEventText(e.stream, e.revision, { id: e.id, type: e.type, dataJson, metadataJson }) : undefined;
    try {
      this.verifier.check(e, stored);
    } catch (err) {
      this.broken = true;
      this.report(e.position, 'chain', isLedgerError(err) ? err.message : 'unreadable event');
    }
  }

  summary(): { readonly events: number } {
    return { events: this.verifier.verified };
  }
}
