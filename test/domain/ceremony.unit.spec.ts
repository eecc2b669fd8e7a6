import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519Sign, keyIdOf, spkiOf } from '../../src/crypto/ed25519.ts';
import { pae } from '../../src/crypto/dsse.ts';
import { jcsBytes } from '../../src/crypto/jcs.ts';
import { sha256Hex } from '../../src/crypto/hash.ts';
import {
  approvalMessage,
  approvalProgress,
  CEREMONY_PAYLOAD_TYPE,
  ceremonyDecider,
  DEFAULT_THRESHOLDS,
  proposalDigest,
  thresholdFor,
  unreachableThresholds,
  type ApprovalRecorded,
  type Approve,
  type CeremonyApproved,
  type CeremonyCommand,
  type CeremonyEvent,
  type CeremonyExecuted,
  type CeremonyOpened,
  type CeremonyProposal,
  type MarkExecuted,
} from '../../src/domain/ceremony.ts';
import type { Governance } from '../../src/domain/governance.ts';
import { parseCeremonyAction } from '../../src/domain/ceremony-action.ts';
import { fold } from '../../src/domain/decider.ts';
import { DeciderSpecification, refusalOf } from '../support/decider.ts';

const CREATED = '2026-11-01T00:00:00.000Z';
const T1 = '2026-11-01T01:00:00.000Z';
const T2 = '2026-11-01T02:00:00.000Z';
const EXPIRES = '2026-11-08T00:00:00.000Z';
const AFTER = '2026-11-09T00:00:00.000Z';

interface TestApprover {
  approverId: string;
  publicKey: string;
  privateKey: KeyObject;
}

function newApprover(): TestApprover {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = spkiOf(publicKey);
  return { approverId: keyIdOf(spki), publicKey: spki.toString('base64'), privateKey };
}

const [A, B, C, OUTSIDER] = [newApprover(), newApprover(), newApprover(), newApprover()] as [TestApprover, TestApprover, TestApprover, TestApprover];
const ENROLLED = [A, B, C].map(({ approverId, publicKey }) => ({ approverId, publicKey }));

const ROTATE = { type: 'rotate-key', rotationId: 'rot-1', keyId: 'a'.repeat(64), newKey: { keyId: 'b'.repeat(64), publicKey: 'cHVibGlj', backend: 'file', ref: 'file:b' } } as const;

const proposal = (nonce = 'n-1'): CeremonyProposal => ({
  action: ROTATE,
  reason: 'monthly rotation',
  createdAt: CREATED,
  expiresAt: EXPIRES,
  nonce,
});

const spec = DeciderSpecification.for(ceremonyDecider);

const SNAPSHOT = [...ENROLLED].sort((x, y) => (x.approverId < y.approverId ? -1 : 1));

const sign = (who: TestApprover, p: CeremonyProposal = proposal()): string => ed25519Sign(who.privateKey, approvalMessage(p)).toString('base64');
/** Anchors version `version` with `approvers` enrolled and the rotate-key threshold `threshold`. */
const governance = (threshold = 2, approvers: readonly TestApprover[] = [A, B, C], version = 1, thresholds: Governance['thresholds'] = {}): Governance => ({
  version,
  approvers: Object.fromEntries(approvers.map((a) => [a.approverId, a.publicKey])),
  thresholds: { 'rotate-key': threshold, ...thresholds },
});
const open = (threshold = 2, p: CeremonyProposal = proposal(), g: Governance = governance(threshold)): CeremonyCommand => ({ type: 'OpenCeremony', ceremonyId: 'c-1', proposal: p, governance: g });
const approve = (who: TestApprover, time = T1, signature = sign(who), g: Governance = governance()): Approve => ({ type: 'Approve', approverId: who.approverId, signature, time, governance: g });
const reevaluate = (g: Governance, time = T2): CeremonyCommand => ({ type: 'Reevaluate', time, governance: g });
const markExecuted = (time: string, result: MarkExecuted['result']): MarkExecuted => ({ type: 'MarkExecuted', time, result });
const cancel = (reason: string, time: string): CeremonyCommand => ({ type: 'Cancel', reason, actor: 'admin', time });

