import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { refusalOf, runCommands } from '../support/decider.ts';
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
  type CeremonyCommand,
  type CeremonyEvent,
  type CeremonyProposal,
  type CeremonyState,
} from '../../src/domain/ceremony.ts';
import { parseCeremonyAction } from '../../src/domain/ceremony-action.ts';
import { fold } from '../../src/domain/decider.ts';

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

const sign = (who: TestApprover, p: CeremonyProposal = proposal()): string => ed25519Sign(who.privateKey, approvalMessage(p)).toString('base64');
const open = (threshold = 2, p: CeremonyProposal = proposal()): CeremonyCommand => ({ type: 'OpenCeremony', ceremonyId: 'c-1', proposal: p, threshold, approvers: ENROLLED });
const approve = (who: TestApprover, time = T1, signature = sign(who)): CeremonyCommand => ({ type: 'Approve', approverId: who.approverId, signature, time });

const run = (commands: CeremonyCommand[], state?: CeremonyState) => runCommands(ceremonyDecider, commands, state);

const errorOf = refusalOf;

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
      const { state, events } = run([open()]);
      expect(events.map((e) => e.type)).toEqual(['CeremonyOpened']);
      expect(events[0]?.data).toMatchObject({ ceremonyId: 'c-1', proposalDigest: proposalDigest(proposal()), threshold: 2, approvers: ENROLLED.map((a) => a.approverId).sort() });
      expect(state.state).toBe('pending');
      expect(approvalProgress(state)).toBe('approved by 0/2 approvers');
      expect(ceremonyDecider.decide(open(), state)).toEqual([]);
      expect(errorOf(() => ceremonyDecider.decide(open(2, proposal('other')), state))).toEqual({ code: 'key_state_conflict', reason: 'already_opened' });
    });

    it('refuses a threshold the snapshot cannot reach', () => {
      expect(errorOf(() => ceremonyDecider.decide(open(4), ceremonyDecider.initialState()))).toEqual({ code: 'invalid_request', reason: 'threshold_unreachable' });
    });

    it('refuses an action that lacks a parameter or has a mistyped one', () => {
      const { newKey: _newKey, ...withoutNewKey } = ROTATE;
      for (const action of [withoutNewKey, { ...ROTATE, keyId: 'not-a-key-id' }, { type: 'revoke-key', rotationId: 'rot-1', keyId: 'a'.repeat(64), compromisedSince: 'yesterday' }, { type: 'update-anchors', thresholds: { 'rotate-key': -1 } }, { type: 'x' }]) {
        const p = { ...proposal(), action } as unknown as CeremonyProposal;
        expect(errorOf(() => ceremonyDecider.decide(open(2, p), ceremonyDecider.initialState()))).toEqual({ code: 'invalid_request', reason: 'invalid_proposal' });
      }
    });

    it('refuses instants the calendar lacks (2026-02-30 is not shifted to March) with the code of any malformed instant', () => {
      for (const createdAt of ['2026-02-30T00:00:00.000Z', 'not a time']) {
        expect(errorOf(() => ceremonyDecider.decide(open(2, { ...proposal(), createdAt }), ceremonyDecider.initialState()))).toEqual({ code: 'invalid_request', reason: 'invalid_request' });
      }
      const { state } = run([open()]);
      expect(errorOf(() => ceremonyDecider.decide(approve(A, '2026-02-30T00:00:00.000Z'), state))).toEqual({ code: 'invalid_request', reason: 'invalid_request' });
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
    it('is approved in the decision that records the second distinct approval', () => {
      const { state: s1, events: e1 } = run([open(), approve(A)]);
      expect(e1.map((e) => e.type)).toEqual(['CeremonyOpened', 'ApprovalRecorded']);
      expect(s1.state).toBe('partially-approved');
      expect(approvalProgress(s1)).toBe('approved by 1/2 approvers');
      const { state, events } = run([approve(B, T2)], s1);
      expect(events.map((e) => e.type)).toEqual(['ApprovalRecorded', 'CeremonyApproved']);
      expect(events[1]?.data).toEqual({ approvedAt: T2, approverIds: [A.approverId, B.approverId] });
      expect(state.state).toBe('approved');
    });
  });

  describe('when only 1 of 3 approves', () => {
    it('stays partially approved and cannot execute', () => {
      const { state } = run([open(), approve(A)]);
      expect(state.state).toBe('partially-approved');
      expect(errorOf(() => ceremonyDecider.decide({ type: 'MarkExecuted', time: T2, result: {} }, state))).toEqual({ code: 'key_state_conflict', reason: 'not_approved' });
    });
  });

  describe('when the same approver approves twice', () => {
    it('counts once: a repeat of the same approval and another signature are both rejected', () => {
      const { state } = run([open(), approve(A)]);
      expect(errorOf(() => ceremonyDecider.decide(approve(A, T2), state))).toEqual({ code: 'key_state_conflict', reason: 'already_approved' });
      const otherSig = sign(A, proposal('other'));
      expect(errorOf(() => ceremonyDecider.decide(approve(A, T2, otherSig), state))).toEqual({ code: 'key_state_conflict', reason: 'already_approved' });
      expect(state.state).toBe('partially-approved');
      expect(state.approvals).toHaveLength(1);
    });
  });

  describe('when an approval cannot be verified', () => {
    const { state } = run([open()]);
    it('rejects an approver outside the snapshot', () => {
      expect(errorOf(() => ceremonyDecider.decide(approve(OUTSIDER), state))).toEqual({ code: 'approval_rejected', reason: 'not_enrolled' });
    });
    it('rejects a signature made by another key', () => {
      expect(errorOf(() => ceremonyDecider.decide(approve(A, T1, sign(B)), state))).toEqual({ code: 'approval_rejected', reason: 'bad_signature' });
    });
    it('rejects a signature over another proposal', () => {
      expect(errorOf(() => ceremonyDecider.decide(approve(A, T1, sign(A, proposal('other'))), state))).toEqual({ code: 'approval_rejected', reason: 'bad_signature' });
    });
    it('rejects a malformed signature', () => {
      expect(errorOf(() => ceremonyDecider.decide(approve(A, T1, 'not-base64'), state))).toEqual({ code: 'approval_rejected', reason: 'bad_signature' });
    });
  });

  describe('when the ceremony has expired or was cancelled', () => {
    it('rejects an approval at or after expiresAt and changes nothing', () => {
      const { state } = run([open(), approve(A)]);
      const before = structuredClone(state);
      expect(errorOf(() => ceremonyDecider.decide(approve(B, EXPIRES), state))).toEqual({ code: 'key_state_conflict', reason: 'expired' });
      expect(state).toEqual(before);
      const { state: expired, events } = run([{ type: 'Expire', time: AFTER }], state);
      expect(events).toEqual([{ type: 'CeremonyExpired', data: { expiredAt: AFTER } }]);
      expect(expired.state).toBe('expired');
      expect(errorOf(() => ceremonyDecider.decide(approve(B, T2), expired))).toEqual({ code: 'key_state_conflict', reason: 'expired' });
      expect(ceremonyDecider.decide({ type: 'Expire', time: AFTER }, expired)).toEqual([]);
    });

    it('refuses to expire before expiresAt', () => {
      const { state } = run([open()]);
      expect(errorOf(() => ceremonyDecider.decide({ type: 'Expire', time: T1 }, state))).toEqual({ code: 'key_state_conflict', reason: 'not_expired' });
    });

    it('rejects an approval after cancel and changes nothing', () => {
      const { state } = run([open(), approve(A), { type: 'Cancel', reason: 'wrong key', actor: 'admin', time: T1 }]);
      expect(state.state).toBe('cancelled');
      const before = structuredClone(state);
      expect(errorOf(() => ceremonyDecider.decide(approve(B, T2), state))).toEqual({ code: 'key_state_conflict', reason: 'cancelled' });
      expect(state).toEqual(before);
      expect(ceremonyDecider.decide({ type: 'Cancel', reason: 'again', actor: 'admin', time: T2 }, state)).toEqual([]);
    });
  });

  describe('when an approved ceremony is executed', () => {
    it('records the result once; the second time decides nothing', () => {
      const { state } = run([open(), approve(A), approve(B), { type: 'MarkExecuted', time: T2, result: { newKeyId: 'b'.repeat(64) } }]);
      expect(state.state).toBe('executed');
      expect(state.result).toEqual({ newKeyId: 'b'.repeat(64) });
      expect(ceremonyDecider.decide({ type: 'MarkExecuted', time: AFTER, result: {} }, state)).toEqual([]);
      expect(errorOf(() => ceremonyDecider.decide(approve(C, T2), state))).toEqual({ code: 'key_state_conflict', reason: 'executed' });
      expect(errorOf(() => ceremonyDecider.decide({ type: 'Cancel', reason: 'late', actor: 'admin', time: T2 }, state))).toEqual({ code: 'key_state_conflict', reason: 'executed' });
    });
  });

  describe('when the threshold is 0', () => {
    it('is approved on opening and executes without approvals', () => {
      const { state, events } = run([open(0), { type: 'MarkExecuted', time: T1, result: null }]);
      expect(events.map((e) => e.type)).toEqual(['CeremonyOpened', 'CeremonyApproved', 'CeremonyExecuted']);
      expect(state.state).toBe('executed');
      expect(state.approvals).toEqual([]);
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
      expect(errorOf(() => thresholdFor('rotate-key', 3, -1))).toEqual({ code: 'invalid_request', reason: 'invalid_threshold' });
    });

    it('names the action types no approver set of a given size can approve', () => {
      expect(unreachableThresholds({}, 3)).toEqual([]);
      expect(unreachableThresholds({}, 1)).toEqual(['rotate-key', 'revoke-key', 'update-anchors']);
      // Approver changes are capped at the approvers there are, so they stay reachable.
      expect(unreachableThresholds({ 'rotate-key': 4, 'update-anchors': 1, 'enroll-approver': 9 }, 3)).toEqual(['rotate-key']);
    });
  });

  describe('when the events are replayed', () => {
    it('folding them with evolve reproduces the state', () => {
      const { state, events } = run([open(), approve(A), approve(C, T2), approve(B, T2), { type: 'MarkExecuted', time: T2, result: { ok: true } }]);
      expect(events.map((e) => e.type)).toEqual(['CeremonyOpened', 'ApprovalRecorded', 'ApprovalRecorded', 'CeremonyApproved', 'ApprovalRecorded', 'CeremonyExecuted']);
      expect(fold(ceremonyDecider, events)).toEqual(state);
      expect(fold(ceremonyDecider, JSON.parse(JSON.stringify(events)) as CeremonyEvent[])).toEqual(state);
      expect(state.approvers).toEqual([...ENROLLED].sort((x, y) => (x.approverId < y.approverId ? -1 : 1)));
    });
  });
});
