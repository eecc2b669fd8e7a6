import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTsaChain, type TsaChain } from '../../src/tsa/chain.ts';
import { MAX_QUERY_BYTES } from '../../src/tsa/rfc3161.ts';
import { DEFAULT_TSA_POLICY_OID, TimestampAuthority } from '../../src/tsa/tsa.ts';
import { buildQuery, parseTimeStampResp } from '../support/tsa-client.ts';
import { hostileQueryBytes } from '../support/tsa-queries.ts';

const pem = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;

function openssl(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('TimestampAuthority', () => {
  let dir: string;
  let chain: TsaChain;
  let tsa: TimestampAuthority;
  let serial = 1000n;
  const data = Buffer.from('bundle signature bytes \x00\x01\x02');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsa-'));
    chain = await createTsaChain({ now: new Date(Date.now() - 60_000), validityDays: 30, subjectPrefix: 'test' });
    writeFileSync(join(dir, 'root.pem'), pem(chain.rootCertDer));
    writeFileSync(join(dir, 'leaf.pem'), pem(chain.leafCertDer));
    writeFileSync(join(dir, 'data.bin'), data);
    tsa = new TimestampAuthority({
      leafCertDer: chain.leafCertDer,
      chainDers: [chain.rootCertDer],
      privateKeyPkcs8: chain.leafPrivateKeyPkcs8,
      accuracySeconds: 1,
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** openssl ts -query → respond → write r.tsr; returns the response and file names. */
  async function roundTrip(name: string, queryArgs: string[]) {
    const tsq = `${name}.tsq`;
    const tsr = `${name}.tsr`;
    execFileSync('openssl', ['ts', '-query', '-data', 'data.bin', ...queryArgs, '-out', tsq], { cwd: dir, stdio: 'pipe' });
    const s = ++serial;
    const res = await tsa.respond(readFileSync(join(dir, tsq)), { serial: s, time: new Date() });
    writeFileSync(join(dir, tsr), res.der);
    return { res, tsq, tsr, serial: s };
  }

  const verify = (tsr: string, tsq: string, untrusted: boolean) =>
    openssl(['ts', '-verify', '-in', tsr, '-queryfile', tsq, '-CAfile', 'root.pem', ...(untrusted ? ['-untrusted', 'leaf.pem'] : [])], dir);

  describe('when chain is created', () => {
    it('produces a leaf that openssl accepts for timestamp signing under the root', () => {
      const r = openssl(['verify', '-CAfile', 'root.pem', '-purpose', 'timestampsign', 'leaf.pem'], dir);
      expect(r.out).toContain('leaf.pem: OK');
      const text = openssl(['x509', '-in', 'leaf.pem', '-noout', '-text'], dir).out;
      expect(text).toMatch(/Extended Key Usage: critical\s+Time Stamping\s/);
      expect(text).toMatch(/Key Usage: critical\s+Digital Signature\s/);
      expect((chain as unknown as Record<string, unknown>).rootPrivateKeyPkcs8).toBeUndefined();
    });
  });

  describe('when the query is well-formed', () => {
    for (const hash of ['sha256', 'sha384', 'sha512']) {
      it(`grants a ${hash} query with certReq and openssl verifies it against the root only`, async () => {
        const { res, tsq, tsr, serial: s } = await roundTrip(`ok-${hash}`, [`-${hash}`, '-cert']);
        expect(res.status).toBe('granted');
        expect(res.token).toBeInstanceOf(Buffer);
        const v = verify(tsr, tsq, false);
        expect(v.out).toContain('Verification: OK');
        const text = openssl(['ts', '-reply', '-in', tsr, '-text'], dir).out;
        expect(text).toContain('Status: Granted.');
        expect(text).toContain(`Policy OID: ${DEFAULT_TSA_POLICY_OID}`);
        expect(text).toContain(`Serial number: 0x${s.toString(16).toUpperCase().padStart(4, '0')}`);
        expect(text).toContain(`Hash Algorithm: ${hash}`);
        expect(text).toContain('Accuracy: 0x01 seconds');
      });
    }

    it('grants a certReq=false query without certificates, verifiable with -untrusted leaf.pem', async () => {
      const { res, tsq, tsr } = await roundTrip('nocert', ['-sha256', '-no_nonce']);
      expect(res.status).toBe('granted');
      expect(verify(tsr, tsq, false).out).not.toContain('Verification: OK');
      expect(verify(tsr, tsq, true).out).toContain('Verification: OK');
      const text = openssl(['ts', '-reply', '-in', tsr, '-text'], dir).out;
      expect(text).toContain('Nonce: unspecified');
    });

    it('echoes the nonce', async () => {
      const { res, tsq, tsr } = await roundTrip('nonce', ['-sha256', '-cert']);
      const qText = openssl(['ts', '-query', '-in', tsq, '-text'], dir).out;
      const nonce = /Nonce: (0x[0-9A-F]+)/.exec(qText)?.[1];
      expect(nonce).toBeDefined();
      expect(openssl(['ts', '-reply', '-in', tsr, '-text'], dir).out).toContain(`Nonce: ${nonce}`);
      expect(parseTimeStampResp(res.der).tstInfo?.nonce).toBe(BigInt(nonce!));
      expect(verify(tsr, tsq, false).out).toContain('Verification: OK');
    });

    it('accepts a query built by buildQuery over signature bytes and openssl verifies it with -data', async () => {
      const q = buildQuery(data, { hash: 'SHA-256', nonce: (1n << 159n) + 7n, certReq: true, reqPolicy: DEFAULT_TSA_POLICY_OID });
      const res = await tsa.respond(q, { serial: 42n, time: new Date() });
      expect(res.status).toBe('granted');
      writeFileSync(join(dir, 'bq.tsr'), res.der);
      const v = openssl(['ts', '-verify', '-in', 'bq.tsr', '-data', 'data.bin', '-CAfile', 'root.pem'], dir);
      expect(v.out).toContain('Verification: OK');
      expect(parseTimeStampResp(res.der).tstInfo).toMatchObject({ serial: 42n, nonce: (1n << 159n) + 7n });
    });

    it('returns the token as a ContentInfo that openssl accepts with -token_in', async () => {
      const { res, tsq } = await roundTrip('token', ['-sha256', '-cert']);
      writeFileSync(join(dir, 'token.der'), res.token!);
      const v = openssl(['ts', '-verify', '-in', 'token.der', '-token_in', '-queryfile', tsq, '-CAfile', 'root.pem'], dir);
      expect(v.out).toContain('Verification: OK');
    });
  });

  describe('when the query is bad', () => {
    const reject = async (q: Uint8Array) => {
      const res = await tsa.respond(q, { serial: 1n, time: new Date() });
      expect(res.status).toBe('rejection');
      expect(res.token).toBeUndefined();
      writeFileSync(join(dir, 'rej.tsr'), res.der);
      expect(openssl(['ts', '-reply', '-in', 'rej.tsr', '-text'], dir).out).toContain('Status: Rejected.');
      expect(parseTimeStampResp(res.der).failInfo).toEqual([res.failInfo]);
      return res;
    };

    it('rejects malformed DER with badDataFormat', async () => {
      expect((await reject(Buffer.from('not der at all'))).failInfo).toBe('badDataFormat');
      expect((await reject(new Uint8Array())).failInfo).toBe('badDataFormat');
      const good = buildQuery(data);
      expect((await reject(good.subarray(0, good.length - 3))).failInfo).toBe('badDataFormat');
      expect((await reject(Buffer.concat([good, Buffer.from([0])]))).failInfo).toBe('badDataFormat');
      // well-formed DER but not a TimeStampReq
      expect((await reject(Buffer.from('3003020101', 'hex'))).failInfo).toBe('badDataFormat');
    });

    it('rejects a SHA-1 query with badAlg', async () => {
      execFileSync('openssl', ['ts', '-query', '-data', 'data.bin', '-sha1', '-out', 'sha1.tsq'], { cwd: dir, stdio: 'pipe' });
      const res = await reject(readFileSync(join(dir, 'sha1.tsq')));
      expect(res.failInfo).toBe('badAlg');
      expect(openssl(['ts', '-reply', '-in', 'rej.tsr', '-text'], dir).out).toContain('Failure info: unrecognized or unsupported algorithm identifier');
    });

    it('rejects a digest of the wrong length with badAlg', async () => {
      const q = buildQuery(data, { hash: 'SHA-256' });
      // outer SEQ(2) + version(3) + messageImprint SEQ header(2) + AlgorithmIdentifier(2 + 11) → OCTET STRING 0x04 0x20
      expect(q.subarray(20, 22).toString('hex')).toBe('0420');
      const shorter = Buffer.concat([q.subarray(0, 21), Buffer.from([0x1f]), q.subarray(23)]);
      shorter[1] = shorter[1]! - 1; // outer SEQUENCE length
      shorter[6] = shorter[6]! - 1; // messageImprint SEQUENCE length
      expect((await reject(shorter)).failInfo).toBe('badAlg');
    });

    it('rejects an oversized query with badRequest', async () => {
      expect((await reject(new Uint8Array(MAX_QUERY_BYTES + 1))).failInfo).toBe('badRequest');
    });

    it('rejects another policy with unacceptedPolicy', async () => {
      expect((await reject(buildQuery(data, { reqPolicy: '1.2.3.4' }))).failInfo).toBe('unacceptedPolicy');
    });

    it('rejects a nonce over 160 bits with badRequest', async () => {
      const q = buildQuery(data, { nonce: (1n << 159n) + 1n });
      const hex = q.toString('hex');
      // swap the 21-byte nonce (0x00 + 160 bits) for a 21-byte 161-bit one by flipping the leading 0x00 to 0x01
      const bigger = Buffer.from(hex.replace(/021500/, '021501'), 'hex');
      expect(bigger.equals(q)).toBe(false);
      expect((await reject(bigger)).failInfo).toBe('badRequest');
    });

    it('rejects version 2 with badRequest', async () => {
      const q = Buffer.from(buildQuery(data));
      expect(q.subarray(2, 5).toString('hex')).toBe('020101');
      q[4] = 2;
      expect((await reject(q)).failInfo).toBe('badRequest');
    });
  });

  describe('when given arbitrary or mutated bytes', () => {
    it('never throws and always returns a parseable TimeStampResp', async () => {
      const base = buildQuery(data, { nonce: 99n, certReq: true });
      await fc.assert(
        fc.asyncProperty(
          hostileQueryBytes(base),
          async (bytes) => {
            const res = await tsa.respond(bytes, { serial: 7n, time: new Date() });
            const parsed = parseTimeStampResp(res.der);
            expect(parsed.status === 0 ? 'granted' : 'rejection').toBe(res.status);
          },
        ),
        { numRuns: 300 },
      );
    });
  });

  describe('when a granted response is tampered with', () => {
    it('fails openssl verification', async () => {
      const { res, tsq } = await roundTrip('tamper', ['-sha256', '-cert']);
      const der = Buffer.from(res.der);
      // flip a bit of the message imprint inside the signed TSTInfo
      const imprint = createHash('sha256').update(data).digest();
      const at = der.indexOf(imprint);
      expect(at).toBeGreaterThan(0);
      der[at + 5]! ^= 0x01;
      writeFileSync(join(dir, 'tampered.tsr'), der);
      expect(verify('tampered.tsr', tsq, false).out).not.toContain('Verification: OK');
    });
  });
});
