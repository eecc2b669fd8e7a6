/**
 * Issue 8 item 3, the authorization matrix: every route the app registers × every kind of caller,
 * each cell the status the route must answer. Rows are checked against `app.routes` (and the
 * OpenAPI document), so a route added without a row fails here.
 *
 * Columns (the credential a cell presents; "the route's scope" is signer.sign for the signer and
 * timestamp routes, ledger.admin for ceremonies/rotations writes, ledger.audit for audit routes):
 *   none            no Authorization, no PoE
 *   expired         OpTok with the route's scope, expired an hour ago (valid PoE)
 *   wrongAudience   OpTok with the route's scope for audience "ledger-admin" instead of "signer"
 *   wrongScope      valid OpTok + PoE carrying every other scope but none the route accepts
 *   foreignPoe      OpTok (tenant acme, the route's scope) + a PoE for tenant globex, same subject
 *   signer          dev token, scope signer.sign
 *   auditor         dev token, scope ledger.audit
 *   admin           dev token, scope ledger.admin
 *   forgedApprover  approvals route: a signature by a non-enrolled key, and bad signature bytes
 *                   from an enrolled approver (both 422). Elsewhere: an enrolled approver's
 *                   genuine signature sent in headers instead of a token (= no token).
 * The approvals route takes no token: its token columns send a valid approval (approver 1, a
 * fresh ceremony per cell) along with that column's token, which must neither help nor hurt.
 *
 * Token-hardening columns (issue 16), each a credential the dev issuers really signed that would
 * pass without the rule; each answers what `expired` (OpTok rules) or `foreignPoe` (PoE rules)
 * answers on that route, with its own reason:
 *   duplicateScope  OpTok claims `{"scope":"<other scopes>",…,"scope":"<the route's scope>"}` (duplicate_key)
 *   duplicateHeader OpTok header `{"alg":"EdDSA","kid":"x","kid":"<real kid>"}` (duplicate_key)
 *   longLifetime    OpTok valid for 25 h (lifetime_too_long; the default maximum is 24 h)
 *   noTenant        OpTok without `tenant` + a PoE bound to it naming tenant acme (missing_tenant)
 *   otherOpTokPoe   OpTok + a PoE (same subject and tenant) bound to another OpTok (poe_binding_mismatch)
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CeremonyProposal } from '../../src/domain/ceremony.ts';
import { openApiDocument } from '../../src/http/openapi.ts';
import { buildQuery } from '../support/tsa-client.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { devTokenMinter, type DevTokenMinter } from '../support/tokens.ts';
import { DEV_AUDIENCE, DEV_OPTOK_ISSUER } from '../../src/app/access/auth/dev-issuer.ts';
import { approvalBy, devApproval, devApproverId } from '../support/approvers.ts';

const COLUMNS = ['none', 'expired', 'wrongAudience', 'wrongScope', 'foreignPoe', 'signer', 'auditor', 'admin', 'forgedApprover'] as const;
type Column = (typeof COLUMNS)[number];
/** One status per column, in COLUMNS order. */
type Statuses = readonly [number, number, number, number, number, number, number, number, number];

/** Which credential a route checks. */
type Guard = 'public' | 'signer' | 'timestamp' | 'admin' | 'audit' | 'approval';
const ROUTE_SCOPES: Record<Guard, string[]> = {
  public: ['signer.sign'],
  signer: ['signer.sign'],
  timestamp: ['signer.sign'],
  admin: ['ledger.admin'],
  audit: ['ledger.audit'],
  approval: ['signer.sign'],
};
/** Every scope the service knows except those the route accepts. */
const OTHER_SCOPES: Record<Guard, string[]> = {
  public: ['ledger.read'],
  signer: ['ledger.admin', 'ledger.audit'],
  timestamp: ['ledger.admin', 'ledger.audit'],
  admin: ['signer.sign', 'ledger.audit'],
  audit: ['signer.sign'],
  approval: ['ledger.read'],
};

interface Req {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array;
  /** Server-Sent Events: on 200 read the status and abort. */
  readonly sse?: boolean;
  /** Expected problem `reason` when it is not the column's usual one. */
  readonly reason?: string;
}

