/**
 * The audit-replay checkers on small in-memory histories: each reports the position and the
 * sentence `sigledger replay` prints, and stays silent on a good history.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519Sign, spkiOf } from '../../../src/crypto/ed25519.ts';
import { approvalMessage, type CeremonyProposal } from '../../../src/domain/ceremony.ts';
import type { JsonValue } from '../../../src/json.ts';
import type { RecordedEvent } from '../../../src/store/event-store.ts';
import { AnchorsCheck } from '../../../src/app/audit/checks/anchors.ts';
import { CeremonyCheck } from '../../../src/app/audit/checks/ceremonies.ts';
import type { HistoryEntry, ReplayProblem } from '../../../src/app/audit/checks/checker.ts';

const TIME = '2025-01-01T00:00:00Z';
let position = 0;
const entry = (stream: string, type: string, data: unknown): HistoryEntry => {
  position++;
  const event: RecordedEvent = { id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`, stream, revision: 0, position, type, data: data as JsonValue, metadata: { time: TIME }, hash: '' };
  return { event, dataJson: undefined, metadataJson: undefined };
};

const collect = () => {
  const problems: ReplayProblem[] = [];
  return { problems, report: (p: number, check: ReplayProblem['check'], message: string) => void problems.push({ position: p, check, message }) };
};

const approver = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, spki: spkiOf(publicKey).toString('base64') };
};

const proposal: CeremonyProposal = { action: { type: 'update-anchors' }, reason: 'test', createdAt: TIME, expiresAt: '2025-01-08T00:00:00Z', nonce: 'n' };

function ceremony(threshold: number, approvers: { privateKey: import('node:crypto').KeyObject; spki: string }[]) {
  const opened = entry('ceremony-c1', 'CeremonyOpened', {
    ceremonyId: 'c1',
    proposal,
    proposalDigest: 'd',
    threshold,
    approvers: approvers.map((_, i) => `a${i}`),
    approverKeys: Object.fromEntries(approvers.map((a, i) => [`a${i}`, a.spki])),
  });
  const approval = (i: number, signer = approvers[i]!) =>
    entry('ceremony-c1', 'ApprovalRecorded', { approverId: `a${i}`, signature: ed25519Sign(signer.privateKey, approvalMessage(proposal)).toString('base64'), approvedAt: TIME });
  const executed = () => entry('ceremony-c1', 'CeremonyExecuted', { executedAt: TIME, result: null });
  return { opened, approval, executed };
}

describe('audit replay checks (unit)', () => {
  describe('when a ceremony executes with a threshold of verified approvals', () => {
    it('reports nothing and counts the approvals', () => {
      const { problems, report } = collect();
      const check = new CeremonyCheck(report, () => null);
      const keys = [approver(), approver(), approver()];
      const c = ceremony(2, keys);
      for (const e of [c.opened, c.approval(0), c.approval(1), c.executed()]) check.observe(e);
      expect(problems).toEqual([]);
      expect(check.summary()).toEqual({ executed: 1, approvals: 2 });
    });
  });

  describe('when an approval does not verify', () => {
    it('names it, and the execution short of its threshold', () => {
      const { problems, report } = collect();
      const check = new CeremonyCheck(report, () => null);
      const keys = [approver(), approver()];
      const c = ceremony(2, keys);
      const forged = c.approval(1, keys[0]);
      const executed = c.executed();
      for (const e of [c.opened, c.approval(0), forged, executed]) check.observe(e);
      expect(problems).toEqual([
        { position: forged.event.position, check: 'ceremonies', message: 'ceremony c1: the approval by a1 does not verify over the proposal' },
        { position: executed.event.position, check: 'ceremonies', message: 'ceremony c1 executed with approvals by 1/2 approvers' },
      ]);
    });
  });

  describe('when a ceremony opens below the policy in force', () => {
    it('reports the threshold against the anchors thresholds', () => {
      const { problems, report } = collect();
      const check = new CeremonyCheck(report, () => ({ thresholds: { 'update-anchors': 3 } }) as never);
      const c = ceremony(1, [approver(), approver(), approver()]);
      check.observe(c.opened);
      expect(problems.map((p) => p.message)).toEqual(['ceremony c1: threshold 1 is below the policy in force (3)']);
    });
  });

  describe('when an anchors version after the first has no ceremony', () => {
    it('reports it and keeps it as the anchors in force', () => {
      const { problems, report } = collect();
      const check = new AnchorsCheck(report);
      const doc = (version: number) => ({ version, issuedAt: TIME, keys: {}, approvers: {}, thresholds: {}, ceremony: null, signatures: [] });
      const first = entry('anchors', 'AnchorsPublished', doc(1));
      const second = entry('anchors', 'AnchorsPublished', doc(2));
      check.observe(first);
      check.observe(second);
      expect(problems).toEqual([{ position: second.event.position, check: 'anchors', message: 'anchors version 2 was published without a ceremony' }]);
      expect(check.current()?.version).toBe(2);
      expect(check.summary()).toEqual({ versions: 2, chained: 0 });
    });
  });
});
