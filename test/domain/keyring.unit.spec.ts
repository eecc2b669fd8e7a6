import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.ts';
import { keyringDecider, type KeyringCommand, type KeyringState } from '../../src/domain/keyring.ts';
import { refusalOf, runCommands } from '../support/decider.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const T1 = '2026-11-01T00:00:00.000Z';
const T2 = '2026-12-01T00:00:00.000Z';

const register = (keyId: string, time = T1): KeyringCommand => ({ type: 'RegisterKey', keyId, publicKey: `pk-${keyId.slice(0, 4)}`, backend: 'file', ref: `file:${keyId}`, label: 'signing', time });

const run = (commands: KeyringCommand[], state?: KeyringState) => runCommands(keyringDecider, commands, state);

const codeOf = (fn: () => unknown) => refusalOf(fn)?.code;

describe('keyringDecider', () => {
  describe('when a key is registered and activated', () => {
    it('records it as the one active key with its validity start', () => {
      const { state, events } = run([register(A), { type: 'ActivateKey', keyId: A, reason: 'init', time: T1 }]);
      expect(events.map((e) => e.type)).toEqual(['KeyGenerated', 'KeyActivated']);
      expect(state.activeKeyId).toBe(A);
      expect(state.keys[A]).toMatchObject({ status: 'active', validFor: { start: T1 } });
    });
  });

  describe('when a second key is activated', () => {
    it('retires the first at the same instant, so exactly one key is active', () => {
      const { state: s1 } = run([register(A), { type: 'ActivateKey', keyId: A, reason: 'init', time: T1 }]);
      const { state, events } = run([register(B, T2), { type: 'ActivateKey', keyId: B, reason: 'monthly rotation', time: T2 }], s1);
      expect(events.map((e) => e.type)).toEqual(['KeyGenerated', 'KeyRetired', 'KeyActivated']);
      expect(state.activeKeyId).toBe(B);
      expect(state.keys[A]).toMatchObject({ status: 'retired', validFor: { start: T1, end: T2 } });
      expect(Object.values(state.keys).filter((k) => k.status === 'active')).toHaveLength(1);
      // Replaying the events gives the same state.
      const all = [...run([register(A), { type: 'ActivateKey', keyId: A, reason: 'init', time: T1 }]).events, ...events];
      expect(fold(keyringDecider, all)).toEqual(state);
    });
  });

  describe('when commands are repeated', () => {
    it('decides nothing the second time', () => {
      const { state } = run([register(A), { type: 'ActivateKey', keyId: A, reason: 'init', time: T1 }]);
      expect(keyringDecider.decide(register(A), state)).toEqual([]);
      expect(keyringDecider.decide({ type: 'ActivateKey', keyId: A, reason: 'again', time: T2 }, state)).toEqual([]);
    });
  });

  describe('when a rule is broken', () => {
    it('refuses to register other material under a known key id', () => {
      const { state } = run([register(A)]);
      expect(codeOf(() => keyringDecider.decide({ ...register(A), ref: 'file:other' } as KeyringCommand, state))).toBe('key_state_conflict');
    });
    it('refuses to activate an unknown key, or a retired one', () => {
      expect(codeOf(() => keyringDecider.decide({ type: 'ActivateKey', keyId: A, reason: 'x', time: T1 }, keyringDecider.initialState()))).toBe('key_not_found');
      const { state } = run([register(A), { type: 'ActivateKey', keyId: A, reason: 'init', time: T1 }, register(B), { type: 'ActivateKey', keyId: B, reason: 'rot', time: T2 }]);
      expect(codeOf(() => keyringDecider.decide({ type: 'ActivateKey', keyId: A, reason: 'back', time: T2 }, state))).toBe('key_state_conflict');
    });
    it('refuses to revoke the active key but revokes a retired one, ending its validity', () => {
      const { state } = run([register(A), { type: 'ActivateKey', keyId: A, reason: 'init', time: T1 }, register(B), { type: 'ActivateKey', keyId: B, reason: 'rot', time: T2 }]);
      expect(codeOf(() => keyringDecider.decide({ type: 'RevokeKey', keyId: B, reason: 'x', time: T2 }, state))).toBe('key_state_conflict');
      const { state: after } = run([{ type: 'RevokeKey', keyId: A, reason: 'compromised', time: '2026-12-02T00:00:00.000Z' }], state);
      expect(after.keys[A]).toMatchObject({ status: 'revoked', validFor: { start: T1, end: T2 }, reason: 'compromised' });
    });
    it('refuses malformed key ids', () => {
      expect(codeOf(() => keyringDecider.decide(register('XYZ'), keyringDecider.initialState()))).toBe('invalid_request');
    });
  });

  describe('when a retired key is revoked from a compromise instant', () => {
    const retired = () => run([register(A), { type: 'ActivateKey', keyId: A, reason: 'init', time: T1 }, register(B), { type: 'ActivateKey', keyId: B, reason: 'rot', time: T2 }]).state;
    const revoke = (compromisedSince: string): KeyringCommand => ({ type: 'RevokeKey', keyId: A, reason: 'compromised', time: '2026-12-02T00:00:00.000Z', compromisedSince });

    it('ends its validity at that instant, in UTC', () => {
      const { state } = run([revoke('2026-11-15T01:00:00+01:00')], retired());
      expect(state.keys[A]).toMatchObject({ status: 'revoked', validFor: { start: T1, end: '2026-11-15T00:00:00.000Z' } });
    });
    it('refuses an instant after the revocation, a malformed one and a day the calendar lacks (2026-02-30 is not shifted to March)', () => {
      for (const since of ['2026-12-03T00:00:00Z', 'yesterday', '2026-02-30T00:00:00Z']) {
        expect(refusalOf(() => keyringDecider.decide(revoke(since), retired()))).toEqual({ code: 'invalid_request', reason: 'invalid_compromised_since' });
      }
    });
  });
});
