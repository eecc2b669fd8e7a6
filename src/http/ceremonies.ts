/**
 * Ceremonies and rotations (SPEC §2). Opening and cancelling need the admin scope
 * (`ledger.admin`); an approval is authorised by the approver's signature over the proposal, not
 * by a token; reads are public (a proposal is what approvers must be able to inspect, and holds
 * nothing secret).
 */
import { Hono } from 'hono';
import type { CeremonyService } from '../app/ceremonies/ceremony-service.ts';
import { parseOpenRequest, parseRotationRequest } from '../app/ceremonies/ceremony-service.ts';
import type { RotationService } from '../app/ceremonies/rotation-service.ts';
import { LedgerError } from '../errors.ts';
import { readJsonBody } from './body.ts';
import type { CallerAuthenticator, QuotaGate } from './signer.ts';

export const ADMIN_SCOPE = 'ledger.admin';
const BODY_LIMIT = 16 * 1024;
const ROTATION_ID_RE = /^rot-[A-Za-z0-9-]{1,64}$/;

export interface CeremonyRouteDeps {
  readonly ceremonies: CeremonyService;
  readonly rotations: RotationService;
  readonly auth: CallerAuthenticator;
  /** Approvals carry no token: this gate (tenant and plan "approvals") bounds what anyone can make the service verify. */
  readonly approvals?: QuotaGate;
}

export function ceremonyRoutes(deps: CeremonyRouteDeps): Hono {
  const app = new Hono();
  const admin = (c: { req: { header(name: string): string | undefined } }) =>
    deps.auth.authenticate({ authorization: c.req.header('authorization'), poe: c.req.header('x-proof-of-entitlement'), requiredScope: ADMIN_SCOPE });

  app.post('/api/v1/ceremonies', async (c) => {
    const caller = await admin(c);
    const { type, params, reason } = parseOpenRequest(await readJsonBody(c, BODY_LIMIT));
    const view = await deps.ceremonies.open(type, params, reason, { actor: caller.subject });
    return c.json(view, 201, { location: `/api/v1/ceremonies/${view.ceremonyId}` });
  });

  app.get('/api/v1/ceremonies/:id', async (c) => c.json(await deps.ceremonies.get(c.req.param('id'))));

  app.post('/api/v1/ceremonies/:id/approvals', async (c) => {
    // The body is read (within the body deadline) before a shared slot is taken: a slow sender holds no slot.
    const body = await readJsonBody(c, BODY_LIMIT);
    const permit = deps.approvals?.acquire('approvals', 'approvals');
    try {
      return c.json(await deps.ceremonies.approve(c.req.param('id'), body));
    } finally {
      permit?.release();
    }
  });

  app.post('/api/v1/ceremonies/:id/cancel', async (c) => {
    const caller = await admin(c);
    // The body ({"reason"}) is optional.
    const hasBody = (c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined;
    const raw = hasBody ? await readJsonBody(c, BODY_LIMIT) : {};
    return c.json(await deps.ceremonies.cancel(c.req.param('id'), raw, caller.subject));
  });

  app.post('/api/v1/rotations', async (c) => {
    const caller = await admin(c);
    const reason = parseRotationRequest(await readJsonBody(c, BODY_LIMIT));
    const view = await deps.ceremonies.open('rotate-key', {}, reason, { actor: caller.subject });
    const rotationId = String(view.proposal.action.rotationId);
    const rotation = deps.rotations.view(rotationId);
    return c.json({ rotationId, ceremonyId: view.ceremonyId, state: rotation?.state ?? 'awaiting-approval' }, 202, { location: `/api/v1/rotations/${rotationId}` });
  });

  app.get('/api/v1/rotations', (c) => c.json(deps.rotations.list()));

  app.get('/api/v1/rotations/:id', async (c) => {
    const id = c.req.param('id');
    const view = ROTATION_ID_RE.test(id) ? await deps.rotations.detail(id) : undefined;
    if (!view) throw new LedgerError('not_found', ROTATION_ID_RE.test(id) ? `no rotation ${id}` : 'no such rotation (ids look like rot-…)');
    return c.json(view);
  });

  return app;
}
