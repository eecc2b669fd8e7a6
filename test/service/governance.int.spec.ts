/**
 * Issue #16, findings 1 and 2: governance follows the anchors in force. An approver removed
 * while a rotation is open no longer approves it (and an approval made before no longer counts);
 * a threshold raised while a rotation is open applies to it. Each scenario ends with every
 * anchors version verifying against its predecessor, `kit export` + `sigledger verify` of a
 * bundle succeeding, and `sigledger replay` clean.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAnchorsSuccessor, type AnchorsDocument } from '../../src/domain/anchors.ts';
import { devApproval, devApproverId } from '../support/approvers.ts';
import { runCli } from '../support/cli.ts';
import { http, type Json } from '../support/http.ts';
import { startTestService, type TestService } from '../support/service.ts';

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('governance follows the anchors in force (int)', () => {
  let dataDir: string;
  let work: string;
  let svc: TestService;
  let admin: Record<string, string>;

  const open = async (action: Json, reason: string) => {
    const r = await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action, reason } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  const rotation = async (reason: string) => {
    const r = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return (await http(svc, `/api/v1/ceremonies/${r.body.ceremonyId}`)).body;
  };
  const approve = (ceremony: Json, n: number) => http(svc, `/api/v1/ceremonies/${ceremony.ceremonyId}/approvals`, { method: 'POST', json: devApproval(dataDir, n, ceremony.proposal) });
  const ceremony = async (id: string) => (await http(svc, `/api/v1/ceremonies/${id}`)).body;
  const executed = (id: string) => waitFor(() => ceremony(id), (c) => c.state === 'executed');
  const completed = (rotationId: string) => waitFor(async () => (await http(svc, `/api/v1/rotations/${rotationId}`)).body, (r) => r.state === 'completed');
  const anchorsVersions = async (): Promise<AnchorsDocument[]> => {
    const latest = (await http(svc, '/api/v1/trust/anchors')).body as AnchorsDocument;
    const all: AnchorsDocument[] = [];
    for (let v = 1; v <= latest.version; v++) all.push((await http(svc, `/api/v1/trust/anchors/versions/${v}`)).body as AnchorsDocument);
    return all;
  };
  const expectChainVerifies = async () => {
    const versions = await anchorsVersions();
    for (let i = 1; i < versions.length; i++) expect(verifyAnchorsSuccessor(versions[i - 1]!, versions[i]!).reasons, `version ${versions[i]!.version}`).toEqual([]);
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sigledger-governance-'));
    work = mkdtempSync(join(tmpdir(), 'sigledger-governance-work-'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_CEREMONY_TTL: '3600' }, { dataDir });
    admin = await svc.tokens({ scopes: ['ledger.admin'] });
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  describe('when a threshold is raised while a rotation is open (finding 2)', () => {
    it('applies the raised threshold to it, and the chain still verifies', async () => {
      const rot = await rotation('before the raise');
      expect((await approve(rot, 1)).status).toBe(200);
      const raise = await open({ type: 'update-anchors', thresholds: { 'rotate-key': 3 } }, 'three approvers per rotation');
      expect((await approve(raise, 1)).status).toBe(200);
      expect((await approve(raise, 2)).status).toBe(200);
      await executed(raise.ceremonyId);
      const reevaluated = await waitFor(() => ceremony(rot.ceremonyId), (c) => c.threshold === 3);
      expect(reevaluated).toMatchObject({ state: 'partially-approved', progress: 'approved by 1/3 approvers' });
      expect(reevaluated.reevaluation.reason).toMatch(/the threshold is now 3 \(was 2\)/);

      // Two approvals no longer execute it; the third does.
      expect((await approve(rot, 2)).status).toBe(200);
      expect((await ceremony(rot.ceremonyId)).state).toBe('partially-approved');
      expect((await approve(rot, 3)).status).toBe(200);
      await executed(rot.ceremonyId);
      await completed(rot.proposal.action.rotationId);

      const lower = await open({ type: 'update-anchors', thresholds: { 'rotate-key': 2 } }, 'back to two');
      expect((await approve(lower, 1)).status).toBe(200);
      expect((await approve(lower, 2)).status).toBe(200);
      await executed(lower.ceremonyId);
      await expectChainVerifies();
    }, 180_000);
  });

  describe('when an approver is removed while a rotation is open (finding 1)', () => {
    it('refuses the removed approver, drops its earlier approval, and executes only with enrolled approvers', async () => {
      const rot = await rotation('monthly');
      // Approver 3 approves the rotation, then is removed (all 3 approve the removal).
      expect((await approve(rot, 3)).status).toBe(200);
      const removal = await open({ type: 'remove-approver', approverId: devApproverId(dataDir, 3) }, 'approver 3 left');
      for (const n of [1, 2, 3]) expect((await approve(removal, n)).status).toBe(200);
      await executed(removal.ceremonyId);

      // The open rotation was re-evaluated: approver 3's approval no longer counts, and says why.
      const reevaluated = await waitFor(() => ceremony(rot.ceremonyId), (c) => c.reevaluation !== null);
      expect(reevaluated).toMatchObject({ state: 'pending', progress: 'approved by 0/2 approvers' });
      expect(reevaluated.reevaluation.dropped).toEqual([devApproverId(dataDir, 3)]);
      expect(reevaluated.reevaluation.reason).toMatch(/no longer count/);

      // Approver 3 can no longer approve; approver 1 alone is not enough.
      const refused = await approve(rot, 3);
      expect(refused.status).toBe(422);
      expect(refused.body).toMatchObject({ code: 'approval_rejected', reason: 'not_enrolled' });
      expect((await approve(rot, 1)).status).toBe(200);
      expect((await ceremony(rot.ceremonyId)).state).toBe('partially-approved');
      expect((await approve(rot, 2)).status).toBe(200);
      await executed(rot.ceremonyId);
      await completed(rot.proposal.action.rotationId);
      await expectChainVerifies();
    }, 180_000);
  });

  describe('when new anchors make an open rotation impossible to approve', () => {
    it('voids it, saying why, and refuses to open another', async () => {
      const rot = await rotation('doomed');
      expect((await approve(rot, 1)).status).toBe(200);
      // Two approvers are left (finding 1 removed the third): 3 per rotation cannot be met.
      const impossible = await open({ type: 'update-anchors', thresholds: { 'rotate-key': 3 } }, 'three approvers per rotation');
      expect((await approve(impossible, 1)).status).toBe(200);
      expect((await approve(impossible, 2)).status).toBe(200);
      await executed(impossible.ceremonyId);
      const voided = await waitFor(() => ceremony(rot.ceremonyId), (c) => c.state === 'cancelled');
      expect(voided.cancelled).toMatchObject({ by: 'system:governance', reason: expect.stringMatching(/^voided: anchors version \d+ leaves 2 approvers/) });
      expect((await http(svc, `/api/v1/rotations/${rot.proposal.action.rotationId}`)).body.state).toBe('cancelled');
      const r = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'x' } });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.reason).toBe('threshold_unreachable');

      const lower = await open({ type: 'update-anchors', thresholds: { 'rotate-key': 2 } }, 'back to two');
      expect((await approve(lower, 1)).status).toBe(200);
      expect((await approve(lower, 2)).status).toBe(200);
      await executed(lower.ceremonyId);
      await expectChainVerifies();
    }, 180_000);
  });

  describe('when the history is audited', () => {
    it('verifies a bundle through kit export, and replays clean', async () => {
      const signer = await svc.tokens();
      const signed = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from('after governance changes').toString('base64') } });
      expect(signed.status).toBe(201);
      const kit = join(work, 'kit');
      const exported = await runCli(['kit', 'export', '--url', svc.url, '--out', kit], {}, 60_000);
      expect(exported.code, exported.stderr).toBe(0);
      const file = join(work, 'signed.bundle.json');
      writeFileSync(file, JSON.stringify(signed.body.bundle));
      const verified = await runCli(['verify', '--bundle', file, '--trust', kit], {}, 60_000);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);

      await svc.stop();
      const replay = await runCli(['replay', '--data', dataDir, '--json'], {}, 120_000);
      expect(replay.stderr).toBe('');
      expect(JSON.parse(replay.stdout)).toMatchObject({ ok: true, problems: [] });
      svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off' }, { dataDir });
    }, 240_000);
  });
});