const opened = (threshold = 2, p: CeremonyProposal = proposal()): CeremonyOpened => ({
  type: 'CeremonyOpened',
  data: {
    ceremonyId: 'c-1',
    proposal: p,
    proposalDigest: proposalDigest(p),
    threshold,
    approvers: SNAPSHOT.map((a) => a.approverId),
    approverKeys: Object.fromEntries(SNAPSHOT.map((a) => [a.approverId, a.publicKey])),
    anchorsVersion: 1,
  },
});
const recorded = (who: TestApprover, time = T1, signature = sign(who), anchorsVersion = 1): ApprovalRecorded => ({ type: 'ApprovalRecorded', data: { approverId: who.approverId, signature, approvedAt: time, anchorsVersion } });
const approved = (time: string, ...who: TestApprover[]): CeremonyApproved => ({ type: 'CeremonyApproved', data: { approvedAt: time, approverIds: who.map((a) => a.approverId).sort(), anchorsVersion: 1 } });
const executed = (time: string, result: CeremonyExecuted['data']['result']): CeremonyExecuted => ({ type: 'CeremonyExecuted', data: { executedAt: time, result } });
const expired = (time: string): CeremonyEvent => ({ type: 'CeremonyExpired', data: { expiredAt: time } });
const cancelled = (reason: string, time: string): CeremonyEvent => ({ type: 'CeremonyCancelled', data: { cancelledAt: time, reason, actor: 'admin' } });

