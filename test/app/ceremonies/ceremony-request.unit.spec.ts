import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyIdOf, spkiOf } from '../../../src/crypto/ed25519.ts';
import { parseApprovalRequest, parseCancelReason, parseOpenRequest, parseRotationRequest } from '../../../src/app/ceremonies/ceremony-request.ts';
import { isLedgerError } from '../../../src/errors.ts';

const KEY = 'a'.repeat(64);
const spki = spkiOf(generateKeyPairSync('ed25519').publicKey);

/** The code, details.reason and details.field `fn` throws. */
function refusal(fn: () => unknown): { code: string; reason: unknown; field: unknown } | undefined {
  try {
    fn();
  } catch (err) {
    if (isLedgerError(err)) return { code: err.code, reason: err.details?.['reason'], field: err.details?.['field'] };
    throw err;
  }
  return undefined;
}

const open = (action: unknown, reason: unknown = 'why') => parseOpenRequest({ action, reason });

describe('ceremony requests (unit)', () => {
  describe('when a valid {action, reason} arrives', () => {
    it('reads each action type with its caller-given parameters', () => {
      expect(open({ type: 'rotate-key' })).toEqual({ type: 'rotate-key', params: {}, reason: 'why' });
      expect(open({ type: 'revoke-key', keyId: KEY })).toEqual({ type: 'revoke-key', params: { keyId: KEY }, reason: 'why' });
      expect(open({ type: 'update-anchors', thresholds: { 'rotate-key': 3 } })).toEqual({ type: 'update-anchors', params: { thresholds: { 'rotate-key': 3 } }, reason: 'why' });
      expect(open({ type: 'update-anchors' })).toEqual({ type: 'update-anchors', params: {}, reason: 'why' });
      expect(open({ type: 'enroll-approver', publicKey: spki.toString('base64') })).toEqual({ type: 'enroll-approver', params: { publicKey: spki.toString('base64'), approverId: keyIdOf(spki) }, reason: 'why' });
      expect(open({ type: 'remove-approver', approverId: KEY })).toEqual({ type: 'remove-approver', params: { approverId: KEY }, reason: 'why' });
    });

    it('keeps compromisedSince as the same instant in UTC', () => {
      expect(open({ type: 'revoke-key', keyId: KEY, compromisedSince: '2026-03-01T01:30:00+01:00' }).params).toEqual({ keyId: KEY, compromisedSince: '2026-03-01T00:30:00.000Z' });
    });
  });

  describe('when compromisedSince is not a real instant', () => {
    it('refuses 2026-02-30 (not shifted to March) like any malformed instant', () => {
      for (const since of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', 'yesterday', 1_700_000_000_000]) {
        expect(refusal(() => open({ type: 'revoke-key', keyId: KEY, compromisedSince: since }))).toEqual({ code: 'invalid_request', reason: 'invalid_compromised_since', field: 'action.compromisedSince' });
      }
    });
  });

  describe('when a reason carries characters that drive or reorder a terminal (issue 16)', () => {
    const hostile = ['a\u001b[31mred', 'tab\there', 'two\nlines', 'cr\r', 'del\u007f', 'c1\u0085', 'csi\u009b1m', 'rlo\u202e', 'lre\u202a', 'lri\u2066', 'pdi\u2069', 'ls\u2028', 'nul\u0000'];
    it('refuses them in open, rotation and cancel reasons with control_character', () => {
      for (const reason of hostile) {
        const expected = { code: 'invalid_request', reason: 'control_character', field: 'reason' };
        expect(refusal(() => open({ type: 'rotate-key' }, reason)), JSON.stringify(reason)).toEqual(expected);
        expect(refusal(() => parseRotationRequest({ reason })), JSON.stringify(reason)).toEqual(expected);
        expect(refusal(() => parseCancelReason({ reason })), JSON.stringify(reason)).toEqual(expected);
      }
    });

    it('keeps printable text in any script', () => {
      for (const reason of ['monthly rotation', 'Schlüsselwechsel — geplant', 'تدوير المفتاح', '鍵のローテーション 🔑']) {
        expect(open({ type: 'rotate-key' }, reason).reason).toBe(reason);
        expect(parseCancelReason({ reason })).toBe(reason);
      }
    });
  });

  describe('when the body or an action is malformed', () => {
    it('answers invalid_request with a stable reason and the field at fault', () => {
      const cases: [unknown, string, string | undefined][] = [
        [[], 'not_an_object', undefined],
        [{ action: { type: 'rotate-key' }, reason: 'x', extra: 1 }, 'unknown_field', 'body.extra'],
        [{ action: { type: 'rotate-key' }, reason: '  ' }, 'invalid_reason', 'reason'],
        [{ action: { type: 'rotate-key' }, reason: 'x'.repeat(1025) }, 'invalid_reason', 'reason'],
        [{ action: { type: 'x' }, reason: 'x' }, 'invalid_action', 'action.type'],
        [{ action: 'rotate-key', reason: 'x' }, 'invalid_action', 'action.type'],
        [{ action: { type: 'rotate-key', keyId: KEY }, reason: 'x' }, 'unknown_field', 'action.keyId'],
        [{ action: { type: 'revoke-key', keyId: 'ABC' }, reason: 'x' }, 'invalid_key_id', 'action.keyId'],
        [{ action: { type: 'update-anchors', thresholds: [] }, reason: 'x' }, 'invalid_thresholds', 'action.thresholds'],
        [{ action: { type: 'update-anchors', thresholds: { 'rotate-key': 1001 } }, reason: 'x' }, 'invalid_thresholds', 'action.thresholds'],
        [{ action: { type: 'update-anchors', thresholds: { nope: 1 } }, reason: 'x' }, 'invalid_thresholds', 'action.thresholds'],
        [{ action: { type: 'enroll-approver', publicKey: 'not a key' }, reason: 'x' }, 'invalid_approver_key', 'action.publicKey'],
        [{ action: { type: 'remove-approver', approverId: 7 }, reason: 'x' }, 'invalid_approver_id', 'action.approverId'],
      ];
      for (const [body, reason, field] of cases) expect(refusal(() => parseOpenRequest(body)), JSON.stringify(body).slice(0, 80)).toEqual({ code: 'invalid_request', reason, field });
    });
  });

  describe('when rotation, approval and cancel bodies arrive', () => {
    it('reads them or refuses them with a stable reason', () => {
      expect(parseRotationRequest({ reason: 'monthly' })).toBe('monthly');
      expect(refusal(() => parseRotationRequest({ reason: 'x', action: {} }))).toMatchObject({ reason: 'unknown_field' });
      expect(parseApprovalRequest({ approverId: KEY, signature: 'c2ln' })).toEqual({ approverId: KEY, signature: 'c2ln' });
      expect(refusal(() => parseApprovalRequest({ approverId: 'x', signature: 'c2ln' }))).toMatchObject({ reason: 'invalid_approver_id' });
      expect(refusal(() => parseApprovalRequest({ approverId: KEY, signature: 'x'.repeat(201) }))).toMatchObject({ reason: 'invalid_signature' });
      expect(parseCancelReason(undefined)).toBe('cancelled');
      expect(parseCancelReason({ reason: 'wrong key' })).toBe('wrong key');
      expect(refusal(() => parseCancelReason({ reason: 'x'.repeat(1025) }))).toMatchObject({ reason: 'invalid_reason' });
    });
  });
});
