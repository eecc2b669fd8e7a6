/**
 * Issue 6, the whole story through HTTP and the CLI: sign 50 bundles, open a rotation, approve 2
 * of 3 with `sigledger approve`, and check every bundle, attestation and anchors version with
 * independent verification (@sigstore/verify, DSSE over both keys, the anchors chain check).
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devApproverPath } from '../../src/app/trust/approvers-service.ts';
import { ed25519DsseVerifier, verifyEnvelope } from '../../src/crypto/dsse.ts';
import { keyIdOf, publicKeyFromSpki } from '../../src/crypto/ed25519.ts';
import { verifyAnchorsSuccessor, type AnchorsDocument } from '../../src/domain/anchors.ts';
import { approvalMessage, type CeremonyProposal } from '../../src/domain/ceremony.ts';
import { runCli } from '../support/cli.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { http, type Json } from '../support/http.ts';
import { verifyBundleWithAnchors } from '../support/sigstore.ts';
import { approvalBy, devApproval, devApproverId } from '../support/approvers.ts';

const BUNDLES = 50;


/** Events other than the log's own checkpoints (which the publisher appends on its own schedule). */
async function eventCount(svc: TestService): Promise<number> {
  const events = await svc.ledger.store.readAll({ maxCount: 100_000 });
  return events.filter((e) => e.type !== 'CheckpointPublished').length;
}

