/**
 * The anchors history from version 1: each version must verify against the one before it (a
 * threshold of the previous version's approvers signed exactly this change, SPEC §2). Version 1
 * itself is trusted on first use, as TUF's root v1; the caller prints its fingerprint.
 */
import { verifyAnchorsSuccessor, type AnchorsDocument } from '../../domain/anchors.ts';
import { errorMessage, printable } from '../common/printable.ts';

export interface ChainResult {
  readonly ok: boolean;
  readonly reasons: string[];
  /** One line per verified step ("version 2: signed by 2/2 approvers of version 1"). */
  readonly steps: string[];
}

/** Checks versions 1..N, each against the one before it; stops at the first that fails. */
export function checkAnchorsChain(anchors: readonly AnchorsDocument[]): ChainResult {
  const steps: string[] = [];
  if (anchors.length === 0) return { ok: false, reasons: ['the anchors history is empty'], steps };
  if (anchors[0]!.version !== 1) return { ok: false, reasons: [`the anchors history starts at version ${anchors[0]!.version}, not 1`], steps };
  for (let i = 1; i < anchors.length; i++) {
    const prev = anchors[i - 1]!;
    const next = anchors[i]!;
    let reasons: readonly string[];
    let summary = '';
    try {
      const r = verifyAnchorsSuccessor(prev, next);
      reasons = r.ok ? [] : r.reasons;
      summary = `signed by ${r.signedBy.length}/${r.threshold} approvers of version ${prev.version}`;
    } catch (err) {
      reasons = [errorMessage(err)];
    }
    if (reasons.length > 0) {
      return { ok: false, reasons: [`anchors version ${next.version} does not verify against version ${prev.version}: ${reasons.map((r) => printable(r, 200)).join('; ')}`], steps };
    }
    const type = (next.ceremony?.proposal.action as { type?: unknown } | undefined)?.type;
    steps.push(`version ${next.version} (${typeof type === 'string' ? printable(type, 40) : 'ceremony'}): ${summary}`);
  }
  return { ok: true, reasons: [], steps };
}
