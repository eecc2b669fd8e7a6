import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { assertThresholdsReachable, sameThresholds, unreachableInForce } from '../../src/wiring/startup-checks.ts';

const dev = (thresholds?: string): Config => loadConfig({}, thresholds ? { SIGLEDGER_CEREMONY_THRESHOLDS: thresholds } : {});
const production = (approvers: number, thresholds?: string): Config => ({
  ...dev(thresholds),
  authMode: 'jwks',
  approvers: Array.from({ length: approvers }, (_, i) => `/etc/sigledger/approver-${i}.pem`),
});

describe('start-up checks (unit)', () => {
  describe('when the thresholds can be met', () => {
    it('accepts the defaults with the 3 dev approvers, and thresholds up to the count', () => {
      expect(() => assertThresholdsReachable(dev())).not.toThrow();
      expect(() => assertThresholdsReachable(dev('{"rotate-key":3,"revoke-key":0}'))).not.toThrow();
      expect(() => assertThresholdsReachable(production(2))).not.toThrow();
    });

    it('accepts approver changes above the count (they are capped at all approvers)', () => {
      expect(() => assertThresholdsReachable(dev('{"enroll-approver":5}'))).not.toThrow();
    });
  });

  describe('when a configured threshold exceeds the approvers', () => {
    it('refuses with a ConfigError naming each unreachable action', () => {
      expect(() => assertThresholdsReachable(dev('{"rotate-key":4,"update-anchors":9}'))).toThrow(ConfigError);
      expect(() => assertThresholdsReachable(dev('{"rotate-key":4,"update-anchors":9}'))).toThrow(/3 approvers \(dev mode\): rotate-key needs 4, update-anchors needs 9/);
      expect(() => assertThresholdsReachable(production(0, '{"revoke-key":1}'))).toThrow(/0 approvers \(SIGLEDGER_APPROVERS\): revoke-key needs 1/);
    });
  });

  describe('when a built-in default exceeds the approvers', () => {
    it('refuses one production approver (rotations need 2)', () => {
      expect(() => assertThresholdsReachable(production(1))).toThrow(/1 approvers \(SIGLEDGER_APPROVERS\): rotate-key needs 2, revoke-key needs 2, update-anchors needs 2/);
      expect(() => assertThresholdsReachable(production(1, '{"rotate-key":1,"revoke-key":1,"update-anchors":1}'))).not.toThrow();
    });

    it('leaves running without approvers to the start-up warning', () => {
      expect(() => assertThresholdsReachable(production(0))).not.toThrow();
    });
  });

  describe('when an existing ledger is checked against the thresholds in its anchors', () => {
    it('names each ceremony the enrolled approvers cannot approve', () => {
      expect(unreachableInForce({}, 3)).toEqual([]);
      expect(unreachableInForce({ 'rotate-key': 3 }, 2)).toEqual(['rotate-key needs 3']);
      expect(unreachableInForce({}, 1)).toEqual(['rotate-key needs 2', 'revoke-key needs 2', 'update-anchors needs 2']);
    });

    it('says nothing when no approver is enrolled (warned apart)', () => {
      expect(unreachableInForce({ 'rotate-key': 3 }, 0)).toEqual([]);
    });
  });

  describe('when the configured thresholds are compared with those in force', () => {
    it('ignores the order of the actions', () => {
      expect(sameThresholds({ 'rotate-key': 1, 'revoke-key': 2 }, { 'revoke-key': 2, 'rotate-key': 1 })).toBe(true);
      expect(sameThresholds({ 'rotate-key': 1 }, { 'rotate-key': 1, 'revoke-key': 2 })).toBe(false);
      expect(sameThresholds({ 'rotate-key': 1 }, { 'rotate-key': 2 })).toBe(false);
    });
  });
});
