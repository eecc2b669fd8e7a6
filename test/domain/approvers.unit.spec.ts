import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyIdOf, spkiOf } from '../../src/crypto/ed25519.ts';
import { activeApprovers, approversDecider, type ApproverEnrolled, type ApproverRemoved, type EnrollApprover, type RemoveApprover } from '../../src/domain/approvers.ts';
import { fold } from '../../src/domain/decider.ts';
import { DeciderSpecification } from '../support/decider.ts';

const spec = DeciderSpecification.for(approversDecider);

const T1 = '2026-11-01T00:00:00.000Z';
const T2 = '2026-11-02T00:00:00.000Z';

function newApprover(): { approverId: string; publicKey: string } {
  const spki = spkiOf(generateKeyPairSync('ed25519').publicKey);
  return { approverId: keyIdOf(spki), publicKey: spki.toString('base64') };
}

const A = newApprover();
const B = newApprover();
const enroll = (a: { approverId: string; publicKey: string }, ceremonyId: string | null = null): EnrollApprover => ({ type: 'EnrollApprover', ...a, time: T1, ceremonyId });
const remove = (a: { approverId: string }, ceremonyId: string): RemoveApprover => ({ type: 'RemoveApprover', approverId: a.approverId, time: T2, ceremonyId });

const enrolled = (a: { approverId: string; publicKey: string }, ceremonyId: string | null = null): ApproverEnrolled => ({ type: 'ApproverEnrolled', data: { approverId: a.approverId, publicKey: a.publicKey, enrolledAt: T1, ceremonyId } });
const removed = (a: { approverId: string }, ceremonyId: string): ApproverRemoved => ({ type: 'ApproverRemoved', data: { approverId: a.approverId, removedAt: T2, ceremonyId } });

describe('approversDecider (unit)', () => {
  describe('when approvers are enrolled', () => {
    it('lists them by id and replays to the same state', () => {
      spec.given([]).when(enroll(A)).then([enrolled(A)]);
      spec.given([enrolled(A)]).when(enroll(B, 'c-1')).then([enrolled(B, 'c-1')]);
      spec
        .given([enrolled(A)])
        .when(enroll(B, 'c-1'))
        .thenState((state) => {
          expect(activeApprovers(state)).toEqual([A, B].sort((x, y) => x.approverId.localeCompare(y.approverId)));
          expect(fold(approversDecider, [enrolled(A), enrolled(B, 'c-1')])).toEqual(state);
        });
    });

    it('decides nothing when the same approver is enrolled again', () => {
      spec.given([enrolled(A)]).when(enroll(A)).thenNothingHappened();
    });
  });

  describe('when an id is enrolled with another key', () => {
    it('is rejected as a key state conflict when the id is already enrolled', () => {
      // Forge a command carrying A's id with B's key: the id check fires first.
      spec.given([enrolled(A)]).when({ type: 'EnrollApprover', approverId: A.approverId, publicKey: B.publicKey, time: T2 }).thenThrows('invalid_request', 'approver_id_mismatch');
      // A history whose record for A holds another key conflicts with A's real key.
      spec
        .given([enrolled({ approverId: A.approverId, publicKey: B.publicKey })])
        .when(enroll(A))
        .thenThrows('key_state_conflict', 'approver_key_conflict');
    });

    it('rejects a public key that is not an Ed25519 SPKI', () => {
      spec.given([]).when({ type: 'EnrollApprover', approverId: A.approverId, publicKey: 'not base64!', time: T1 }).thenThrows('invalid_request', 'invalid_approver_key');
    });
  });

  describe('when approvers are removed', () => {
    it('removes one, is idempotent, and refuses to remove the last', () => {
      spec.given([enrolled(A), enrolled(B)]).when(remove(B, 'c-2')).then([removed(B, 'c-2')]);
      spec
        .given([enrolled(A), enrolled(B)])
        .when(remove(B, 'c-2'))
        .thenState((state) => expect(activeApprovers(state)).toEqual([A]));
      const afterRemoval = [enrolled(A), enrolled(B), removed(B, 'c-2')];
      spec.given(afterRemoval).when(remove(B, 'c-2')).thenNothingHappened();
      spec.given(afterRemoval).when(remove(A, 'c-3')).thenThrows('key_state_conflict', 'last_approver');
    });
  });
});
