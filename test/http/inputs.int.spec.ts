/**
 * Issue 16 finding 9, through HTTP on the real service: impossible instants are refused (not
 * shifted), free text shown to approvers carries no control or bidi characters, and a repeated
 * query parameter is refused on the log proof routes as on the others. Every refusal is a 400
 * problem+json and appends nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.ts';
import { expectProblem } from '../support/problem.ts';

describe('hostile inputs (issue 16 finding 9)', () => {
  let svc: TestService;
  let admin: Record<string, string>;
  const head = () => svc.ledger.store.headPosition();
  /** Streams of the events appended after `position`, without the log publisher's own checkpoints (stream `log`), which follow every batch. */
  const appendedSince = async (position: number) => (await svc.ledger.store.readAll({ after: position })).map((e) => e.stream).filter((s) => s !== 'log');
  // Over real HTTP: the cancel route reads a body only when Content-Length or Transfer-Encoding says there is one.
  const post = (path: string, body: unknown) => fetch(`${svc.url}${path}`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10', SIGLEDGER_ROTATION_CRON: 'off' });
    admin = await svc.tokens({ scopes: ['ledger.admin'] });
    const signed = await svc.app.request('/api/v1/signer/sign/dsse', {
      method: 'POST',
      headers: { ...(await svc.tokens()), 'content-type': 'application/json' },
      body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from('inputs fixture').toString('base64') }),
    });
    expect(signed.status).toBe(201);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  describe('when an instant is not a real calendar instant', () => {
    it.each(['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-12-31T23:59:60Z', '2026-04-31T12:00:00Z', '2025-02-29T00:00:00Z'])(
      'refuses anchors ?at=%s with 400 invalid_time',
      async (at) => {
        await expectProblem(await svc.app.request(`/api/v1/trust/anchors?at=${encodeURIComponent(at)}`), 400, 'bad_request', { reason: 'invalid_time' });
      },
    );

    it('refuses compromisedSince 2026-02-30 in a ceremony proposal and appends nothing', async () => {
      const before = await head();
      const res = await post('/api/v1/ceremonies', { action: { type: 'revoke-key', keyId: 'a'.repeat(64), compromisedSince: '2026-02-30T00:00:00Z' }, reason: 'impossible date' });
      await expectProblem(res, 400, 'invalid_request', { reason: 'invalid_compromised_since' });
      expect(await appendedSince(before)).toEqual([]);
    });
  });

  describe('when a reason carries control or bidi characters', () => {
    const hostile: [string, string][] = [
      ['an ANSI escape (clear screen)', 'routine\u001b[2J\u001b[Happroved by security'],
      ['a newline', 'line one\nline two'],
      ['a carriage return', 'looks fine\rrotate'],
      ['DEL', 'x\u007f'],
      ['a C1 CSI', 'x\u009b31m'],
      ['a right-to-left override', 'rotate \u202ekey-yek\u202c'],
      ['a first-strong isolate', 'a\u2068b\u2069'],
      ['a line separator', 'a\u2028b'],
    ];
    it.each(hostile)('refuses %s in a ceremony reason with 400 control_character and appends nothing', async (_what, reason) => {
      const before = await head();
      await expectProblem(await post('/api/v1/ceremonies', { action: { type: 'update-anchors' }, reason }), 400, 'invalid_request', { reason: 'control_character', field: 'reason' });
      expect(await appendedSince(before)).toEqual([]);
    });

    it.each(hostile)('refuses %s in a rotation reason and appends nothing', async (_what, reason) => {
      const before = await head();
      await expectProblem(await post('/api/v1/rotations', { reason }), 400, 'invalid_request', { reason: 'control_character' });
      expect(await appendedSince(before)).toEqual([]);
    });

    it('refuses one in a cancel reason, leaves the ceremony open and appends nothing', async () => {
      const opened = await post('/api/v1/ceremonies', { action: { type: 'update-anchors' }, reason: 'to be cancelled' });
      expect(opened.status).toBe(201);
      const { ceremonyId } = (await opened.json()) as { ceremonyId: string };
      const before = await head();
      await expectProblem(await post(`/api/v1/ceremonies/${ceremonyId}/cancel`, { reason: 'done\u001b]0;pwned\u0007' }), 400, 'invalid_request', { reason: 'control_character' });
      expect(await appendedSince(before)).toEqual([]);
      expect(((await (await svc.app.request(`/api/v1/ceremonies/${ceremonyId}`)).json()) as { state: string }).state).toBe('pending');
      expect((await post(`/api/v1/ceremonies/${ceremonyId}/cancel`, { reason: 'plain text is fine: ünïcødé, emoji 🔑' })).status).toBe(200);
    });
  });

  describe('when a log proof route gets a repeated query parameter', () => {
    it.each([
      '/api/v1/log/proof/inclusion?index=0&treeSize=1&treeSize=2',
      '/api/v1/log/proof/inclusion?index=0&index=0&treeSize=1',
      '/api/v1/log/proof/consistency?from=1&to=1&to=2',
      '/api/v1/trust/anchors?at=2026-01-01T00:00:00Z&at=2030-01-01T00:00:00Z',
      '/api/v1/audit/events?after=0&after=1',
    ])('refuses %s with 400 repeated_parameter, like the other routes', async (path) => {
      await expectProblem(await svc.app.request(path, { headers: await svc.tokens({ scopes: ['ledger.admin'] }) }), 400, 'bad_request', { reason: 'repeated_parameter' });
    });

    it('still answers the same proof asked once', async () => {
      const deadline = Date.now() + 10_000;
      let res = await svc.app.request('/api/v1/log/proof/inclusion?index=0&treeSize=1');
      while (res.status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        res = await svc.app.request('/api/v1/log/proof/inclusion?index=0&treeSize=1');
      }
      expect(res.status).toBe(200);
    });
  });
});
