import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { importPKCS8, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_AUDIENCE, DEV_OPTOK_ISSUER, DEV_POE_ISSUER } from '../../src/app/access/auth/dev-issuer.ts';
import { pae } from '../../src/crypto/dsse.ts';
import { rawFromSpki } from '../../src/crypto/ed25519.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { expectProblem } from '../support/problem.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { verifyBundle, type ApiKey } from '../support/sigstore.ts';

const PLANS = JSON.stringify({
  team: { qps: 1000, burst: 1000, concurrency: 64, maxArtifactBytes: 64 * 1024 },
  tiny: { qps: 1, burst: 2, concurrency: 8, maxArtifactBytes: 1024 },
  single: { qps: 1000, burst: 1000, concurrency: 1, maxArtifactBytes: 1024 * 1024 },
});

const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'release.tar.gz', digest: { sha256: 'cd'.repeat(32) } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: { builder: { id: 'ci' } },
};

interface SignResponse {
  bundleId: string;
  version: number;
  keyId: string;
  logIndex: number | null;
  bundle: { dsseEnvelope: { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] } };
  signingIdentity: { mode: string; keyId: string; algorithm: string; backend: string };
}

describe('POST /api/v1/signer/sign/dsse', () => {
  let svc: TestService;
  let headers: Record<string, string>;

  const sign = (body: unknown, extra: Record<string, string> = headers, raw?: string) =>
    svc.app.request('/api/v1/signer/sign/dsse', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...extra },
      body: raw ?? JSON.stringify(body),
    });
  const keys = async () => (await (await svc.app.request('/api/v1/keys')).json()) as ApiKey[];
  const trustedRoot = async () => (await svc.app.request('/api/v1/trust/trusted_root.json')).json();
  const verifyBundleSignature = async (bundle: unknown, registry: ApiKey[]) => verifyBundle(bundle, registry, await trustedRoot());
  const head = () => svc.ledger.store.headPosition();

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_PLANS: PLANS, SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10' });
    headers = await svc.tokens();
  });
  afterAll(async () => {
    await svc.stop();
  });

  describe('when a payload is signed', () => {
    it('answers 201 with a bundle that @sigstore/verify accepts with the key from GET /api/v1/keys', async () => {
      const res = await sign({ payloadType: 'text/plain', payload: Buffer.from('hello sigledger').toString('base64') });
      expect(res.status).toBe(201);
      const body = (await res.json()) as SignResponse;
      const registry = await keys();
      expect(registry).toHaveLength(1);
      expect(registry[0]).toMatchObject({ keyId: body.keyId, algorithm: 'ed25519', status: 'active', backend: 'file' });
      expect(body.signingIdentity).toEqual({ mode: 'keyful', keyId: body.keyId, algorithm: 'ed25519', backend: 'file' });
      expect(body.version).toBe(1);
      expect(body.bundleId).toMatch(/^[0-9a-f]{64}$/);
      await verifyBundleSignature(body.bundle, registry);
      // Independent check with @noble/ed25519 over the DSSE PAE.
      const env = body.bundle.dsseEnvelope;
      const ok = await ed.verifyAsync(
        Buffer.from(env.signatures[0]!.sig, 'base64'),
        pae(env.payloadType, Buffer.from(env.payload, 'base64')),
        rawFromSpki(Buffer.from(registry[0]!.publicKey, 'base64')),
      );
      expect(ok).toBe(true);
    });

    it('rejects the bundle when its payload was altered (the check can fail)', async () => {
      const res = await sign({ payloadType: 'text/plain', payload: Buffer.from('tamper me').toString('base64') });
      const body = (await res.json()) as SignResponse;
      body.bundle.dsseEnvelope.payload = Buffer.from('tampered!').toString('base64');
      await expect(verifyBundleSignature(body.bundle, [])).rejects.toThrow();
      const registry = await keys();
      await expect(verifyBundleSignature(body.bundle, registry)).rejects.toThrow(/hash|digest|signature/i);
    });

    it('answers the same request again with 200, byte-identical envelope, nothing appended', async () => {
      const req = { payloadType: 'application/vnd.test+json', payload: Buffer.from('{"same":true}').toString('base64') };
      const first = await sign(req);
      expect(first.status).toBe(201);
      const a = (await first.json()) as SignResponse;
      const before = await head();
      const second = await sign(req);
      expect(second.status).toBe(200);
      const b = (await second.json()) as SignResponse;
      expect(JSON.stringify(b.bundle.dsseEnvelope)).toBe(JSON.stringify(a.bundle.dsseEnvelope));
      expect(b.bundleId).toBe(a.bundleId);
      expect(await head()).toBe(before);
    });

    it('gives another tenant its own bundle for the same payload', async () => {
      const req = { payloadType: 'text/plain', payload: Buffer.from('shared').toString('base64') };
      const a = (await (await sign(req)).json()) as SignResponse;
      const other = await svc.tokens({ tenant: 'globex' });
      const res = await sign(req, other);
      expect(res.status).toBe(201);
      expect(((await res.json()) as SignResponse).bundleId).not.toBe(a.bundleId);
    });

    it('signs an in-toto statement canonicalised with JCS, whatever the key order', async () => {
      const res = await sign({ statement });
      expect(res.status).toBe(201);
      const a = (await res.json()) as SignResponse;
      expect(a.bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
      const reordered = { predicate: statement.predicate, subject: statement.subject, predicateType: statement.predicateType, _type: statement._type };
      const again = await sign({ statement: reordered });
      expect(again.status).toBe(200);
      expect(((await again.json()) as SignResponse).bundleId).toBe(a.bundleId);
      await verifyBundleSignature(a.bundle, await keys());
    });

    it('serves the bundle and its versions from GET /api/v1/bundles', async () => {
      const created = (await (await sign({ payloadType: 'text/plain', payload: Buffer.from('served').toString('base64') })).json()) as SignResponse;
      const res = await svc.app.request(`/api/v1/bundles/${created.bundleId}`);
      expect(res.status).toBe(200);
      const view = (await res.json()) as { bundleId: string; latestVersion: number; versions: { version: number; keyId: string; reason: string }[]; bundle: unknown };
      expect(view).toMatchObject({ bundleId: created.bundleId, latestVersion: 1, versions: [{ version: 1, keyId: created.keyId, reason: 'signed' }] });
      expect(view.bundle).toEqual(created.bundle);
      const v1 = await svc.app.request(`/api/v1/bundles/${created.bundleId}/versions/1`);
      expect(await v1.json()).toEqual({ version: 1, bundle: created.bundle });
      expect((await svc.app.request(`/api/v1/bundles/${created.bundleId}/versions/2`)).status).toBe(404);
      expect((await svc.app.request(`/api/v1/bundles/${created.bundleId}/versions/0`)).status).toBe(400);
      expect((await svc.app.request(`/api/v1/bundles/${'0'.repeat(64)}`)).status).toBe(404);
      expect((await svc.app.request('/api/v1/bundles/..%2F..%2Fetc')).status).toBe(404);
    });
  });

  describe('when an Idempotency-Key is given', () => {
    it('replays the same request and refuses the key for a different one', async () => {
      const key = { ...headers, 'idempotency-key': 'build-4711' };
      const req = { payloadType: 'text/plain', payload: Buffer.from('idem').toString('base64') };
      expect((await sign(req, key)).status).toBe(201);
      expect((await sign(req, key)).status).toBe(200);
      const before = await head();
      const other = await sign({ payloadType: 'text/plain', payload: Buffer.from('other').toString('base64') }, key);
      expect(other.status).toBe(422);
      expect(await other.json()).toMatchObject({ code: 'idempotency_key_reused' });
      expect(await head()).toBe(before);
      expect((await sign(req, { ...headers, 'idempotency-key': 'bad key with spaces' })).status).toBe(400);
    });
  });

  describe('when the caller or the request is bad', () => {
    const devKey = async () => {
      const pem = readFileSync(join(svc.dataDir, 'dev', 'optok-issuer.key'), 'utf8');
      const jwks = JSON.parse(readFileSync(join(svc.dataDir, 'dev', 'jwks.json'), 'utf8')) as { keys: { kid: string }[] };
      return { key: await importPKCS8(pem, 'EdDSA'), kid: jwks.keys[0]!.kid };
    };
    const poeKey = async () => {
      const pem = readFileSync(join(svc.dataDir, 'dev', 'poe-issuer.key'), 'utf8');
      const jwks = JSON.parse(readFileSync(join(svc.dataDir, 'dev', 'poe-jwks.json'), 'utf8')) as { keys: { kid: string }[] };
      return { key: await importPKCS8(pem, 'EdDSA'), kid: jwks.keys[0]!.kid };
    };
    const now = () => Math.floor(Date.now() / 1000);
    async function opTok(claims: JWTPayload, opts: { key?: Awaited<ReturnType<typeof devKey>> } = {}) {
      const k = opts.key ?? (await devKey());
      return new SignJWT({ scope: 'signer.sign', ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid: k.kid })
        .sign(k.key);
    }
    async function poe(claims: JWTPayload) {
      const k = await poeKey();
      return new SignJWT({ tenant: 'acme', plan: 'team', ...claims }).setProtectedHeader({ alg: 'EdDSA', kid: k.kid }).sign(k.key);
    }
    const base = () => ({ iss: DEV_OPTOK_ISSUER, aud: DEV_AUDIENCE, sub: 'dev:acme', exp: now() + 600, iat: now() });
    const poeBase = () => ({ iss: DEV_POE_ISSUER, sub: 'dev:acme', exp: now() + 600, iat: now() });
    const good = { payloadType: 'text/plain', payload: Buffer.from('refused?').toString('base64') };

    async function expectRefused(res: Response, status: number, code: string) {
      const body = await expectProblem(res, status, code as ErrorCode);
      expect(JSON.stringify(body)).not.toMatch(/eyJ/); // never echoes a token
      return body;
    }

    it.each([
      ['no token', async () => ({ 'x-proof-of-entitlement': headers['x-proof-of-entitlement']! }), 401, 'unauthenticated'],
      ['an expired token', async () => ({ ...headers, authorization: `Bearer ${await opTok({ ...base(), exp: now() - 3600, iat: now() - 7200 })}` }), 401, 'unauthenticated'],
      ['a wrong audience', async () => ({ ...headers, authorization: `Bearer ${await opTok({ ...base(), aud: 'other' })}` }), 401, 'unauthenticated'],
      ['a wrong scope', async () => ({ ...headers, authorization: `Bearer ${await opTok({ ...base(), scope: 'ledger.read' })}` }), 403, 'forbidden'],
      [
        'a token from an unknown key',
        async () => {
          const { privateKey } = generateKeyPairSync('ed25519');
          const key = { key: privateKey as unknown as Awaited<ReturnType<typeof devKey>>['key'], kid: (await devKey()).kid };
          return { ...headers, authorization: `Bearer ${await opTok(base(), { key })}` };
        },
        401,
        'unauthenticated',
      ],
      [
        'alg none',
        async () => {
          const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
          return { ...headers, authorization: `Bearer ${enc({ alg: 'none', typ: 'JWT' })}.${enc({ ...base(), scope: 'signer.sign' })}.` };
        },
        401,
        'unauthenticated',
      ],
      ['a PoE of another tenant', async () => ({ ...headers, 'x-proof-of-entitlement': (await svc.tokens({ tenant: 'globex' }))['x-proof-of-entitlement']! }), 403, 'forbidden'],
      ['an expired PoE', async () => ({ ...headers, 'x-proof-of-entitlement': await poe({ ...poeBase(), exp: now() - 3600, iat: now() - 7200 }) }), 403, 'forbidden'],
      ['no PoE', async () => ({ authorization: headers.authorization! }), 403, 'forbidden'],
    ])('refuses %s', async (_name, make, status, code) => {
      const before = await head();
      await expectRefused(await sign(good, await make()), status, code);
      expect(await head()).toBe(before);
    });

    it.each([
      ['malformed JSON', undefined, '{"payloadType": "text/plain", "payload": ', 400, 'bad_request'],
      ['a payload that is not base64', { payloadType: 't', payload: 'not base64!' }, undefined, 400, 'invalid_request'],
      ['an empty payload', { payloadType: 't', payload: '' }, undefined, 400, 'invalid_request'],
      ['wrong field types', { payloadType: 42, payload: ['x'] }, undefined, 400, 'invalid_request'],
      ['a statement that is not an in-toto Statement v1', { statement: { _type: 'https://example.com/v9', subject: [] } }, undefined, 400, 'invalid_statement'],
      ['invalid UTF-8', undefined, '{"payloadType":"t\xff","payload":"aGk="}', 400, 'bad_request'],
      ['an empty body', undefined, '', 400, 'bad_request'],
    ])('refuses %s with a problem and appends nothing', async (_name, body, raw, status, code) => {
      const before = await head();
      const rawBody = raw === undefined ? undefined : raw.includes('\xff') ? Buffer.from(raw, 'latin1').toString('latin1') : raw;
      const res =
        raw !== undefined && raw.includes('\xff')
          ? await svc.app.request('/api/v1/signer/sign/dsse', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(raw, 'latin1') })
          : await sign(body, headers, rawBody);
      await expectRefused(res, status, code);
      expect(await head()).toBe(before);
    });

    it('refuses a non-JSON media type with 415', async () => {
      const res = await svc.app.request('/api/v1/signer/sign/dsse', { method: 'POST', headers: { ...headers, 'content-type': 'text/plain' }, body: 'hi' });
      await expectRefused(res, 415, 'unsupported_media_type');
    });

    it('answers 429 with Retry-After once the plan QPS is used up, appending nothing', async () => {
      const tiny = await svc.tokens({ tenant: 'tiny-co', plan: 'tiny' });
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 4; i++) {
        const res = await sign({ payloadType: 'text/plain', payload: Buffer.from(`qps-${i}`).toString('base64') }, tiny);
        statuses.push(res.status);
        if (res.status === 429) {
          retryAfter = res.headers.get('retry-after');
          expect(await res.json()).toMatchObject({ code: 'rate_limited' });
        }
      }
      expect(statuses.slice(0, 2)).toEqual([201, 201]);
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    });
  });

  describe('when bodies stream in over a real socket', () => {
    function rawPost(path: string, hdrs: Record<string, string>, onSocketReady: (req: import('node:http').ClientRequest) => void) {
      const url = new URL(svc.url);
      return new Promise<{ status: number; body: string; sentBytes: number }>((resolve, reject) => {
        let sent = 0;
        const req = httpRequest({ host: url.hostname, port: url.port, path, method: 'POST', headers: hdrs }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sentBytes: sent }));
        });
        req.on('error', (e) => (sent > 0 ? resolve({ status: -1, body: String(e), sentBytes: sent }) : reject(e)));
        const origWrite = req.write.bind(req);
        req.write = ((chunk: Buffer, ...rest: never[]) => {
          sent += chunk.length;
          return origWrite(chunk, ...rest);
        }) as typeof req.write;
        onSocketReady(req);
      });
    }

    it('answers 413 for a declared body over the plan without reading it', async () => {
      const tiny = await svc.tokens({ tenant: 'tiny-big', plan: 'tiny' });
      const before = await head();
      let timer: NodeJS.Timeout | undefined;
      const result = await rawPost('/api/v1/signer/sign/dsse', { ...tiny, 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) }, (req) => {
        // Send only a first chunk; the answer must come without the remaining ~50 MiB.
        req.write(Buffer.from('{"payloadType":"t","payload":"'));
        timer = setTimeout(() => req.destroy(), 10_000);
      });
      clearTimeout(timer);
      expect(result.status).toBe(413);
      expect(JSON.parse(result.body)).toMatchObject({ code: 'payload_too_large' });
      expect(await head()).toBe(before);
    });

    it('answers 413 for a chunked body as soon as it passes the plan size', async () => {
      const tiny = await svc.tokens({ tenant: 'tiny-chunked', plan: 'tiny' });
      let timer: NodeJS.Timeout | undefined;
      const result = await rawPost('/api/v1/signer/sign/dsse', { ...tiny, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, (req) => {
        let n = 0;
        const pump = () => {
          if (req.destroyed) return;
          req.write(Buffer.alloc(16 * 1024, 0x41));
          if (++n < 200) timer = setTimeout(pump, 5);
        };
        pump();
      });
      clearTimeout(timer);
      expect(result.status).toBe(413);
      expect(result.sentBytes).toBeLessThan(200 * 16 * 1024);
    });

    it('takes no concurrency slot while a body is still streaming in: a second request of a one-slot plan is served', async () => {
      const single = await svc.tokens({ tenant: 'single-co', plan: 'single' });
      let slowReq: import('node:http').ClientRequest | undefined;
      const slow = rawPost('/api/v1/signer/sign/dsse', { ...single, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, (req) => {
        slowReq = req;
        req.write(Buffer.from('{"payloadType":"text/plain",'));
      });
      // The first request's body is still streaming: it holds no slot (bodies are read before a slot is taken).
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(`${svc.url}/api/v1/signer/sign/dsse`, {
        method: 'POST',
        headers: { ...single, 'content-type': 'application/json' },
        body: JSON.stringify({ payloadType: 'text/plain', payload: 'aGk=' }),
      });
      expect(res.status).toBe(201);
      slowReq!.end('"payload":"aGk="}');
      // The same payload: the bundle the second request created.
      expect((await slow).status).toBe(200);
    });
  });
});