interface Row {
  /** `METHOD /path/{param}` as OpenAPI spells it. */
  readonly route: string;
  readonly guard: Guard;
  /** none, expired, wrongAudience, wrongScope, foreignPoe, signer, auditor, admin, forgedApprover */
  readonly expect: Statuses;
  readonly build: (auth: Record<string, string>, column: Column | HardeningColumn) => Promise<Req[]> | Req[];
  /** Readiness flips to 503 for a moment after each append: retry a 503 for a while. */
  readonly settle?: boolean;
}

// prettier-ignore
const PUBLIC: Statuses =   [200, 200, 200, 200, 200, 200, 200, 200, 200];
// prettier-ignore
const ADMIN = (ok: number): Statuses => [401, 401, 401, 403, 403, 403, 403, ok, 401];
// prettier-ignore
const AUDIT: Statuses =    [401, 401, 401, 403, 403, 403, 200, 200, 401];

const CODE_BY_STATUS: Record<number, string> = { 400: 'bad_request', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 409: 'key_state_conflict', 422: 'approval_rejected', 429: 'rate_limited' };
const REASON_BY_COLUMN: Record<Column, Record<number, string>> = {
  none: { 401: 'missing_token' },
  expired: { 401: 'expired' },
  wrongAudience: { 401: 'bad_audience' },
  wrongScope: { 403: 'missing_scope' },
  foreignPoe: { 403: 'poe_tenant_mismatch' },
  signer: { 403: 'missing_scope' },
  auditor: { 403: 'missing_scope' },
  admin: { 403: 'missing_scope' },
  forgedApprover: { 401: 'missing_token' },
};

const HARDENING = {
  duplicateScope: { like: 'expired', reason: { 401: 'duplicate_key' } },
  duplicateHeader: { like: 'expired', reason: { 401: 'duplicate_key' } },
  longLifetime: { like: 'expired', reason: { 401: 'lifetime_too_long' } },
  noTenant: { like: 'expired', reason: { 401: 'missing_tenant' } },
  otherOpTokPoe: { like: 'foreignPoe', reason: { 403: 'poe_binding_mismatch' } },
} as const satisfies Record<string, { like: Column; reason: Record<number, string> }>;
type HardeningColumn = keyof typeof HARDENING;

