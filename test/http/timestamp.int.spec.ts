import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimeStampResp } from '../support/tsa-client.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { verifyBundleWithAnchors } from '../support/sigstore.ts';

const pem = (b64: string) => `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('POST /api/v1/timestamp', () => {
  let svc: TestService;
  let dir: string;
  let dataDir: string;
  const post = (body: Uint8Array, type = 'application/timestamp-query') =>
    svc.app.request('/api/v1/timestamp', { method: 'POST', headers: { 'content-type': type }, body });
  const head = () => svc.ledger.store.headPosition();
  const trustedRoot = async () =>
    (await (await svc.app.request('/api/v1/trust/trusted_root.json')).json()) as { timestampAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sigledger-tsq-'));
    dataDir = mkdtempSync(join(tmpdir(), 'sigledger-tsa-'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10' }, { dataDir });
    writeFileSync(join(dir, 'artifact.txt'), 'hello timestamp\n');
    const [leaf, root] = (await trustedRoot()).timestampAuthorities[0]!.certChain.certificates;
    writeFileSync(join(dir, 'leaf.pem'), pem(leaf!.rawBytes));
    writeFileSync(join(dir, 'root.pem'), pem(root!.rawBytes));
  });
  afterAll(async () => {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('when openssl asks for a timestamp', () => {
    it.each([['-sha256'], ['-sha384'], ['-sha512']])('answers a %s query with a reply that openssl ts -verify accepts against the published chain', async (alg) => {
      const q = join(dir, `q${alg}.tsq`);
      const r = join(dir, `r${alg}.tsr`);
      openssl(['ts', '-query', '-data', join(dir, 'artifact.txt'), alg, '-cert', '-out', q]);
      const before = await head();
      const res = await post(readFileSync(q));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/timestamp-reply');
      writeFileSync(r, Buffer.from(await res.arrayBuffer()));
      expect(openssl(['ts', '-verify', '-in', r, '-queryfile', q, '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'leaf.pem')])).toMatch(/Verification: OK/);
      // Each granted timestamp is an event.
      expect(await head()).toBeGreaterThan(before);
    });

    it('fails openssl verification for a reply to another query (the check can fail)', async () => {
      const q1 = join(dir, 'a.tsq');
      const q2 = join(dir, 'b.tsq');
      writeFileSync(join(dir, 'other.txt'), 'other\n');
      openssl(['ts', '-query', '-data', join(dir, 'artifact.txt'), '-sha256', '-cert', '-out', q1]);
      openssl(['ts', '-query', '-data', join(dir, 'other.txt'), '-sha256', '-cert', '-out', q2]);
      const res = await post(readFileSync(q1));
      writeFileSync(join(dir, 'a.tsr'), Buffer.from(await res.arrayBuffer()));
      expect(() => openssl(['ts', '-verify', '-in', join(dir, 'a.tsr'), '-queryfile', q2, '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'leaf.pem')])).toThrow();
    });
  });

  describe('when the query is bad', () => {
    it.each([
      ['malformed DER', Buffer.from('3003020101ff', 'hex'), ['badDataFormat', 'badRequest']],
      ['random bytes', Buffer.from('not a timestamp query at all'), ['badDataFormat', 'badRequest']],
      ['an oversized query', Buffer.alloc(20_000, 0x30), ['badRequest']],
    ])('answers %s with a rejection and appends nothing', async (_name, body, expected) => {
      const before = await head();
      const res = await post(body);
      expect(res.status).toBe(200);
      const parsed = parseTimeStampResp(Buffer.from(await res.arrayBuffer()));
      expect(parsed.status).toBe(2);
      expect(parsed.failInfo.some((f) => expected.includes(f))).toBe(true);
      expect(await head()).toBe(before);
    });

    it('answers an unsupported hash algorithm (SHA-1) with badAlg', async () => {
      const q = join(dir, 'sha1.tsq');
      openssl(['ts', '-query', '-data', join(dir, 'artifact.txt'), '-sha1', '-out', q]);
      const before = await head();
      const parsed = parseTimeStampResp(Buffer.from(await (await post(readFileSync(q))).arrayBuffer()));
      expect(parsed.failInfo).toContain('badAlg');
      expect(await head()).toBe(before);
    });

    it('answers a body over 64 KiB with 413 and another media type with 415, as problem+json', async () => {
      const big = await post(Buffer.alloc(70_000));
      expect(big.status).toBe(413);
      expect(big.headers.get('content-type')).toBe('application/problem+json');
      const wrongType = await post(Buffer.from('x'), 'application/json');
      expect(wrongType.status).toBe(415);
    });
  });

  describe('when the service restarts', () => {
    it('never repeats a serial number', async () => {
      const q = join(dir, 'serial.tsq');
      openssl(['ts', '-query', '-data', join(dir, 'artifact.txt'), '-sha256', '-out', q]);
      const serials: bigint[] = [];
      const take = async (s: TestService) => serials.push(parseTimeStampResp(Buffer.from(await (await s.app.request('/api/v1/timestamp', { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: readFileSync(q) })).arrayBuffer())).tstInfo!.serial);
      await take(svc);
      await take(svc);
      await svc.stop();
      svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10' }, { dataDir });
      await take(svc);
      expect(new Set(serials).size).toBe(3);
      expect(serials[2]! > serials[1]! && serials[1]! > serials[0]!).toBe(true);
    });
  });

  describe('when the anchors are fetched', () => {
    it('answers the current anchors with an ETag, 304 for If-None-Match, and time travel with ?at=', async () => {
      const res = await svc.app.request('/api/v1/trust/anchors');
      expect(res.status).toBe(200);
      const etag = res.headers.get('etag')!;
      const anchors = (await res.json()) as { version: number; issuedAt: string; keys: Record<string, { rawBytes: string; keyDetails: string; validFor: { start: string } }> };
      const keys = (await (await svc.app.request('/api/v1/keys')).json()) as { keyId: string; publicKey: string }[];
      expect(Object.keys(anchors.keys)).toEqual(keys.map((k) => k.keyId));
      expect(anchors.keys[keys[0]!.keyId]).toMatchObject({ rawBytes: keys[0]!.publicKey, keyDetails: 'PKIX_ED25519' });
      expect((await svc.app.request('/api/v1/trust/anchors', { headers: { 'if-none-match': etag } })).status).toBe(304);
      expect((await svc.app.request(`/api/v1/trust/anchors?at=${encodeURIComponent(anchors.issuedAt)}`)).status).toBe(200);
      expect((await svc.app.request('/api/v1/trust/anchors?at=2001-01-01T00:00:00Z')).status).toBe(404);
      expect((await svc.app.request('/api/v1/trust/anchors?at=yesterday')).status).toBe(400);
    });
  });

  describe('when a bundle is signed', () => {
    it('carries an RFC 3161 timestamp, and passes @sigstore/verify with its default thresholds', async () => {
      const headers = await svc.tokens();
      const res = await svc.app.request('/api/v1/signer/sign/dsse', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from('timestamped').toString('base64') }),
      });
      expect(res.status).toBe(201);
      const { bundle } = (await res.json()) as { bundle: { verificationMaterial: { timestampVerificationData: { rfc3161Timestamps: { signedTimestamp: string }[] } } } };
      expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);
      const root = await trustedRoot();
      const anchors = (await (await svc.app.request('/api/v1/trust/anchors')).json()) as { keys: Record<string, { validFor: object }> };
      // Only trusted_root.json and the anchors' keys, with @sigstore/verify's default thresholds.
      verifyBundleWithAnchors(bundle, anchors.keys, root);
      // When the anchors say the key's validity ended before the timestamp, it fails on the key's validity.
      const ended = Object.fromEntries(Object.entries(anchors.keys).map(([id, k]) => [id, { ...k, validFor: { start: '2020-01-01T00:00:00Z', end: '2020-02-01T00:00:00Z' } }]));
      expect(() => verifyBundleWithAnchors(bundle, ended, root)).toThrow(/not valid for timestamp/);
    });
  });
});
