import { describe, expect, it } from 'vitest';
import { rotationDecider, rotationStream, type AttestTransition, type CompleteRotation, type KeyTransitionAttested, type RotationCompleted, type RotationStarted, type StartRotation } from '../../src/domain/rotation.ts';
import { DeciderSpecification } from '../support/decider.ts';

const spec = DeciderSpecification.for(rotationDecider);

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);
const T1 = '2026-12-01T00:00:00.000Z';
const T2 = '2026-12-01T00:00:05.000Z';
const ENVELOPE = { payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [{ keyid: OLD, sig: 'c2lnMQ==' }, { keyid: NEW, sig: 'c2lnMg==' }] };

const startedData: RotationStarted['data'] = { rotationId: 'rot-1', ceremonyId: 'c-1', kind: 'rotate', oldKeyId: OLD, newKeyId: NEW, reason: 'monthly rotation', resignSince: null, startedAt: T1 };
const start: StartRotation = { type: 'StartRotation', ...startedData };
const started: RotationStarted = { type: 'RotationStarted', data: startedData };

const attestedData: KeyTransitionAttested['data'] = { rotationId: 'rot-1', oldKeyId: OLD, newKeyId: NEW, transitionAt: T1, envelope: ENVELOPE, timestamps: ['tsr-1'] };
const attest: AttestTransition = { type: 'AttestTransition', ...attestedData };
const attested: KeyTransitionAttested = { type: 'KeyTransitionAttested', data: attestedData };

const completedData: RotationCompleted['data'] = { rotationId: 'rot-1', resigned: 12, failed: 1, completedAt: T2 };
const complete: CompleteRotation = { type: 'CompleteRotation', ...completedData };
const completed: RotationCompleted = { type: 'RotationCompleted', data: completedData };

describe('rotationDecider (unit)', () => {
  describe('when a rotation starts, attests its key transition and completes', () => {
    it('records each milestone as its event', () => {
      spec.given([]).when(start).then([started]);
      spec.given([started]).when(attest).then([attested]);
      spec.given([started, attested]).when(complete).then([completed]);
    });

    it('may complete without a transition (a revocation that keeps the active key)', () => {
      const revoke: RotationStarted = { type: 'RotationStarted', data: { ...startedData, kind: 'revoke', newKeyId: OLD, oldKeyId: NEW, resignSince: T1 } };
      spec.given([revoke]).when(complete).then([completed]);
    });

    it('folds the milestones into the state a restarted process resumes from', () => {
      spec.given([started, attested]).when(complete).thenState((state) => expect(state).toEqual({ started: startedData, transition: attestedData, completed: completedData }));
      expect(rotationStream('rot-1')).toBe('rotation-rot-1');
    });
  });

  describe('when a milestone is already recorded', () => {
    it('decides nothing: the first start stands, even with other keys (two instances racing)', () => {
      spec.given([started]).when(start).thenNothingHappened();
      spec.given([started]).when({ ...start, newKeyId: 'c'.repeat(64), startedAt: T2 }).thenNothingHappened();
    });

    it('decides nothing for a second attestation or completion', () => {
      spec.given([started, attested]).when(attest).thenNothingHappened();
      spec.given([started, attested, completed]).when(complete).thenNothingHappened();
      spec.given([started, completed]).when({ ...complete, resigned: 99 }).thenNothingHappened();
    });
  });

  describe('when a milestone comes out of order or names other keys', () => {
    it('refuses to attest or complete a rotation that has not started', () => {
      spec.given([]).when(attest).thenThrows('key_state_conflict', 'not_started');
      spec.given([]).when(complete).thenThrows('key_state_conflict', 'not_started');
    });

    it('refuses a transition attestation for other keys than the rotation’s', () => {
      spec.given([started]).when({ ...attest, oldKeyId: NEW }).thenThrows('invalid_request', 'key_mismatch');
      spec.given([started]).when({ ...attest, newKeyId: OLD }).thenThrows('invalid_request', 'key_mismatch');
    });
  });
});
