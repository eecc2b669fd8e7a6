import { describe, expect, it } from 'vitest';
import { ed25519Sign, keyIdOf, privateKeyFromSeed, spkiOf } from '../../src/crypto/ed25519.ts';
import { anchorsDecider, verifyAnchorsSuccessor, type AnchorsDocument, type AnchorsPublished, type PublishAnchors } from '../../src/domain/anchors.ts';
import { approvalMessage, proposalDigest, type CeremonyProposal } from '../../src/domain/ceremony.ts';
import { DeciderSpecification } from '../support/decider.ts';

const spec = DeciderSpecification.for(anchorsDecider);

const T0 = '2026-10-01T00:00:00.000Z';
const T1 = '2026-11-01T00:00:00.000Z';
const T2 = '2026-11-02T00:00:00.000Z';

/** Deterministic Ed25519 keys: the same seed, the same key (and id) on every run. */
function keyFrom(seed: number) {
  const privateKey = privateKeyFromSeed(Buffer.alloc(32, seed));
  const spki = spkiOf(privateKey);
  return { privateKey, id: keyIdOf(spki), rawBytes: spki.toString('base64') };
}
const OLD = keyFrom(1);
const NEW = keyFrom(2);
const APPROVERS = [keyFrom(11), keyFrom(12), keyFrom(13)];

const approvers = Object.fromEntries(APPROVERS.map((a) => [a.id, { rawBytes: a.rawBytes, keyDetails: 'PKIX_ED25519' as const }]));
const initialKeys = { [OLD.id]: { rawBytes: OLD.rawBytes, keyDetails: 'PKIX_ED25519' as const, validFor: { start: T0 } } };

const publishInitial: PublishAnchors = { type: 'PublishAnchors', keys: initialKeys, approvers, thresholds: {}, ceremony: null, signatures: [], time: T0 };
const v1: AnchorsDocument = { version: 1, issuedAt: T0, keys: initialKeys, approvers, thresholds: {}, ceremony: null, signatures: [] };
const published = (doc: AnchorsDocument): AnchorsPublished => ({ type: 'AnchorsPublished', data: doc });

const proposal: CeremonyProposal = {
  action: { type: 'rotate-key', rotationId: 'rot-1', keyId: OLD.id, newKey: { keyId: NEW.id, publicKey: NEW.rawBytes, backend: 'file', ref: 'file:new' } },
  reason: 'monthly rotation',
  createdAt: T1,
  expiresAt: T2,
  nonce: 'n-1',
};
const approve = (a: (typeof APPROVERS)[number]) => ({ keyid: a.id, sig: ed25519Sign(a.privateKey, approvalMessage(proposal)).toString('base64') });
const rotatedKeys = { [OLD.id]: { ...initialKeys[OLD.id]!, validFor: { start: T0, end: T1 } }, [NEW.id]: { rawBytes: NEW.rawBytes, keyDetails: 'PKIX_ED25519' as const, validFor: { start: T1 } } };
const ceremony = { ceremonyId: 'c-1', proposal, proposalDigest: proposalDigest(proposal) };
const publishRotated: PublishAnchors = { type: 'PublishAnchors', keys: rotatedKeys, approvers, thresholds: {}, ceremony, signatures: [approve(APPROVERS[0]!), approve(APPROVERS[1]!)], time: T1 };
const v2: AnchorsDocument = { version: 2, issuedAt: T1, keys: rotatedKeys, approvers, thresholds: {}, ceremony, signatures: publishRotated.signatures };

describe('anchorsDecider (unit)', () => {
  describe('when anchors are published', () => {
    it('records version 1 without a ceremony, trusted on first use', () => {
      spec.given([]).when(publishInitial).then([published(v1)]);
    });

    it('records the next version with the ceremony and its approvals', () => {
      spec.given([published(v1)]).when(publishRotated).then([published(v2)]);
    });
  });

  describe('when the latest version already says the same', () => {
    it('decides nothing (safe to repeat after a crash), whatever the time', () => {
      spec.given([published(v1)]).when({ ...publishInitial, time: T2 }).thenNothingHappened();
      spec.given([published(v1), published(v2)]).when(publishRotated).thenNothingHappened();
    });

  });

  describe('when the next version would not verify against the latest', () => {
    it('refuses it with the reasons verifiers would give, and appends nothing', () => {
      // Another ceremony naming the same change: the key it adds is already there.
      spec
        .given([published(v1), published(v2)])
        .when({ ...publishRotated, ceremony: { ...ceremony, ceremonyId: 'c-2' } })
        .thenThrows('key_state_conflict', 'anchors_successor_invalid');
      // Approved by one approver where the threshold is two.
      spec
        .given([published(v1)])
        .when({ ...publishRotated, signatures: [approve(APPROVERS[0]!)] })
        .thenThrows('key_state_conflict', 'anchors_successor_invalid');
    });
  });
});

