/**
 * Issue 16 finding 9: `sigledger approve` shows what it is about to sign — action, parameters,
 * reason, proposal digest, expiry — with anything that could drive the terminal escaped, and signs
 * only after a yes on a terminal or with `--yes`; without a terminal and without `--yes` it signs
 * nothing (exit 2).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devApproverPath } from '../../src/app/trust/approvers-service.ts';
import { approve } from '../../src/cli/approve.ts';
import { proposalDigest, type CeremonyProposal } from '../../src/domain/ceremony.ts';
import { devApproverId } from '../support/approvers.ts';
import { runCli } from '../support/cli.ts';
import { http } from '../support/http.ts';
import { startTestService, type TestService } from '../support/service.ts';

interface Captured {
  out: string[];
  err: string[];
}

describe('sigledger approve', () => {
  let svc: TestService;
  let admin: Record<string, string>;
  const capture = (): Captured & { io: { out: (l: string) => void; err: (l: string) => void } } => {
    const c: Captured = { out: [], err: [] };
    return { ...c, io: { out: (l) => c.out.push(l), err: (l) => c.err.push(l) } };
  };
  const openCeremony = async (reason: string) => {
    const r = await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'update-anchors', thresholds: { 'rotate-key': 2 } }, reason } });
    expect(r.status).toBe(201);
    return r.body as { ceremonyId: string; proposal: CeremonyProposal; proposalDigest: string; expiresAt: string };
  };
  const approvals = async (id: string) => ((await http(svc, `/api/v1/ceremonies/${id}`)).body as { progress: string }).progress;

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off' });
    admin = await svc.tokens({ scopes: ['ledger.admin'] });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  describe('when it runs without a terminal and without --yes', () => {
    it('prints the action, its parameters, the reason, the digest and the expiry, signs nothing and exits 2', async () => {
      const c = await openCeremony('raise the rotation threshold');
      const before = await approvals(c.ceremonyId);
      const cap = capture();
      const code = await approve({ url: svc.url, ceremony: c.ceremonyId, key: devApproverPath(svc.dataDir, 1), wait: false }, { ...cap.io, input: { isTTY: false } });
      expect(code).toBe(2);
      const shown = cap.out.join('\n');
      expect(shown).toContain('update-anchors');
      expect(shown).toContain('{"thresholds":{"rotate-key":2}}');
      expect(shown).toContain('raise the rotation threshold');
      expect(shown).toContain(c.proposalDigest);
      expect(shown).toContain(c.proposal.expiresAt);
      expect(cap.err.join('\n')).toMatch(/not signed.*--yes/);
      expect(await approvals(c.ceremonyId)).toBe(before);
    });

    it('does the same as the real command (stdin not a TTY), and approves with --yes', async () => {
      const c = await openCeremony('cli approval');
      const args = ['approve', '--url', svc.url, '--ceremony', c.ceremonyId, '--key', devApproverPath(svc.dataDir, 1), '--no-wait'];
      const refused = await runCli(args, {}, 60_000);
      expect(refused.code).toBe(2);
      expect(refused.stdout).toContain(c.proposalDigest);
      expect(refused.stderr).toMatch(/--yes/);
      expect(await approvals(c.ceremonyId)).toMatch(/ 0\//);
      const approved = await runCli([...args, '--yes'], {}, 60_000);
      expect(approved.code, approved.stderr).toBe(0);
      expect(await approvals(c.ceremonyId)).toMatch(/ 1\//);
    });
  });

  describe('when it runs on a terminal', () => {
    it('asks, and signs only after a yes', async () => {
      const c = await openCeremony('ask first');
      const asked: string[] = [];
      const no = capture();
      expect(await approve({ url: svc.url, ceremony: c.ceremonyId, key: devApproverPath(svc.dataDir, 1), wait: false }, { ...no.io, input: { isTTY: true }, confirm: async (q) => (asked.push(q), false) })).toBe(1);
      expect(asked[0]).toMatch(/approve update-anchors as [0-9a-f]{64}\? \[y\/N\]/);
      expect(await approvals(c.ceremonyId)).toMatch(/ 0\//);
      const yes = capture();
      expect(await approve({ url: svc.url, ceremony: c.ceremonyId, key: devApproverPath(svc.dataDir, 1), wait: false }, { ...yes.io, input: { isTTY: true }, confirm: async () => true })).toBe(0);
      expect(await approvals(c.ceremonyId)).toMatch(/ 1\//);
    });
  });

  describe('when the proposal text would drive the terminal', () => {
    // A reason from before the rule, or from a hostile service: the digest matches, the text is hostile.
    let server: Server;
    let url: string;
    const proposal: CeremonyProposal = {
      action: { type: 'update-anchors', note: 'x\u001b]0;title\u0007' },
      reason: 'routine\u001b[2J\u001b[H\u202eapproved\u202c\nsecond line\u009b31m',
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-08T00:00:00.000Z',
      nonce: 'n',
    } as unknown as CeremonyProposal;
    let posted = 0;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.method === 'POST') posted++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ceremonyId: 'cer-hostile', proposal, proposalDigest: proposalDigest(proposal), approvers: [devApproverId(svc.dataDir, 1)], state: 'pending', progress: '0/2', threshold: 2 }));
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => server?.close());

    it('prints every control, separator and bidi character escaped, one line per field', async () => {
      const cap = capture();
      expect(await approve({ url, ceremony: 'cer-hostile', key: devApproverPath(svc.dataDir, 1), wait: false }, { ...cap.io, input: { isTTY: false } })).toBe(2);
      const shown = cap.out.join('\n');
      expect(shown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
      expect(cap.out.every((l) => !l.includes('\n'))).toBe(true);
      expect(shown).toContain('routine\\u001b[2J\\u001b[H\\u202eapproved\\u202c\\u000asecond line\\u009b31m');
      expect(posted).toBe(0);
    });
  });
});