const b64 = (s: string) => Buffer.from(s).toString('base64');
const json = (method: string, path: string, auth: Record<string, string>, body: unknown): Req => ({
  method,
  path,
  headers: { ...auth, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('authorization matrix (every route × every kind of caller)', () => {
  let svc: TestService;
  let mint: DevTokenMinter;
  const fx = {} as {
    bundleId: string;
    keyId: string;
    ceremonyId: string;
    proposal: CeremonyProposal;
    rotationId: string;
    admin: Record<string, string>;
    registry: string;
  };
  const approval = (n: number, proposal: CeremonyProposal) => devApproval(svc.dataDir, n, proposal);
  const approverId = (n: number) => devApproverId(svc.dataDir, n);

  const call = async (r: Req) => {
    const ac = new AbortController();
    const res = await fetch(`${svc.url}${r.path}`, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}), signal: ac.signal });
    const contentType = res.headers.get('content-type') ?? '';
    if (r.sse && res.status === 200) {
      ac.abort();
      await res.body?.cancel().catch(() => {});
      return { status: res.status, contentType, body: undefined };
    }
    const text = await res.text();
    return { status: res.status, contentType, body: contentType.includes('json') && text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  const openCeremony = async (reason: string) => {
    const r = await call(json('POST', '/api/v1/ceremonies', fx.admin, { action: { type: 'update-anchors' }, reason }));
    expect(r.status).toBe(201);
    return r.body as { ceremonyId: string; proposal: CeremonyProposal };
  };

  const ROWS: Row[] = [
    { route: 'GET /healthz', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/healthz', headers: h }] },
    { route: 'GET /readyz', guard: 'public', expect: PUBLIC, settle: true, build: (h) => [{ method: 'GET', path: '/readyz', headers: h }] },
    { route: 'GET /metrics', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/metrics', headers: h }] },
    { route: 'GET /openapi.json', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/openapi.json', headers: h }] },
    {
      route: 'POST /api/v1/signer/sign/dsse',
      guard: 'signer',
      expect: [401, 401, 401, 403, 403, 201, 403, 403, 401],
      build: (h, col) => [json('POST', '/api/v1/signer/sign/dsse', h, { payloadType: 'text/plain', payload: b64(`authz matrix ${col} ${randomUUID()}`) })],
    },
    {
      route: 'GET /api/v1/signer/verify/referrers',
      guard: 'signer',
      // The registry (a loopback stub answering 404 to everything) has no referrers: 200, untrusted.
      expect: [401, 401, 401, 403, 403, 200, 403, 403, 401],
      build: (h) => [{ method: 'GET', path: `/api/v1/signer/verify/referrers?repository=${encodeURIComponent(`${fx.registry}/acme/scanner`)}&digest=sha256:${'ab'.repeat(32)}`, headers: h }],
    },
    { route: 'GET /api/v1/bundles/{bundleId}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: `/api/v1/bundles/${fx.bundleId}`, headers: h }] },
    { route: 'GET /api/v1/bundles/{bundleId}/versions/{version}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: `/api/v1/bundles/${fx.bundleId}/versions/1`, headers: h }] },
    { route: 'GET /api/v1/keys', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/keys', headers: h }] },
    { route: 'GET /api/v1/keys/{keyId}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: `/api/v1/keys/${fx.keyId}`, headers: h }] },
    { route: 'GET /api/v1/log/checkpoint', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/log/checkpoint', headers: h }] },
    { route: 'GET /api/v1/log/entries/{index}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/log/entries/0', headers: h }] },
    { route: 'GET /api/v1/log/proof/inclusion', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/log/proof/inclusion?index=0&treeSize=1', headers: h }] },
    { route: 'GET /api/v1/log/proof/consistency', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/log/proof/consistency?from=1&to=1', headers: h }] },
    { route: 'GET /api/v1/log/tile/{path}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/log/tile/0/000.p/1', headers: h }, { method: 'GET', path: '/api/v1/log/tile/entries/000.p/1', headers: h }] },
    { route: 'GET /api/v1/trust/anchors', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/trust/anchors', headers: h }] },
    { route: 'GET /api/v1/trust/anchors/versions/{version}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/trust/anchors/versions/1', headers: h }] },
    { route: 'GET /api/v1/trust/anchors/stream', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/trust/anchors/stream', headers: h, sse: true }] },
    { route: 'GET /api/v1/trust/trusted_root.json', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/trust/trusted_root.json', headers: h }] },
    {
      route: 'POST /api/v1/timestamp',
      guard: 'timestamp',
      // Anonymous callers are served (anonymous quota); a token, once sent, must carry signer.sign.
      expect: [200, 401, 401, 403, 403, 200, 403, 403, 200],
      build: (h, col) => [{ method: 'POST', path: '/api/v1/timestamp', headers: { ...h, 'content-type': 'application/timestamp-query' }, body: buildQuery(Buffer.from(`authz ${col} ${randomUUID()}`), { certReq: true }) }],
    },
    { route: 'POST /api/v1/ceremonies', guard: 'admin', expect: ADMIN(201), build: (h, col) => [json('POST', '/api/v1/ceremonies', h, { action: { type: 'update-anchors' }, reason: `authz matrix ${col}` })] },
    { route: 'GET /api/v1/ceremonies/{id}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: `/api/v1/ceremonies/${fx.ceremonyId}`, headers: h }] },
    {
      route: 'POST /api/v1/ceremonies/{id}/approvals',
      guard: 'approval',
      expect: [200, 200, 200, 200, 200, 200, 200, 200, 422],
      build: async (h, col) => {
        const c = await openCeremony(`authz matrix approvals ${col}`);
        const path = `/api/v1/ceremonies/${c.ceremonyId}/approvals`;
        if (col !== 'forgedApprover') return [json('POST', path, h, approval(1, c.proposal))];
        const rogue = generateKeyPairSync('ed25519');
        return [
          { ...json('POST', path, {}, approvalBy(rogue.privateKey, c.proposal)), reason: 'not_enrolled' },
          { ...json('POST', path, {}, { approverId: approverId(2), signature: Buffer.alloc(64, 7).toString('base64') }), reason: 'bad_signature' },
        ];
      },
    },
    {
      route: 'POST /api/v1/ceremonies/{id}/cancel',
      guard: 'admin',
      expect: ADMIN(200),
      build: async (h, col) => {
        const c = await openCeremony(`authz matrix cancel ${col}`);
        return [json('POST', `/api/v1/ceremonies/${c.ceremonyId}/cancel`, h, { reason: `authz matrix ${col}` })];
      },
    },
    { route: 'POST /api/v1/rotations', guard: 'admin', expect: ADMIN(202), build: (h, col) => [json('POST', '/api/v1/rotations', h, { reason: `authz matrix ${col}` })] },
    { route: 'GET /api/v1/rotations', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: '/api/v1/rotations', headers: h }] },
    { route: 'GET /api/v1/rotations/{id}', guard: 'public', expect: PUBLIC, build: (h) => [{ method: 'GET', path: `/api/v1/rotations/${fx.rotationId}`, headers: h }] },
    { route: 'GET /api/v1/audit/events', guard: 'audit', expect: AUDIT, build: (h) => [{ method: 'GET', path: '/api/v1/audit/events?limit=5', headers: h }] },
    { route: 'GET /api/v1/audit/events/stream', guard: 'audit', expect: AUDIT, build: (h) => [{ method: 'GET', path: '/api/v1/audit/events/stream?after=0', headers: h, sse: true }] },
  ];

  /** Credentials per (guard, column), minted once. */
  const credentialCache = new Map<string, Promise<Record<string, string>>>();
  const credentials = (guard: Guard, column: Column | HardeningColumn): Promise<Record<string, string>> => {
    const key = `${guard}/${column}`;
    let p = credentialCache.get(key);
    if (!p) {
      p = mintCredentials(guard, column);
      credentialCache.set(key, p);
    }
    return p;
  };
  async function mintCredentials(guard: Guard, column: Column | HardeningColumn): Promise<Record<string, string>> {
    const scopes = ROUTE_SCOPES[guard];
    const now = Math.floor(Date.now() / 1000);
    const bound = async (opTok: string) => mint.headers(opTok, await mint.poe({ opTok }));
    const claims = (scopeMembers: string) =>
      `{"iss":"${DEV_OPTOK_ISSUER}","aud":"${DEV_AUDIENCE}","sub":"dev:acme","tenant":"acme","iat":${now},"exp":${now + 600},${scopeMembers}}`;
    switch (column) {
      case 'none':
        return {};
      case 'expired':
        return bound(await mint.opTok({ scopes, iat: now - 7200, exp: now - 3600 }));
      case 'wrongAudience':
        return bound(await mint.opTok({ scopes, audience: 'ledger-admin' }));
      case 'wrongScope':
        return bound(await mint.opTok({ scopes: OTHER_SCOPES[guard] }));
      case 'foreignPoe': {
        const opTok = await mint.opTok({ scopes, tenant: 'acme', subject: 'dev:acme' });
        return mint.headers(opTok, await mint.poe({ tenant: 'globex', subject: 'dev:acme', opTok }));
      }
      case 'duplicateScope':
        return bound(mint.signRaw('opTok', `{"alg":"EdDSA","kid":"${mint.ids.opTokKid}","typ":"at+jwt"}`, claims(`"scope":"${OTHER_SCOPES[guard].join(' ')}","scope":"${scopes.join(' ')}"`)));
      case 'duplicateHeader':
        return bound(mint.signRaw('opTok', `{"alg":"EdDSA","kid":"not-the-key","typ":"at+jwt","kid":"${mint.ids.opTokKid}"}`, claims(`"scope":"${scopes.join(' ')}"`)));
      case 'longLifetime':
        return bound(await mint.opTok({ scopes, iat: now, exp: now + 25 * 3600 }));
      case 'noTenant':
        return bound(await mint.opTok({ scopes, tenant: null }));
      case 'otherOpTokPoe': {
        const other = await mint.opTok({ scopes });
        return mint.headers(await mint.opTok({ scopes }), await mint.poe({ opTok: other }));
      }
      case 'signer':
        return svc.tokens({ scopes: ['signer.sign'] });
      case 'auditor':
        return svc.tokens({ scopes: ['ledger.audit'] });
      case 'admin':
        return svc.tokens({ scopes: ['ledger.admin'] });
      case 'forgedApprover':
        // The strongest thing an approver holds: a genuine signature over a real proposal.
        return { 'x-approver-id': approverId(1), 'x-approver-signature': devApproval(svc.dataDir, 1, fx.proposal).signature };
    }
  }

  const waitFor = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  let emptyRegistry: Server | undefined;
  beforeAll(async () => {
    emptyRegistry = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
    });
    await new Promise<void>((resolve) => emptyRegistry!.listen(0, '127.0.0.1', resolve));
    fx.registry = `127.0.0.1:${(emptyRegistry.address() as AddressInfo).port}`;
    // The stub registry is on loopback: it must be allow-listed explicitly (issue 16, network boundaries).
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_REGISTRIES: fx.registry });
    mint = await devTokenMinter(svc.dataDir);
    fx.admin = await svc.tokens({ scopes: ['ledger.admin'] });
    const signed = await call(json('POST', '/api/v1/signer/sign/dsse', await svc.tokens(), { payloadType: 'text/plain', payload: b64('authz matrix fixture') }));
    expect(signed.status).toBe(201);
    fx.bundleId = String(signed.body!.bundleId);
    fx.keyId = String(signed.body!.keyId);
    await waitFor('a checkpoint covering entry 0', async () => (await call({ method: 'GET', path: '/api/v1/log/entries/0', headers: {} })).status === 200);
    await waitFor('anchors', async () => (await call({ method: 'GET', path: '/api/v1/trust/anchors', headers: {} })).status === 200);
    const c = await openCeremony('authz matrix fixture');
    fx.ceremonyId = c.ceremonyId;
    fx.proposal = c.proposal;
    const rotation = await call(json('POST', '/api/v1/rotations', fx.admin, { reason: 'authz matrix fixture' }));
    expect(rotation.status).toBe(202);
    fx.rotationId = String(rotation.body!.rotationId);
  });
  let cellsRun = 0;
  afterAll(async () => {
    console.log(`[authz matrix] ${ROWS.length} routes, ${cellsRun} cells checked`);
    await svc?.stop();
    emptyRegistry?.close();
  });

  it('has exactly one row per registered (and described) route', () => {
    const rows = ROWS.map((r) => r.route);
    expect(new Set(rows).size).toBe(rows.length);
    const registered = new Set(
      svc.app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)(\{[^}]*\})?/g, '{$1}').replace(/\/\*$/, '/{path}')}`),
    );
    const described = new Set(Object.entries(openApiDocument('test').paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    expect([...registered].sort()).toEqual([...rows].sort());
    expect([...described].sort()).toEqual([...rows].sort());
  });

  const CELLS: readonly { column: Column | HardeningColumn; index: number; reasons: Record<number, string> }[] = [
    ...COLUMNS.map((column, index) => ({ column, index, reasons: REASON_BY_COLUMN[column] })),
    ...(Object.keys(HARDENING) as HardeningColumn[]).map((column) => ({ column, index: COLUMNS.indexOf(HARDENING[column].like), reasons: HARDENING[column].reason as Record<number, string> })),
  ];
  for (const row of ROWS) {
    describe(row.route, () => {
      CELLS.forEach(({ column, index, reasons }) => {
        const expected = row.expect[index]!;
        it(`${column} → ${expected}`, async () => {
          cellsRun++;
          const requests = await row.build(await credentials(row.guard, column), column);
          expect(requests.length).toBeGreaterThan(0);
          for (const r of requests) {
            let res = await call(r);
            if (row.settle) {
              const deadline = Date.now() + 5_000;
              while (res.status === 503 && Date.now() < deadline) {
                await new Promise((ok) => setTimeout(ok, 20));
                res = await call(r);
              }
            }
            const where = `${r.method} ${r.path} as ${column}: ${JSON.stringify(res.body ?? res.contentType)}`;
            expect(res.status, where).toBe(expected);
            if (expected >= 400) {
              expect(res.contentType, where).toBe('application/problem+json');
              expect(res.body?.code, where).toEqual(expect.any(String));
              expect(res.body?.code, where).toBe(CODE_BY_STATUS[expected]);
              const reason = r.reason ?? reasons[expected];
              if (reason !== undefined) expect(res.body?.reason, where).toBe(reason);
            } else if (r.sse) {
              expect(res.contentType, where).toMatch(/^text\/event-stream/);
            }
          }
        });
      });
    });
  }
});
