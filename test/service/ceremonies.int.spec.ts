/**
 * Ceremonies beyond the monthly rotation: expiry, revocation from a compromise instant, approver
 * enrolment (anchors chain), a threshold of 0, and the anchors SSE stream. In-process service
 * with a clock the test moves.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../src/crypto/ed25519.ts';
import { verifyAnchorsSuccessor, type AnchorsDocument } from '../../src/domain/anchors.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { http, type Json } from '../support/http.ts';
import { verifyBundleWithAnchors } from '../support/sigstore.ts';
import { approvalBy, devApproverKey } from '../support/approvers.ts';



const approverKey = (svc: TestService, n: number) => devApproverKey(svc.dataDir, n);
const approval = approvalBy;

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('ceremonies', () => {
  let svc: TestService;
  let offset = 0;
  let admin: Record<string, string>;
  let signer: Record<string, string>;
  const now = () => new Date(Date.now() + offset);
  const signPayload = async (text: string) => {
    const r = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') } });
    expect(r.status).toBe(201);
    return r.body;
  };
  const open = async (action: Json, reason = 'test') => {
    const r = await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action, reason } });
    expect(r.status).toBe(201);
    return r.body;
  };
  const approve = (ceremony: Json, key: KeyObject) => http(svc, `/api/v1/ceremonies/${ceremony.ceremonyId}/approvals`, { method: 'POST', json: approval(key, ceremony.proposal) });

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_CEREMONY_TTL: '3600' }, { now });
    admin = await svc.tokens({ scopes: ['ledger.admin'] });
    signer = await svc.tokens();
  }, 30_000);
  afterAll(async () => {
    await svc?.stop();
  });

  describe('when a ceremony is opened without the admin scope', () => {
    it('is refused with 403 and appends nothing', async () => {
      const r = await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: signer, json: { action: { type: 'update-anchors' }, reason: 'x' } });
      expect(r.status).toBe(403);
      expect((await http(svc, '/api/v1/rotations', { method: 'POST', json: { reason: 'x' } })).status).toBe(401);
    });
  });

  describe('when an approval arrives after the ceremony expired', () => {
    it('is rejected with 409 expired and records nothing', async () => {
      const c = await open({ type: 'update-anchors' });
      offset += 3601_000;
      const r = await approve(c, approverKey(svc, 1));
      expect(r.status).toBe(409);
      expect(r.body.reason).toBe('expired');
      expect((await http(svc, `/api/v1/ceremonies/${c.ceremonyId}`)).body.approvals).toEqual([]);
    });
  });

  describe('when the active key is revoked from a compromise instant', () => {
    it('ends its validity there, rotates to a new key and re-signs only what was signed since', async () => {
      const early = await Promise.all([signPayload('revoke early 1'), signPayload('revoke early 2')]);
      offset += 2000;
      const since = new Date(Math.floor(now().getTime() / 1000) * 1000).toISOString();
      offset += 1000;
      const late = await Promise.all([signPayload('revoke late 1'), signPayload('revoke late 2'), signPayload('revoke late 3')]);
      const before = (await http(svc, '/api/v1/trust/anchors')).body as AnchorsDocument;
      const keyId = late[0].keyId;
      const c = await open({ type: 'revoke-key', keyId, compromisedSince: since }, 'key compromised');
      expect(c.proposal.action.newKey.keyId).toMatch(/^[0-9a-f]{64}$/);
      expect((await approve(c, approverKey(svc, 1))).status).toBe(200);
      expect((await approve(c, approverKey(svc, 3))).status).toBe(200);
      const rotationId = c.proposal.action.rotationId;
      const rotation = await waitFor(() => http(svc, `/api/v1/rotations/${rotationId}`), (r) => r.body.state === 'completed');
      expect(rotation.body).toMatchObject({ kind: 'revoke', state: 'completed', oldKeyId: keyId, progress: { resigned: 3, remaining: 0, failed: 0 } });

      const key = (await http(svc, `/api/v1/keys/${keyId}`)).body;
      expect(key).toMatchObject({ status: 'revoked', validFor: { end: since } });
      const anchors = (await http(svc, '/api/v1/trust/anchors')).body as AnchorsDocument;
      expect(anchors.keys[keyId]!.validFor.end).toBe(since);
      expect(verifyAnchorsSuccessor(before, anchors)).toMatchObject({ ok: true, reasons: [] });
      const root = (await http(svc, '/api/v1/trust/trusted_root.json')).body;
      for (const b of late) {
        const view = (await http(svc, `/api/v1/bundles/${b.bundleId}`)).body;
        expect(view.latestVersion).toBe(2);
        expect(view.versions[1].keyId).toBe(c.proposal.action.newKey.keyId);
        expect(() => verifyBundleWithAnchors(view.bundle, anchors.keys, root)).not.toThrow();
        // The compromised version no longer verifies with the anchors.
        const v1 = (await http(svc, `/api/v1/bundles/${b.bundleId}/versions/1`)).body;
        expect(() => verifyBundleWithAnchors(v1.bundle, anchors.keys, root)).toThrow(/not valid for timestamp/);
      }
      for (const b of early) {
        const view = (await http(svc, `/api/v1/bundles/${b.bundleId}`)).body;
        expect(view.latestVersion).toBe(1);
        expect(() => verifyBundleWithAnchors(view.bundle, anchors.keys, root)).not.toThrow();
      }
    });
  });

  describe('when an approver is enrolled by all three approvers', () => {
    it('publishes anchors with four approvers that verify against the previous version, and the new approver can approve', async () => {
      const before = (await http(svc, '/api/v1/trust/anchors')).body as AnchorsDocument;
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const spki = publicKey.export({ format: 'der', type: 'spki' });
      const c = await open({ type: 'enroll-approver', publicKey: spki.toString('base64') }, 'new operator');
      expect(c.threshold).toBe(3);
      for (const n of [1, 2]) expect((await approve(c, approverKey(svc, n))).status).toBe(200);
      expect((await http(svc, `/api/v1/ceremonies/${c.ceremonyId}`)).body.state).toBe('partially-approved');
      expect((await approve(c, approverKey(svc, 3))).status).toBe(200);
      const after = await waitFor(
        async () => (await http(svc, '/api/v1/trust/anchors')).body as AnchorsDocument,
        (a) => a.version > before.version,
      );
      expect(Object.keys(after.approvers)).toContain(keyIdOf(spki));
      expect(Object.keys(after.approvers)).toHaveLength(4);
      expect(verifyAnchorsSuccessor(before, after)).toMatchObject({ ok: true });
      expect(verifyAnchorsSuccessor(before, { ...after, signatures: after.signatures.slice(1) }).reasons).toContain(`signed by 2/3 approvers of version ${before.version}`);

      const next = await open({ type: 'update-anchors' }, 'check the new approver');
      expect(next.approvers).toContain(keyIdOf(spki));
      const r = await approve(next, privateKey);
      expect(r.status).toBe(200);
      expect(r.body.progress).toBe('approved by 1/2 approvers');
    });
  });

  describe('when a client follows the anchors stream', () => {
    it('receives the latest version first, then each new version', async () => {
      const ac = new AbortController();
      const res = await fetch(`${svc.url}/api/v1/trust/anchors/stream`, { signal: ac.signal });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      let buffer = '';
      const nextEvent = async (): Promise<Json> => {
        for (;;) {
          const i = buffer.indexOf('\n\n');
          if (i >= 0) {
            const block = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const data = block.split('\n').find((l) => l.startsWith('data:'));
            if (data) return JSON.parse(data.slice(5).trim()) as Json;
            continue;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          buffer += Buffer.from(value).toString('utf8');
        }
      };
      const first = await nextEvent();
      const latest = (await http(svc, '/api/v1/trust/anchors')).body;
      expect(first.version).toBe(latest.version);
      const c = await open({ type: 'update-anchors', thresholds: { 'update-anchors': 1 } }, 'stream test');
      for (const n of [1, 2]) await approve(c, approverKey(svc, n));
      const second = await nextEvent();
      expect(second.version).toBe(latest.version + 1);
      expect(second.thresholds).toEqual({ 'update-anchors': 1 });
      expect(verifyAnchorsSuccessor(latest as AnchorsDocument, second as AnchorsDocument)).toMatchObject({ ok: true });
      ac.abort();
    });
  });
});

describe('ceremonies with a threshold of 0', () => {
  let svc: TestService;
  afterAll(async () => {
    await svc?.stop();
  });
  it('executes a rotation without approvals', async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_CEREMONY_THRESHOLDS: '{"rotate-key":0}' });
    const admin = await svc.tokens({ scopes: ['ledger.admin'] });
    const res = await fetch(`${svc.url}/api/v1/rotations`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'unattended' }) });
    expect(res.status).toBe(202);
    const { rotationId } = (await res.json()) as Json;
    const rotation = await waitFor(async () => (await (await fetch(`${svc.url}/api/v1/rotations/${rotationId}`)).json()) as Json, (r) => r.state === 'completed');
    expect(rotation.state).toBe('completed');
    expect(rotation.newKeyId).not.toBe(rotation.oldKeyId);
  }, 30_000);
});