describe('rotation', () => {
  let svc: TestService;
  let admin: Record<string, string>;
  const bundleIds: string[] = [];
  let before: { anchors: AnchorsDocument; at: string };
  let rotation: Json;
  let root: Json;

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' });
    admin = await svc.tokens({ scopes: ['ledger.admin'] });
    const signer = await svc.tokens();
    for (let i = 0; i < BUNDLES; i++) {
      const r = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from(`artifact ${i}`).toString('base64') } });
      expect(r.status).toBe(201);
      bundleIds.push(r.body.bundleId);
    }
    before = { anchors: (await http(svc, '/api/v1/trust/anchors')).body as AnchorsDocument, at: new Date().toISOString() };
    await new Promise((r) => setTimeout(r, 1100)); // the transition lands on a later whole second
  }, 60_000);

  afterAll(async () => {
    await svc?.stop();
  });

  describe('when a rotation is opened and approved by 2 of 3 approvers with `sigledger approve`', () => {
    beforeAll(async () => {
      const opened = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'monthly rotation' } });
      expect(opened.status).toBe(202);
      expect(opened.body.state).toBe('awaiting-approval');
      rotation = opened.body;

      const first = await runCli(['approve', '--url', svc.url, '--ceremony', rotation.ceremonyId, '--key', devApproverPath(svc.dataDir, 1), '--yes']);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout).toContain('approved by 1/2 approvers');
      // One approval of three does not execute.
      expect((await http(svc, `/api/v1/rotations/${rotation.rotationId}`)).body.state).toBe('awaiting-approval');
      expect((await http(svc, `/api/v1/ceremonies/${rotation.ceremonyId}`)).body.state).toBe('partially-approved');

      const second = await runCli(['approve', '--url', svc.url, '--ceremony', rotation.ceremonyId, '--key', devApproverPath(svc.dataDir, 2), '--yes'], {}, 60_000);
      expect(second.stderr).toContain('completed');
      expect(second.code).toBe(0);
      root = (await http(svc, '/api/v1/trust/trusted_root.json')).body;
    }, 90_000);

    it('completes with every bundle re-signed and none failed', async () => {
      const r = await http(svc, `/api/v1/rotations/${rotation.rotationId}`);
      expect(r.body).toMatchObject({ rotationId: rotation.rotationId, ceremonyId: rotation.ceremonyId, state: 'completed', progress: { resigned: BUNDLES, remaining: 0, failed: 0 } });
      expect(r.body.newKeyId).not.toBe(r.body.oldKeyId);
      expect((await http(svc, `/api/v1/ceremonies/${rotation.ceremonyId}`)).body.state).toBe('executed');
      const keys = (await http(svc, '/api/v1/keys')).body as Json[];
      expect(keys.find((k) => k.keyId === r.body.oldKeyId)).toMatchObject({ status: 'retired' });
      expect(keys.find((k) => k.keyId === r.body.newKeyId)).toMatchObject({ status: 'active' });
      const metrics = await (await fetch(`${svc.url}/metrics`)).text();
      expect(metrics).toMatch(/sigledger_resignings_total\{result="resigned"\} 50/);
    });

    it('gives every bundle a version 2 by the new key that verifies with the current anchors', async () => {
      const anchors = (await http(svc, '/api/v1/trust/anchors')).body;
      const r = (await http(svc, `/api/v1/rotations/${rotation.rotationId}`)).body;
      for (const id of bundleIds) {
        const b = (await http(svc, `/api/v1/bundles/${id}`)).body;
        expect(b.latestVersion).toBe(2);
        expect(b.versions.map((v: Json) => v.keyId)).toEqual([r.oldKeyId, r.newKeyId]);
        expect(b.versions[1].reason).toBe('monthly rotation');
        const v2 = (await http(svc, `/api/v1/bundles/${id}/versions/2`)).body;
        expect(() => verifyBundleWithAnchors(v2.bundle, anchors.keys, root)).not.toThrow();
        expect(() => verifyBundleWithAnchors(b.bundle, anchors.keys, root)).not.toThrow();
      }
    });

    it('keeps every version 1 valid with the anchors as they were before the rotation', async () => {
      const then = await http(svc, `/api/v1/trust/anchors?at=${encodeURIComponent(before.at)}`);
      expect(then.body.version).toBe(before.anchors.version);
      for (const id of bundleIds) {
        const v1 = (await http(svc, `/api/v1/bundles/${id}/versions/1`)).body;
        expect(() => verifyBundleWithAnchors(v1.bundle, then.body.keys, root)).not.toThrow();
      }
    });

    it('gives each version 2 a re-signing attestation that verifies and names the keys and the reason', async () => {
      const anchors = (await http(svc, '/api/v1/trust/anchors')).body;
      const r = (await http(svc, `/api/v1/rotations/${rotation.rotationId}`)).body;
      for (const id of bundleIds.slice(0, 10)) {
        const v2 = (await http(svc, `/api/v1/bundles/${id}/versions/2`)).body;
        expect(() => verifyBundleWithAnchors(v2.attestation, anchors.keys, root)).not.toThrow();
        const statement = JSON.parse(Buffer.from(v2.attestation.dsseEnvelope.payload, 'base64').toString('utf8'));
        expect(statement.predicateType).toBe('https://sigledger.dev/attestations/resign/v1');
        expect(statement.predicate).toMatchObject({ bundleId: id, fromVersion: 1, toVersion: 2, oldKeyId: r.oldKeyId, newKeyId: r.newKeyId, reason: 'monthly rotation', rotationId: rotation.rotationId, ceremonyId: rotation.ceremonyId });
        expect(statement.predicate.oldEnvelopeSha256).toMatch(/^[0-9a-f]{64}$/);
      }
    });

    it('records a key transition attestation that verifies under both keys and carries the approvals', async () => {
      const r = (await http(svc, `/api/v1/rotations/${rotation.rotationId}`)).body;
      const keys = (await http(svc, '/api/v1/keys')).body as Json[];
      const verifier = (keyId: string) => ed25519DsseVerifier(keyId, publicKeyFromSpki(Buffer.from(keys.find((k) => k.keyId === keyId)!.publicKey, 'base64')));
      const envelope = r.transitionAttestation.envelope;
      const result = verifyEnvelope(envelope, [verifier(r.oldKeyId), verifier(r.newKeyId)]);
      expect([...result.verifiedKeyIds].sort()).toEqual([r.oldKeyId, r.newKeyId].sort());
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
      expect(statement.predicateType).toBe('https://sigledger.dev/attestations/key-transition/v1');
      expect(statement.predicate).toMatchObject({ oldKeyId: r.oldKeyId, newKeyId: r.newKeyId, rotationId: rotation.rotationId, ceremonyId: rotation.ceremonyId });
      expect(statement.predicate.approvals).toHaveLength(2);
      for (const a of statement.predicate.approvals) {
        const ok = createPublicKey({ key: Buffer.from(a.publicKey, 'base64'), format: 'der', type: 'spki' });
        expect(require('node:crypto').verify(null, approvalMessage(statement.predicate.proposal), ok, Buffer.from(a.signature, 'base64'))).toBe(true);
      }
    });

    it('publishes anchors version N+1 that verifies against the approvers of version N, and refuses a forged one', async () => {
      const next = (await http(svc, '/api/v1/trust/anchors')).body as AnchorsDocument;
      expect(next.version).toBe(before.anchors.version + 1);
      const check = verifyAnchorsSuccessor(before.anchors, next);
      expect(check.reasons).toEqual([]);
      expect(check.ok).toBe(true);
      expect(check.signedBy).toHaveLength(2);
      const oneSignature = verifyAnchorsSuccessor(before.anchors, { ...next, signatures: next.signatures.slice(0, 1) });
      expect(oneSignature.reasons).toContain(`signed by 1/2 approvers of version ${before.anchors.version}`);
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const rogue = keyIdOf(publicKey.export({ format: 'der', type: 'spki' }));
      const swapped = { ...next, keys: { ...next.keys, [rogue]: { rawBytes: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), keyDetails: 'PKIX_ED25519' as const, validFor: { start: next.issuedAt } } } };
      expect(verifyAnchorsSuccessor(before.anchors, swapped).ok).toBe(false);
      void privateKey;
    });
  });

  describe('when approvals are wrong', () => {
    let ceremony: Json;
    let other: Json;
    const idOf = (n: number) => devApproverId(svc.dataDir, n);
    const approval = (n: number, proposal: CeremonyProposal) => devApproval(svc.dataDir, n, proposal);

    beforeAll(async () => {
      ceremony = (await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'update-anchors' }, reason: 'refusal matrix' } })).body;
      other = (await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'update-anchors' }, reason: 'another proposal' } })).body;
      expect(ceremony.state).toBe('pending');
      const first = await http(svc, `/api/v1/ceremonies/${ceremony.ceremonyId}/approvals`, { method: 'POST', json: approval(1, ceremony.proposal) });
      expect(first.status).toBe(200);
      expect(first.body.progress).toBe('approved by 1/2 approvers');
    });

    const refusals: [string, () => Json, number, string][] = [
      ['a repeated approver', () => approval(1, ceremony.proposal), 409, 'already_approved'],
      ['an approver not enrolled', () => {
        return approvalBy(generateKeyPairSync('ed25519').privateKey, ceremony.proposal);
      }, 422, 'not_enrolled'],
      ['a bad signature', () => ({ approverId: idOf(2), signature: Buffer.alloc(64, 7).toString('base64') }), 422, 'bad_signature'],
      ['a signature over another proposal', () => approval(2, other.proposal), 422, 'bad_signature'],
    ];
    for (const [what, body, status, reason] of refusals) {
      it(`rejects ${what} with ${status} ${reason} and appends nothing`, async () => {
        const head = await eventCount(svc);
        const r = await http(svc, `/api/v1/ceremonies/${ceremony.ceremonyId}/approvals`, { method: 'POST', json: body() });
        expect(r.status).toBe(status);
        expect(r.body.reason).toBe(reason);
        expect(r.body.detail).toEqual(expect.any(String));
        expect(await eventCount(svc)).toBe(head);
        expect((await http(svc, `/api/v1/ceremonies/${ceremony.ceremonyId}`)).body.progress).toBe('approved by 1/2 approvers');
      });
    }

    it('rejects an approval after cancel with 409 cancelled and appends nothing', async () => {
      const cancelled = await http(svc, `/api/v1/ceremonies/${other.ceremonyId}/cancel`, { method: 'POST', headers: admin, json: { reason: 'not needed' } });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.state).toBe('cancelled');
      const head = await eventCount(svc);
      const r = await http(svc, `/api/v1/ceremonies/${other.ceremonyId}/approvals`, { method: 'POST', json: approval(1, other.proposal) });
      expect(r.status).toBe(409);
      expect(r.body.reason).toBe('cancelled');
      expect(await eventCount(svc)).toBe(head);
    });

    it('refuses the CLI for an approver of a cancelled ceremony with a clear error', async () => {
      const r = await runCli(['approve', '--url', svc.url, '--ceremony', other.ceremonyId, '--key', devApproverPath(svc.dataDir, 3), '--yes']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/key_state_conflict: .*cancelled/);
    });
  });
});
