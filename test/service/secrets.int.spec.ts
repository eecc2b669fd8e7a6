/**
 * After signing, timestamping, a rotation with approvals, a revocation, audit reads and refused
 * requests: no private key (signing keys old and new, the log key, the TSA key, the token issuers'
 * keys, the approvers' keys), not the KEK and not a registry password appears in the event store, the read models, the
 * service's logs or any response body.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery } from '../support/tsa-client.ts';
import { devPrivateSeeds, filesUnder, needlesOf, sealedKeySeeds, sealedTsaScalars } from '../support/secrets.ts';
import { closeHostileServers, serveHostile, type Hostile } from '../support/hostile-registry.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { devApproval } from '../support/approvers.ts';

describe('secrets', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-secrets-'));
  const kek = randomBytes(32);
  const bodies: Buffer[] = [];
  let logText = '';
  let svc: TestService;

  const call = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${svc.url}${path}`, { ...init, headers, ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}) });
    const body = Buffer.from(await res.arrayBuffer());
    bodies.push(body, Buffer.from(JSON.stringify([...res.headers])));
    return { status: res.status, json: () => JSON.parse(body.toString('utf8')) as Record<string, any> };
  };
  const approve = async (ceremony: Record<string, any>, n: number) => {
    return call(`/api/v1/ceremonies/${ceremony.ceremonyId}/approvals`, { method: 'POST', json: devApproval(dataDir, n, ceremony.proposal) });
  };
  const until = async (fn: () => Promise<boolean>) => {
    for (let i = 0; i < 400 && !(await fn()); i++) await new Promise((r) => setTimeout(r, 25));
  };

  /** A registry that wants Basic auth, and the service's password for it (a secret too). */
  const registryPassword = randomBytes(18).toString('base64url');
  let registry: Hostile;

  beforeAll(async () => {
    const logs = new PassThrough();
    logs.on('data', (d: Buffer) => (logText += d.toString('utf8')));
    registry = await serveHostile((req, res) => {
      const ok = req.headers.authorization === `Basic ${Buffer.from(`ci:${registryPassword}`).toString('base64')}`;
      if (!ok) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
    });
    svc = await startTestService(
      {
        SIGLEDGER_KEK: kek.toString('base64'),
        SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10',
        SIGLEDGER_ROTATION_CRON: 'off',
        SIGLEDGER_REGISTRIES: registry.host,
        SIGLEDGER_REGISTRY_CREDENTIALS: JSON.stringify({ [registry.host]: { username: 'ci', password: registryPassword } }),
      },
      { dataDir, logs },
    );
    const signer = await svc.tokens({ plan: 'unlimited' });
    const admin = await svc.tokens({ scopes: ['ledger.admin'] });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await call('/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from(`secret test ${i}`).toString('base64') } })).json().bundleId);
    await call('/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { statement: { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: 'ab'.repeat(32) } }], predicateType: 'https://example.com/p', predicate: {} } } });
    await call('/api/v1/timestamp', { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: buildQuery(Buffer.from('tsa'), { certReq: true }) });
    const rotation = (await call('/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'secrets' } })).json();
    const ceremony = (await call(`/api/v1/ceremonies/${rotation.ceremonyId}`)).json();
    await approve(ceremony, 1);
    await approve(ceremony, 2);
    await until(async () => (await call(`/api/v1/rotations/${rotation.rotationId}`)).json().state === 'completed');
    const old = (await call(`/api/v1/rotations/${rotation.rotationId}`)).json().oldKeyId;
    const revoke = (await call('/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'revoke-key', keyId: old }, reason: 'done' } })).json();
    await approve(revoke, 2);
    await approve(revoke, 3);
    await until(async () => (await call(`/api/v1/ceremonies/${revoke.ceremonyId}`)).json().state === 'executed');
    // Reads of every kind, and refusals.
    for (const id of ids) {
      await call(`/api/v1/bundles/${id}`);
      await call(`/api/v1/bundles/${id}/versions/2`);
    }
    for (const path of ['/api/v1/keys', '/api/v1/trust/anchors', '/api/v1/trust/anchors/versions/1', '/api/v1/trust/trusted_root.json', '/api/v1/log/checkpoint', '/api/v1/log/entries/0', '/api/v1/log/proof/inclusion?index=0&treeSize=2', '/api/v1/log/tile/0/000.p/2', '/api/v1/rotations', '/metrics', '/openapi.json', '/readyz']) await call(path);
    await call('/api/v1/audit/events?limit=1000', { headers: admin });
    const referrers = await call(`/api/v1/signer/verify/referrers?repository=${registry.host}/acme/scanner&digest=sha256:${'ab'.repeat(32)}`, { headers: signer });
    expect(referrers.status).toBe(200);
    await call('/api/v1/signer/sign/dsse', { method: 'POST', json: { payloadType: 'x', payload: 'AA==' } });
    await call('/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'nope' }, reason: 'x' } });
    await call(`/api/v1/ceremonies/${rotation.ceremonyId}/approvals`, { method: 'POST', json: { approverId: '0'.repeat(64), signature: 'AA==' } });
    await svc.stop();
  }, 90_000);

  afterAll(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await closeHostileServers();
  });

  describe('when every piece of private material is looked for everywhere the service writes or answers', () => {
    it('finds none of it', () => {
      const secrets = [...sealedKeySeeds(dataDir, kek), ...sealedTsaScalars(dataDir, kek), ...devPrivateSeeds(dataDir), { name: 'KEK', bytes: kek }, { name: 'registry password', bytes: Buffer.from(registryPassword) }];
      // Signing keys (initial + rotated in), the log key, the TSA key, 2 token issuers, 3 approvers, the KEK.
      expect(secrets.filter((s) => s.name.startsWith('sealed key'))).toHaveLength(3);
      expect(secrets.filter((s) => s.name.startsWith('TSA key'))).toHaveLength(1);
      expect(secrets.filter((s) => s.name.startsWith('dev key'))).toHaveLength(5);
      const needles = needlesOf(secrets);
      const haystacks = [
        ...filesUnder(dataDir, (rel) => rel === 'keys' || rel === 'dev').map((f) => ({ name: relative(dataDir, f), bytes: readFileSync(f) })),
        { name: 'logs', bytes: Buffer.from(logText) },
        { name: 'responses', bytes: Buffer.concat(bodies) },
      ];
      expect(haystacks.some((h) => h.name === 'events.db')).toBe(true);
      expect(logText).toMatch(/rotation completed/);
      expect(bodies.length).toBeGreaterThan(40);
      for (const { name, bytes } of haystacks) {
        for (const { name: what, needle } of needles) expect(bytes.includes(needle), `${name} contains ${what}`).toBe(false);
      }
      // The scan can fail: a haystack holding a seed is caught.
      expect(Buffer.concat([Buffer.from('x'), secrets[0]!.bytes]).includes(needles[0]!.needle)).toBe(true);
    });
  });
});
