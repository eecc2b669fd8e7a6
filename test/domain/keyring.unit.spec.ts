import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.ts';
import { keyringDecider, type ActivateKey, type KeyActivated, type KeyGenerated, type KeyRetired, type KeyRevoked, type RegisterKey, type RevokeKey } from '../../src/domain/keyring.ts';
import { DeciderSpecification } from '../support/decider.ts';

const spec = DeciderSpecification.for(keyringDecider);

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const T1 = '2026-11-01T00:00:00.000Z';
const T2 = '2026-12-01T00:00:00.000Z';
const LATER = '2026-12-02T00:00:00.000Z';

const register = (keyId: string, time = T1): RegisterKey => ({ type: 'RegisterKey', keyId, publicKey: `pk-${keyId.slice(0, 4)}`, backend: 'file', ref: `file:${keyId}`, label: 'signing', time });
const activate = (keyId: string, reason: string, time: string): ActivateKey => ({ type: 'ActivateKey', keyId, reason, time });
const revoke = (keyId: string, reason: string, time: string, compromisedSince?: string): RevokeKey => ({ type: 'RevokeKey', keyId, reason, time, ...(compromisedSince !== undefined ? { compromisedSince } : {}) });

const generated = (keyId: string, time = T1): KeyGenerated => ({
  type: 'KeyGenerated',
  data: { keyId, algorithm: 'ed25519', publicKey: `pk-${keyId.slice(0, 4)}`, backend: 'file', ref: `file:${keyId}`, label: 'signing', generatedAt: time },
});
const activated = (keyId: string, reason: string, time: string): KeyActivated => ({ type: 'KeyActivated', data: { keyId, validFrom: time, reason } });
const retired = (keyId: string, successorKeyId: string, reason: string, time: string): KeyRetired => ({ type: 'KeyRetired', data: { keyId, validUntil: time, reason, successorKeyId } });
const revoked = (keyId: string, reason: string, revokedAt: string): KeyRevoked => ({ type: 'KeyRevoked', data: { keyId, revokedAt, reason } });

/** A active since T1. */
const activeA = [generated(A), activated(A, 'init', T1)];
/** A retired at T2 when B took over. */
const rotated = [...activeA, generated(B), retired(A, B, 'rot', T2), activated(B, 'rot', T2)];

describe('keyringDecider (unit)', () => {
  describe('when a key is registered and activated', () => {
    it('records it as the one active key with its validity start', () => {
      spec.given([]).when(register(A)).then([generated(A)]);
      spec.given([generated(A)]).when(activate(A, 'init', T1)).then([activated(A, 'init', T1)]);
      spec
        .given([generated(A)])
        .when(activate(A, 'init', T1))
        .thenState((state) => {
          expect(state.activeKeyId).toBe(A);
          expect(state.keys[A]).toMatchObject({ status: 'active', validFor: { start: T1 } });
        });
    });
  });

  describe('when a second key is activated', () => {
    it('retires the first at the same instant, so exactly one key is active', () => {
      const given = [...activeA, generated(B, T2)];
      const decided = [retired(A, B, 'monthly rotation', T2), activated(B, 'monthly rotation', T2)];
      spec.given([...activeA]).when(register(B, T2)).then([generated(B, T2)]);
      spec.given(given).when(activate(B, 'monthly rotation', T2)).then(decided);
      spec
        .given(given)
        .when(activate(B, 'monthly rotation', T2))
        .thenState((state) => {
          expect(state.activeKeyId).toBe(B);
          expect(state.keys[A]).toMatchObject({ status: 'retired', validFor: { start: T1, end: T2 } });
          expect(Object.values(state.keys).filter((k) => k.status === 'active')).toHaveLength(1);
          // Replaying the events gives the same state.
          expect(fold(keyringDecider, [...given, ...decided])).toEqual(state);
        });
    });
  });

  describe('when commands are repeated', () => {
    it('decides nothing the second time', () => {
      spec.given(activeA).when(register(A)).thenNothingHappened();
      spec.given(activeA).when(activate(A, 'again', T2)).thenNothingHappened();
    });
  });

  describe('when a rule is broken', () => {
    it('refuses to register other material under a known key id', () => {
      spec
        .given([generated(A)])
        .when({ ...register(A), ref: 'file:other' })
        .thenThrows('key_state_conflict');
    });

    it('refuses to activate an unknown key, or a retired one', () => {
      spec.given([]).when(activate(A, 'x', T1)).thenThrows('key_not_found');
      spec.given(rotated).when(activate(A, 'back', T2)).thenThrows('key_state_conflict');
    });

    it('refuses to revoke the active key but revokes a retired one, ending its validity', () => {
      spec.given(rotated).when(revoke(B, 'x', T2)).thenThrows('key_state_conflict');
      spec.given(rotated).when(revoke(A, 'compromised', LATER)).then([revoked(A, 'compromised', LATER)]);
      spec
        .given(rotated)
        .when(revoke(A, 'compromised', LATER))
        .thenState((state) => expect(state.keys[A]).toMatchObject({ status: 'revoked', validFor: { start: T1, end: T2 }, reason: 'compromised' }));
    });

    it('refuses malformed key ids', () => {
      spec.given([]).when(register('XYZ')).thenThrows('invalid_request');
    });
  });

  describe('when a retired key is revoked from a compromise instant', () => {
    it('ends its validity at that instant, in UTC', () => {
      spec.given(rotated).when(revoke(A, 'compromised', LATER, '2026-11-15T01:00:00+01:00')).then([revoked(A, 'compromised', '2026-11-15T00:00:00.000Z')]);
      spec
        .given(rotated)
        .when(revoke(A, 'compromised', LATER, '2026-11-15T01:00:00+01:00'))
        .thenState((state) => expect(state.keys[A]).toMatchObject({ status: 'revoked', validFor: { start: T1, end: '2026-11-15T00:00:00.000Z' } }));
    });

    it('refuses an instant after the revocation, a malformed one and a day the calendar lacks (2026-02-30 is not shifted to March)', () => {
      for (const since of ['2026-12-03T00:00:00Z', 'yesterday', '2026-02-30T00:00:00Z']) {
        spec.given(rotated).when(revoke(A, 'compromised', LATER, since)).thenThrows('invalid_request', 'invalid_compromised_since');
      }
    });
  });
});
