import { generateKeyPairSync } from 'node:crypto';
import { refusalOf, runCommands } from '../support/decider.ts';
import { describe, expect, it } from 'vitest';
import { spkiOf, keyIdOf } from '../../src/crypto/ed25519.ts';
import { activeApprovers, approversDecider, type ApproversCommand, type ApproversState } from '../../src/domain/approvers.ts';
import { fold } from '../../src/domain/decider.ts';

const T1 = '2026-11-01T00:00:00.000Z';
const T2 = '2026-11-02T00:00:00.000Z';

function newApprover(): { approverId: string; publicKey: string } {
  const spki = spkiOf(generateKeyPairSync('ed25519').publicKey);
  return { approverId: keyIdOf(spki), publicKey: spki.toString('base64') };
}

const A = newApprover();
const B = newApprover();
const enroll = (a: { approverId: string; publicKey: string }, ceremonyId: string | null = null): ApproversCommand => ({ type: 'EnrollApprover', ...a, time: T1, ceremonyId });

const run = (commands: ApproversCommand[], state?: ApproversState) => runCommands(approversDecider, commands, state);

const errorOf = refusalOf;

describe('approversDecider (unit)', () => {
  describe('when approvers are enrolled', () => {
    it('lists them by id and replays to the same state', () => {
      const { state, events } = run([enroll(A), enroll(B, 'c-1')]);
      expect(events.map((e) => e.type)).toEqual(['ApproverEnrolled', 'ApproverEnrolled']);
      expect(events[1]?.data).toMatchObject({ approverId: B.approverId, ceremonyId: 'c-1', enrolledAt: T1 });
      expect(activeApprovers(state)).toEqual([A, B].sort((x, y) => x.approverId.localeCompare(y.approverId)));
      expect(fold(approversDecider, events)).toEqual(state);
    });

    it('decides nothing when the same approver is enrolled again', () => {
      const { state } = run([enroll(A)]);
      expect(approversDecider.decide(enroll(A), state)).toEqual([]);
    });
  });

  describe('when an id is enrolled with another key', () => {
    it('is rejected as a key state conflict when the id is already enrolled', () => {
      const { state } = run([enroll(A)]);
      // Forge a command carrying A's id with B's key: the id check fires first.
      expect(errorOf(() => approversDecider.decide({ type: 'EnrollApprover', approverId: A.approverId, publicKey: B.publicKey, time: T2 }, state))).toEqual({ code: 'invalid_request', reason: 'approver_id_mismatch' });
      // A state whose record for A holds another key (e.g. history) conflicts with A's real key.
      const odd: ApproversState = { approvers: { [A.approverId]: { approverId: A.approverId, publicKey: B.publicKey } } };
      expect(errorOf(() => approversDecider.decide(enroll(A), odd))).toEqual({ code: 'key_state_conflict', reason: 'approver_key_conflict' });
    });

    it('rejects a public key that is not an Ed25519 SPKI', () => {
      expect(errorOf(() => approversDecider.decide({ type: 'EnrollApprover', approverId: A.approverId, publicKey: 'not base64!', time: T1 }, approversDecider.initialState()))).toEqual({ code: 'invalid_request', reason: 'invalid_approver_key' });
    });
  });

  describe('when approvers are removed', () => {
    it('removes one, is idempotent, and refuses to remove the last', () => {
      const { state: s1 } = run([enroll(A), enroll(B)]);
      const { state, events } = run([{ type: 'RemoveApprover', approverId: B.approverId, time: T2, ceremonyId: 'c-2' }], s1);
      expect(events).toEqual([{ type: 'ApproverRemoved', data: { approverId: B.approverId, removedAt: T2, ceremonyId: 'c-2' } }]);
      expect(activeApprovers(state)).toEqual([A]);
      expect(approversDecider.decide({ type: 'RemoveApprover', approverId: B.approverId, time: T2, ceremonyId: 'c-2' }, state)).toEqual([]);
      expect(errorOf(() => approversDecider.decide({ type: 'RemoveApprover', approverId: A.approverId, time: T2, ceremonyId: 'c-3' }, state))).toEqual({ code: 'key_state_conflict', reason: 'last_approver' });
    });
  });
});
