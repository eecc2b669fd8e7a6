import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/hash.ts';
import {
  ATTESTATION_PAYLOAD_TYPE,
  envelopeDigest,
  KEY_TRANSITION_PREDICATE_TYPE,
  keyTransitionStatement,
  RESIGN_PREDICATE_TYPE,
  resignStatement,
  statementBytes,
  type KeyTransitionPredicate,
  type ResignPredicate,
} from '../../src/domain/attestations.ts';
import type { CeremonyProposal } from '../../src/domain/ceremony.ts';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1 } from '../../src/domain/sign-request.ts';

// attestations.ts has no decider: it builds the statements a rotation signs. Their rules are
// determinism (the same inputs give the same bytes, so a re-run signs the same statement) and
// what each statement names.

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);
const PAYLOAD_SHA = 'c'.repeat(64);
const ENVELOPE = { payloadType: 'text/plain', payload: 'aGVsbG8=', signatures: [{ keyid: OLD, sig: 'c2ln' }] };

const resign: ResignPredicate = { bundleId: 'd'.repeat(64), fromVersion: 1, toVersion: 2, oldKeyId: OLD, newKeyId: NEW, reason: 'monthly rotation', rotationId: 'rot-1', ceremonyId: 'c-1', oldEnvelopeSha256: envelopeDigest(ENVELOPE) };
const proposal: CeremonyProposal = {
  action: { type: 'rotate-key', rotationId: 'rot-1', keyId: OLD, newKey: { keyId: NEW, publicKey: 'bmV3', backend: 'file', ref: 'file:new' } },
  reason: 'monthly rotation',
  createdAt: '2026-11-01T00:00:00.000Z',
  expiresAt: '2026-11-02T00:00:00.000Z',
  nonce: 'n-1',
};
const transition: KeyTransitionPredicate = {
  oldKeyId: OLD,
  newKeyId: NEW,
  oldPublicKey: 'b2xk',
  newPublicKey: 'bmV3',
  transitionAt: '2026-11-01T00:00:00.000Z',
  reason: 'monthly rotation',
  rotationId: 'rot-1',
  ceremonyId: 'c-1',
  proposal,
  proposalDigest: 'e'.repeat(64),
  threshold: 2,
  approvals: [{ approverId: 'f'.repeat(64), publicKey: 'YXBw', signature: 'c2ln' }],
};

describe('attestations (unit)', () => {
  describe('when a re-signing is attested', () => {
    it('names the signed payload as subject and carries the predicate', () => {
      expect(resignStatement(PAYLOAD_SHA, resign)).toEqual({
        _type: IN_TOTO_STATEMENT_V1,
        subject: [{ name: `bundle:${resign.bundleId}`, digest: { sha256: PAYLOAD_SHA } }],
        predicateType: RESIGN_PREDICATE_TYPE,
        predicate: resign,
      });
      expect(ATTESTATION_PAYLOAD_TYPE).toBe(IN_TOTO_PAYLOAD_TYPE);
    });

    it('copies the predicate, so later changes to the input do not change a built statement', () => {
      const input = { ...resign };
      const statement = resignStatement(PAYLOAD_SHA, input);
      (input as { reason: string }).reason = 'changed';
      expect(statement.predicate.reason).toBe('monthly rotation');
    });
  });

  describe('when a key transition is attested', () => {
    it('names both keys as subjects (digest = key id) with the ceremony that authorised it', () => {
      const statement = keyTransitionStatement(transition);
      expect(statement.subject).toEqual([
        { name: `key:${OLD}`, digest: { sha256: OLD } },
        { name: `key:${NEW}`, digest: { sha256: NEW } },
      ]);
      expect(statement).toMatchObject({ _type: IN_TOTO_STATEMENT_V1, predicateType: KEY_TRANSITION_PREDICATE_TYPE, predicate: transition });
      expect(statement.predicate.approvals[0]).not.toBe(transition.approvals[0]);
    });
  });

  describe('when a statement is built twice', () => {
    it('gives the same JCS bytes, whatever the key order of the input', () => {
      const reordered = Object.fromEntries(Object.entries(resign).reverse()) as unknown as ResignPredicate;
      expect(statementBytes(resignStatement(PAYLOAD_SHA, reordered)).equals(statementBytes(resignStatement(PAYLOAD_SHA, resign)))).toBe(true);
      expect(statementBytes({ b: 1, a: [true, null] }).toString('utf8')).toBe('{"a":[true,null],"b":1}');
    });
  });

  describe('when an envelope is digested', () => {
    it('is the SHA-256 of its JCS bytes, over payloadType, payload and signatures only', () => {
      expect(envelopeDigest(ENVELOPE)).toBe(sha256Hex('{"payload":"aGVsbG8=","payloadType":"text/plain","signatures":[{"keyid":"' + OLD + '","sig":"c2ln"}]}'));
      expect(envelopeDigest({ ...ENVELOPE, extra: 'ignored' } as typeof ENVELOPE)).toBe(envelopeDigest(ENVELOPE));
      expect(envelopeDigest({ ...ENVELOPE, payload: 'b3RoZXI=' })).not.toBe(envelopeDigest(ENVELOPE));
    });
  });
});