describe('ceremony (unit)', () => {
  describe('when a proposal is serialised', () => {
    it('signs the DSSE PAE of its JCS bytes and digests them with SHA-256', () => {
      const p = proposal();
      expect(approvalMessage(p).equals(pae(CEREMONY_PAYLOAD_TYPE, jcsBytes(p)))).toBe(true);
      expect(proposalDigest(p)).toBe(sha256Hex(jcsBytes(p)));
      expect(CEREMONY_PAYLOAD_TYPE).toBe('application/vnd.sigledger.ceremony+json');
    });
  });

  describe('when a ceremony is opened', () => {
    it('is pending with the approver snapshot and threshold', () => {
      spec.given([]).when(open()).then([opened()]);
      expect(opened().data.approvers).toEqual(ENROLLED.map((a) => a.approverId).sort());
      spec
        .given([])
        .when(open())
        .thenState((state) => {
          expect(state.state).toBe('pending');
          expect(approvalProgress(state)).toBe('approved by 0/2 approvers');
        });
    });

    it('decides nothing when opened again with the same proposal, and refuses another proposal', () => {
      spec.given([opened()]).when(open()).thenNothingHappened();
      spec.given([opened()]).when(open(2, proposal('other'))).thenThrows('key_state_conflict', 'already_opened');
    });

    it('refuses a threshold the snapshot cannot reach', () => {
      spec.given([]).when(open(4)).thenThrows('invalid_request', 'threshold_unreachable');
    });

    it('refuses an action that lacks a parameter or has a mistyped one', () => {
      const { newKey: _newKey, ...withoutNewKey } = ROTATE;
      for (const action of [withoutNewKey, { ...ROTATE, keyId: 'not-a-key-id' }, { type: 'revoke-key', rotationId: 'rot-1', keyId: 'a'.repeat(64), compromisedSince: 'yesterday' }, { type: 'update-anchors', thresholds: { 'rotate-key': -1 } }, { type: 'x' }]) {
        const p = { ...proposal(), action } as unknown as CeremonyProposal;
        spec.given([]).when(open(2, p)).thenThrows('invalid_request', 'invalid_proposal');
      }
    });

    it('refuses instants the calendar lacks (2026-02-30 is not shifted to March) with the code of any malformed instant', () => {
      for (const createdAt of ['2026-02-30T00:00:00.000Z', 'not a time']) {
        spec.given([]).when(open(2, { ...proposal(), createdAt })).thenThrows('invalid_request', 'invalid_request');
      }
      spec.given([opened()]).when(approve(A, '2026-02-30T00:00:00.000Z')).thenThrows('invalid_request', 'invalid_request');
    });
  });

  describe('when an action is read from a proposal someone handed in', () => {
    it('reads each action type with its parameters and ignores unknown fields', () => {
      expect(parseCeremonyAction(ROTATE)).toEqual(ROTATE);
      expect(parseCeremonyAction({ type: 'revoke-key', rotationId: 'rot-2', keyId: 'a'.repeat(64), compromisedSince: '2026-11-01T00:00:00.000Z', extra: 1 })).toEqual({ type: 'revoke-key', rotationId: 'rot-2', keyId: 'a'.repeat(64), compromisedSince: '2026-11-01T00:00:00.000Z' });
      expect(parseCeremonyAction({ type: 'update-anchors' })).toEqual({ type: 'update-anchors' });
      expect(parseCeremonyAction({ type: 'update-anchors', thresholds: { 'rotate-key': 3 } })).toEqual({ type: 'update-anchors', thresholds: { 'rotate-key': 3 } });
      expect(parseCeremonyAction({ type: 'enroll-approver', approverId: A.approverId, publicKey: A.publicKey })).toEqual({ type: 'enroll-approver', approverId: A.approverId, publicKey: A.publicKey });
      expect(parseCeremonyAction({ type: 'remove-approver', approverId: A.approverId })).toEqual({ type: 'remove-approver', approverId: A.approverId });
    });

    it('answers undefined for anything else', () => {
      for (const v of [null, [], 'rotate-key', { type: 'remove-approver' }, { type: 'revoke-key', rotationId: 'rot-2', keyId: 'a'.repeat(64), compromisedSince: '2026-02-30T00:00:00Z' }, { type: 'update-anchors', thresholds: { nope: 1 } }, { ...ROTATE, newKey: { ...ROTATE.newKey, backend: 'tape' } }]) {
        expect(parseCeremonyAction(v)).toBeUndefined();
      }
    });
  });

  describe('when 2 of 3 approvers approve a 2-of-3 ceremony', () => {
    it('is partially approved after the first approval', () => {
      spec.given([opened()]).when(approve(A)).then([recorded(A)]);
      spec
        .given([opened()])
        .when(approve(A))
        .thenState((state) => {
          expect(state.state).toBe('partially-approved');
          expect(approvalProgress(state)).toBe('approved by 1/2 approvers');
        });
    });

    it('is approved in the decision that records the second distinct approval', () => {
      spec.given([opened(), recorded(A)]).when(approve(B, T2)).then([recorded(B, T2), approved(T2, A, B)]);
      spec
        .given([opened(), recorded(A)])
        .when(approve(B, T2))
        .thenState((state) => expect(state.state).toBe('approved'));
    });
  });

  describe('when only 1 of 3 approves', () => {
    it('stays partially approved and cannot execute', () => {
      spec
        .given([opened()])
        .when(approve(A))
        .thenState((state) => expect(state.state).toBe('partially-approved'));
      spec.given([opened(), recorded(A)]).when(markExecuted(T2, {})).thenThrows('key_state_conflict', 'not_approved');
    });
  });

  describe('when the same approver approves twice', () => {
    it('counts once: a repeat of the same approval and another signature are both rejected', () => {
      spec.given([opened(), recorded(A)]).when(approve(A, T2)).thenThrows('key_state_conflict', 'already_approved');
      spec.given([opened(), recorded(A)]).when(approve(A, T2, sign(A, proposal('other')))).thenThrows('key_state_conflict', 'already_approved');
    });

    it('counts once when the history repeats an approval', () => {
      spec
        .given([opened(3), recorded(A), recorded(A, T2)])
        .when(approve(B, T2, sign(B), governance(3)))
        .thenState((state) => {
          expect(state.state).toBe('partially-approved');
          expect(state.approvals.map((a) => a.approverId)).toEqual([A.approverId, B.approverId]);
        });
    });
  });

  describe('when an approval cannot be verified', () => {
    const pending = spec.given([opened()]);
    it('rejects an approver not enrolled in the anchors in force', () => {
      pending.when(approve(OUTSIDER)).thenThrows('approval_rejected', 'not_enrolled');
    });
    it('rejects a signature made by another key', () => {
      pending.when(approve(A, T1, sign(B))).thenThrows('approval_rejected', 'bad_signature');
    });
    it('rejects a signature over another proposal', () => {
      pending.when(approve(A, T1, sign(A, proposal('other')))).thenThrows('approval_rejected', 'bad_signature');
    });
    it('rejects a malformed signature', () => {
      pending.when(approve(A, T1, 'not-base64')).thenThrows('approval_rejected', 'bad_signature');
    });
  });

  describe('when the ceremony has expired or was cancelled', () => {
    it('rejects an approval at or after expiresAt', () => {
      spec.given([opened(), recorded(A)]).when(approve(B, EXPIRES)).thenThrows('key_state_conflict', 'expired');
    });

    it('expires after expiresAt, then rejects approvals and decides nothing on a second expiry', () => {
      spec.given([opened(), recorded(A)]).when({ type: 'Expire', time: AFTER }).then([expired(AFTER)]);
      spec
        .given([opened(), recorded(A)])
        .when({ type: 'Expire', time: AFTER })
        .thenState((state) => expect(state.state).toBe('expired'));
      spec.given([opened(), recorded(A), expired(AFTER)]).when(approve(B, T2)).thenThrows('key_state_conflict', 'expired');
      spec.given([opened(), recorded(A), expired(AFTER)]).when({ type: 'Expire', time: AFTER }).thenNothingHappened();
    });

    it('refuses to expire before expiresAt', () => {
      spec.given([opened()]).when({ type: 'Expire', time: T1 }).thenThrows('key_state_conflict', 'not_expired');
    });

    it('rejects an approval after cancel, and a second cancel decides nothing', () => {
      spec.given([opened(), recorded(A)]).when(cancel('wrong key', T1)).then([cancelled('wrong key', T1)]);
      spec
        .given([opened(), recorded(A)])
        .when(cancel('wrong key', T1))
        .thenState((state) => expect(state.state).toBe('cancelled'));
      const wasCancelled = [opened(), recorded(A), cancelled('wrong key', T1)];
      spec.given(wasCancelled).when(approve(B, T2)).thenThrows('key_state_conflict', 'cancelled');
      spec.given(wasCancelled).when(cancel('again', T2)).thenNothingHappened();
    });
  });

  describe('when an approved ceremony is executed', () => {
    const wasApproved = [opened(), recorded(A), recorded(B), approved(T1, A, B)];
    const result = { newKeyId: 'b'.repeat(64) };

    it('records the result', () => {
      spec.given(wasApproved).when(markExecuted(T2, result)).then([executed(T2, result)]);
      spec
        .given(wasApproved)
        .when(markExecuted(T2, result))
        .thenState((state) => {
          expect(state.state).toBe('executed');
          expect(state.result).toEqual(result);
        });
    });

    it('decides nothing the second time and refuses approvals and cancels', () => {
      const wasExecuted = [...wasApproved, executed(T2, result)];
      spec.given(wasExecuted).when(markExecuted(AFTER, {})).thenNothingHappened();
      spec.given(wasExecuted).when(approve(C, T2)).thenThrows('key_state_conflict', 'executed');
      spec.given(wasExecuted).when(cancel('late', T2)).thenThrows('key_state_conflict', 'executed');
    });
  });

  describe('when the threshold is 0', () => {
    it('is approved on opening and executes without approvals', () => {
      spec.given([]).when(open(0)).then([opened(0), approved(CREATED)]);
      spec.given([opened(0), approved(CREATED)]).when(markExecuted(T1, null)).then([executed(T1, null)]);
      spec
        .given([opened(0), approved(CREATED)])
        .when(markExecuted(T1, null))
        .thenState((state) => {
          expect(state.state).toBe('executed');
          expect(state.approvals).toEqual([]);
        });
    });
  });

  describe('when thresholds are computed', () => {
    it('uses the defaults, and 3 or all approvers when fewer for approver changes', () => {
      expect(DEFAULT_THRESHOLDS).toEqual({ 'rotate-key': 2, 'revoke-key': 2, 'update-anchors': 2, 'enroll-approver': 3, 'remove-approver': 3 });
      expect(thresholdFor('rotate-key', 5)).toBe(2);
      expect(thresholdFor({ type: 'enroll-approver' }, 5)).toBe(3);
      expect(thresholdFor('enroll-approver', 2)).toBe(2);
      expect(thresholdFor('remove-approver', 1)).toBe(1);
      expect(thresholdFor('enroll-approver', 0)).toBe(0);
      expect(thresholdFor('enroll-approver', 5, 4)).toBe(4);
      expect(thresholdFor('rotate-key', 3, 0)).toBe(0);
      expect(refusalOf(() => thresholdFor('rotate-key', 3, -1))).toEqual({ code: 'invalid_request', reason: 'invalid_threshold' });
    });

    it('names the action types no approver set of a given size can approve', () => {
      expect(unreachableThresholds({}, 3)).toEqual([]);
      expect(unreachableThresholds({}, 1)).toEqual(['rotate-key', 'revoke-key', 'update-anchors']);
      // Approver changes are capped at the approvers there are, so they stay reachable.
      expect(unreachableThresholds({ 'rotate-key': 4, 'update-anchors': 1, 'enroll-approver': 9 }, 3)).toEqual(['rotate-key']);
    });
  });

  describe('when an approver is removed while the ceremony is open (finding 1)', () => {
    const withoutC = governance(2, [A, B], 2);

    it('refuses an approval by the removed approver', () => {
      spec.given([opened()]).when(approve(C, T1, sign(C), withoutC)).thenThrows('approval_rejected', 'not_enrolled');
    });

    it('no longer counts an approval the removed approver made before', () => {
      spec.given([opened(), recorded(C)]).when(approve(A, T2, sign(A), withoutC)).then([{ ...recorded(A, T2), data: { ...recorded(A, T2).data, anchorsVersion: 2 } }]);
    });

    it('re-evaluates an approved ceremony back to partially approved, saying why', () => {
      spec
        .given([opened(), recorded(A), recorded(C), approved(T1, A, C)])
        .when(reevaluate(withoutC))
        .thenState((state) => {
          expect(state.state).toBe('partially-approved');
          expect(state.approverIds).toEqual([]);
          expect(state.anchorsVersion).toBe(2);
          expect(state.reevaluation?.dropped).toEqual([C.approverId]);
          expect(state.reevaluation?.reason).toMatch(/anchors version 2.*no longer count/);
          expect(state.approvers.map((a) => a.approverId)).toEqual([A, B].map((a) => a.approverId).sort());
        });
      spec.given([opened(), recorded(A), recorded(C), approved(T1, A, C)]).when(reevaluate(withoutC)).then([expect.objectContaining({ type: 'CeremonyReevaluated' }) as never]);
    });

    it('refuses to execute it once re-evaluated', () => {
      const history = [opened(), recorded(A), recorded(C), approved(T1, A, C)];
      const [event] = ceremonyDecider.decide(reevaluate(withoutC) as never, fold(ceremonyDecider, history));
      spec.given([...history, event!]).when(markExecuted(AFTER, {})).thenThrows('key_state_conflict', 'not_approved');
    });

    it('accepts an approver enrolled after opening', () => {
      const D = newApprover();
      spec.given([opened(), recorded(A)]).when(approve(D, T2, sign(D), governance(2, [A, B, C, D], 2))).thenState((state) => expect(state.state).toBe('approved'));
    });
  });

  describe('when a threshold is raised while the ceremony is open (finding 2)', () => {
    const raised = governance(3, [A, B, C], 2);

    it('needs the new threshold for approvals made after the raise', () => {
      spec
        .given([opened(), recorded(A)])
        .when(approve(B, T2, sign(B), raised))
        .thenState((state) => expect(state.state).toBe('partially-approved'));
    });

    it('re-evaluates an approved ceremony under the raised threshold', () => {
      spec
        .given([opened(), recorded(A), recorded(B), approved(T1, A, B)])
        .when(reevaluate(raised))
        .thenState((state) => {
          expect(state.state).toBe('partially-approved');
          expect(state.threshold).toBe(3);
          expect(approvalProgress(state)).toBe('approved by 2/3 approvers');
        });
    });

    it('voids a ceremony the new anchors make impossible to approve', () => {
      spec
        .given([opened(), recorded(A)])
        .when(reevaluate(governance(4, [A, B, C], 2)))
        .thenState((state) => {
          expect(state.state).toBe('cancelled');
          expect(state.cancelledBy).toBe('system:governance');
          expect(state.cancelReason).toMatch(/voided: anchors version 2/);
        });
    });

    it('decides nothing when the new anchors leave its standing as it was', () => {
      spec.given([opened(), recorded(A)]).when(reevaluate(governance(2, [A, B, C], 2))).thenNothingHappened();
    });

    it('refuses an approval decided under anchors older than the ceremony has seen', () => {
      spec.given([opened(), recorded(A, T1, sign(A), 2)]).when(approve(B, T2, sign(B), governance(2, [A, B, C], 1))).thenThrows('key_state_conflict', 'stale_anchors');
    });
  });

  describe('when the ceremony changes the approvers (TUF rollover)', () => {
    const removeC = { type: 'remove-approver', approverId: C.approverId } as const;
    const p = { ...proposal(), action: removeC } as CeremonyProposal;
    const g = governance(2, [A, B, C], 1, { 'remove-approver': 2 });

    it('does not let the removed approver carry its own removal', () => {
      const history = [{ ...opened(2, p) }];
      spec
        .given(history)
        .when(approve(A, T1, sign(A, p), g))
        .thenState((state) => expect(state.state).toBe('partially-approved'));
      // A and C are 2 of version 1's approvers, but only 1 of the 2 the next version keeps.
      const afterA = [...history, recorded(A, T1, sign(A, p))];
      spec
        .given(afterA)
        .when(approve(C, T2, sign(C, p), g))
        .thenState((state) => expect(state.state).toBe('partially-approved'));
      spec
        .given(afterA)
        .when(approve(B, T2, sign(B, p), g))
        .thenState((state) => expect(state.state).toBe('approved'));
    });
  });

  describe('when an approved ceremony reaches its expiry', () => {
    it('does not expire: it is executing', () => {
      spec.given([opened(), recorded(A), recorded(B), approved(T1, A, B)]).when({ type: 'Expire', time: AFTER }).thenNothingHappened();
    });
  });

  describe('when the events are replayed', () => {
    const wasApproved = [opened(), recorded(A), recorded(C, T2), approved(T2, A, C)];

    it('records an approval that comes after the threshold without approving again', () => {
      spec.given(wasApproved).when(approve(B, T2)).then([recorded(B, T2)]);
    });

    it('folding them with evolve reproduces the state', () => {
      const history = [...wasApproved, recorded(B, T2)];
      spec
        .given(history)
        .when(markExecuted(T2, { ok: true }))
        .thenState((state) => {
          const events = [...history, executed(T2, { ok: true })];
          expect(fold(ceremonyDecider, events)).toEqual(state);
          expect(fold(ceremonyDecider, JSON.parse(JSON.stringify(events)) as CeremonyEvent[])).toEqual(state);
          expect(state.approvers).toEqual(SNAPSHOT);
        });
    });
  });
});