describe('verifyAnchorsSuccessor (unit)', () => {
  describe('when a version removes an approver (TUF rollover)', () => {
    const removed = APPROVERS[2]!;
    const p: CeremonyProposal = { ...proposal, action: { type: 'remove-approver', approverId: removed.id } };
    const sig = (a: (typeof APPROVERS)[number]) => ({ keyid: a.id, sig: ed25519Sign(a.privateKey, approvalMessage(p)).toString('base64') });
    const prev: AnchorsDocument = { ...v1, thresholds: { 'remove-approver': 2 } };
    const { [removed.id]: _gone, ...remaining } = approvers;
    const next = (signatures: { keyid: string; sig: string }[]): AnchorsDocument => ({ ...prev, version: 2, approvers: remaining, ceremony: { ceremonyId: 'c-9', proposal: p, proposalDigest: proposalDigest(p) }, signatures });

    it('needs a threshold of the approvers the new version keeps, not only of the previous ones', () => {
      const byRemovedToo = verifyAnchorsSuccessor(prev, next([sig(APPROVERS[0]!), sig(removed)]));
      expect(byRemovedToo.ok).toBe(false);
      expect(byRemovedToo.reasons).toEqual(["signed by 1/2 of version 2's own approvers"]);
      expect(verifyAnchorsSuccessor(prev, next([sig(APPROVERS[0]!), sig(APPROVERS[1]!)])).ok).toBe(true);
    });
  });

  describe('when a threshold of the previous approvers approved exactly this change', () => {
    it('accepts the successor and names who signed', () => {
      expect(verifyAnchorsSuccessor(v1, v2)).toEqual({ ok: true, reasons: [], signedBy: [APPROVERS[0]!.id, APPROVERS[1]!.id].sort(), threshold: 2 });
    });
  });

  describe('when the successor is not what a ceremony approved', () => {
    it('refuses a version that does not follow', () => {
      expect(verifyAnchorsSuccessor(v1, { ...v2, version: 3 }).reasons).toContain('version 3 does not follow version 1');
    });

    it('refuses a version without a ceremony, or whose digest is not its proposal’s', () => {
      expect(verifyAnchorsSuccessor(v1, { ...v2, ceremony: null })).toMatchObject({ ok: false, reasons: ['version 2 names no ceremony'] });
      expect(verifyAnchorsSuccessor(v1, { ...v2, ceremony: { ...ceremony, proposalDigest: '0'.repeat(64) } }).reasons).toContain('proposalDigest is not the SHA-256 of the proposal');
    });

    it('counts each approver once, and only valid signatures by previous approvers', () => {
      const once = approve(APPROVERS[0]!);
      expect(verifyAnchorsSuccessor(v1, { ...v2, signatures: [once, once] }).reasons).toContain('signed by 1/2 approvers of version 1');
      const stranger = keyFrom(99);
      const forged = [once, { keyid: stranger.id, sig: ed25519Sign(stranger.privateKey, approvalMessage(proposal)).toString('base64') }, { keyid: APPROVERS[2]!.id, sig: once.sig }];
      expect(verifyAnchorsSuccessor(v1, { ...v2, signatures: forged })).toMatchObject({ ok: false, signedBy: [APPROVERS[0]!.id] });
    });

    it('refuses changes the proposal does not name', () => {
      const removed = verifyAnchorsSuccessor(v1, { ...v2, keys: { [NEW.id]: rotatedKeys[NEW.id]! } });
      expect(removed.reasons.some((r) => r.startsWith('keys were removed'))).toBe(true);
      const otherKey = verifyAnchorsSuccessor(v1, { ...v2, keys: { ...rotatedKeys, [NEW.id]: { ...rotatedKeys[NEW.id]!, rawBytes: OLD.rawBytes } } });
      expect(otherKey.reasons).toContain(`key ${NEW.id} is not the public key the proposal names`);
      const approverChange = verifyAnchorsSuccessor(v1, { ...v2, approvers: { ...approvers, [NEW.id]: { rawBytes: NEW.rawBytes, keyDetails: 'PKIX_ED25519' } } });
      expect(approverChange.reasons).toContain('a rotate-key ceremony cannot change approvers or thresholds');
    });

    it('refuses a validity extended beyond its end', () => {
      const v3: AnchorsDocument = { ...v2, version: 3, ceremony: { ...ceremony, ceremonyId: 'c-3' } };
      const extended = { ...v3, keys: { ...rotatedKeys, [OLD.id]: { ...rotatedKeys[OLD.id]!, validFor: { start: T0, end: T2 } } } };
      expect(verifyAnchorsSuccessor(v2, extended).reasons).toContain(`key ${OLD.id} extended its validity`);
    });
  });
});
