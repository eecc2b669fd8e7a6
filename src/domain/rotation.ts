/**
 * A rotation (stream `rotation-<rotationId>`): the execution of an approved rotate-key or
 * revoke-key ceremony. It records which key goes and which comes, the key transition
 * attestation (its own event, so that its two-signature envelope is a log leaf), and the end of
 * re-signing. Re-signed versions themselves live in the bundles' streams, where optimistic
 * concurrency makes each bundle's re-signing happen exactly once; the rotation stream only
 * marks the milestones, so a restarted process resumes from the last one.
 *
 *   RotationStarted → KeyTransitionAttested (when a new key was activated) → RotationCompleted
 */
import type { EnvelopeJson } from '../crypto/dsse.ts';
import { dataOf, type Decider, type DomainEvent } from './decider.ts';
import { LedgerError } from '../errors.ts';

export const ROTATION_STREAM_PREFIX = 'rotation-';
export const rotationStream = (rotationId: string): string => `${ROTATION_STREAM_PREFIX}${rotationId}`;

export type RotationKind = 'rotate' | 'revoke';

export type RotationStarted = DomainEvent<
  'RotationStarted',
  {
    rotationId: string;
    ceremonyId: string;
    kind: RotationKind;
    oldKeyId: string;
    /** The key that re-signs (the incoming key, or the active key when a revocation keeps it). */
    newKeyId: string;
    reason: string;
    /** Revocations: only versions signed at or after this instant are re-signed. */
    resignSince: string | null;
    startedAt: string;
  }
>;
export type KeyTransitionAttested = DomainEvent<
  'KeyTransitionAttested',
  { rotationId: string; oldKeyId: string; newKeyId: string; transitionAt: string; envelope: EnvelopeJson; timestamps: string[] }
>;
export type RotationCompleted = DomainEvent<'RotationCompleted', { rotationId: string; resigned: number; failed: number; completedAt: string }>;
export type RotationEvent = RotationStarted | KeyTransitionAttested | RotationCompleted;

export interface RotationState {
  readonly started: RotationStarted['data'] | null;
  readonly transition: KeyTransitionAttested['data'] | null;
  readonly completed: RotationCompleted['data'] | null;
}

export type StartRotation = { readonly type: 'StartRotation' } & RotationStarted['data'];
export type AttestTransition = { readonly type: 'AttestTransition' } & KeyTransitionAttested['data'];
export type CompleteRotation = { readonly type: 'CompleteRotation' } & RotationCompleted['data'];
export type RotationCommand = StartRotation | AttestTransition | CompleteRotation;

function decide(command: RotationCommand, state: RotationState): RotationEvent[] {
  switch (command.type) {
    case 'StartRotation': {
      // Two instances may race to start the same rotation: the first one's keys stand.
      if (state.started) return [];
      return [{ type: 'RotationStarted', data: dataOf(command) }];
    }
    case 'AttestTransition': {
      if (!state.started) throw new LedgerError('key_state_conflict', `rotation ${command.rotationId} has not started`, { reason: 'not_started' });
      if (state.transition) return [];
      if (command.oldKeyId !== state.started.oldKeyId || command.newKeyId !== state.started.newKeyId) {
        throw new LedgerError('invalid_request', 'the transition attestation names other keys than the rotation', { reason: 'key_mismatch' });
      }
      return [{ type: 'KeyTransitionAttested', data: dataOf(command) }];
    }
    case 'CompleteRotation': {
      if (!state.started) throw new LedgerError('key_state_conflict', `rotation ${command.rotationId} has not started`, { reason: 'not_started' });
      if (state.completed) return [];
      return [{ type: 'RotationCompleted', data: dataOf(command) }];
    }
  }
}

export const rotationDecider: Decider<RotationState, RotationCommand, RotationEvent> = {
  initialState: () => ({ started: null, transition: null, completed: null }),
  evolve(state, event) {
    switch (event.type) {
      case 'RotationStarted':
        return { ...state, started: event.data };
      case 'KeyTransitionAttested':
        return { ...state, transition: event.data };
      case 'RotationCompleted':
        return { ...state, completed: event.data };
    }
  },
  decide,
};
