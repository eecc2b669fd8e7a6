import { describe, expect, it } from 'vitest';
import type { CeremonyService, CeremonyView } from '../../src/app/ceremonies/ceremony-service.ts';
import type { RotationService } from '../../src/app/ceremonies/rotation-service.ts';
import { LedgerError } from '../../src/errors.ts';
import { createApp } from '../../src/http/app.ts';
import { ADMIN_SCOPE } from '../../src/http/ceremonies.ts';
import type { CallerAuthenticator } from '../../src/http/signer.ts';
import { expectProblem } from '../support/problem.ts';
import { baseDeps, fakeOf } from './fakes.ts';

const VIEW = { ceremonyId: 'cer-1', proposal: { action: { type: 'rotate-key', rotationId: 'rot-1' } } } as unknown as CeremonyView;

/** The ceremony routes over fake services that record what the routes asked of them. */
function ceremonyApp() {
  const calls: unknown[][] = [];
  const permits = { taken: 0, released: 0 };
  const auth: CallerAuthenticator = {
    authenticate: async ({ authorization, requiredScope }) => {
      calls.push(['authenticate', requiredScope]);
      if (authorization !== 'Bearer admin') throw new LedgerError('unauthenticated', 'no token', { reason: 'missing_token' });
      return { subject: 'dev:admin', tenant: 't', plan: 'p' };
    },
  };
  const ceremonies = fakeOf<CeremonyService>('ceremonies', {
    open: async (...args) => (calls.push(['open', ...args]), VIEW),
    approve: async (id) => {
      calls.push(['approve', id]);
      throw new LedgerError('approval_rejected', 'not an approver', { reason: 'unknown_approver' });
    },
  });
  const rotations = fakeOf<RotationService>('rotations', {
    view: () => undefined,
    detail: async (id) => (calls.push(['detail', id]), undefined),
  });
  const approvals = {
    acquire: () => (permits.taken++, { release: () => void permits.released++ }),
    planOf: () => ({ maxArtifactBytes: 0 }),
  };
  const app = createApp({ ...baseDeps().deps, ceremonies: { ceremonies, rotations, auth, approvals } });
  const post = (path: string, body: unknown, authorization?: string) =>
    app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify(body) });
  return { app, post, calls, permits };
}

describe('ceremony routes (unit)', () => {
  describe('when an admin asks for a rotation', () => {
    it('opens a rotate-key ceremony as that admin and answers 202 with where to follow it', async () => {
      const { post, calls } = ceremonyApp();
      const res = await post('/api/v1/rotations', { reason: 'monthly' }, 'Bearer admin');
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe('/api/v1/rotations/rot-1');
      expect(await res.json()).toEqual({ rotationId: 'rot-1', ceremonyId: 'cer-1', state: 'awaiting-approval' });
      expect(calls).toEqual([
        ['authenticate', ADMIN_SCOPE],
        ['open', 'rotate-key', {}, 'monthly', { actor: 'dev:admin' }],
      ]);
    });
  });

  describe('when the request is refused', () => {
    it('answers the authenticator’s refusal and opens nothing', async () => {
      const { post, calls } = ceremonyApp();
      await expectProblem(await post('/api/v1/rotations', { reason: 'monthly' }), 401, 'unauthenticated', { reason: 'missing_token' });
      expect(calls.filter(([what]) => what === 'open')).toEqual([]);
    });

    it('answers 400 for a body with other members and opens nothing', async () => {
      const { post, calls } = ceremonyApp();
      await expectProblem(await post('/api/v1/rotations', { reason: 'monthly', keyId: 'x' }, 'Bearer admin'), 400, 'invalid_request');
      expect(calls.filter(([what]) => what === 'open')).toEqual([]);
    });
  });

  describe('when a rotation is looked up', () => {
    it('answers 404 for an id that cannot be a rotation without asking the service', async () => {
      const { app, calls } = ceremonyApp();
      await expectProblem(await app.request('/api/v1/rotations/not-a-rotation'), 404, 'not_found');
      expect(calls).toEqual([]);
    });

    it('answers 404 for a well-formed id the service does not know', async () => {
      const { app, calls } = ceremonyApp();
      await expectProblem(await app.request('/api/v1/rotations/rot-unknown'), 404, 'not_found', { detail: 'no rotation rot-unknown' });
      expect(calls).toEqual([['detail', 'rot-unknown']]);
    });
  });

  describe('when an approval is refused', () => {
    it('answers the refusal and gives back the approvals slot', async () => {
      const { post, permits } = ceremonyApp();
      await expectProblem(await post('/api/v1/ceremonies/cer-1/approvals', { approverId: 'a', signature: 'b' }), 422, 'approval_rejected', { reason: 'unknown_approver' });
      expect(permits).toEqual({ taken: 1, released: 1 });
    });
  });
});
