/**
 * Cross-checks the hand-assembled DER of `TimestampAuthority` against the pkijs implementation it
 * replaced (test/tsa/reference-tsa.ts): for random and edge-case serials, nonces, times, hash
 * algorithms, certReq and TSA options, both must give the same TimeStampResp byte for byte except
 * the ECDSA signature, the same TSTInfo fields, and tokens that pkijs `SignedData.verify`,
 * @sigstore/core (strict DER parser) and `openssl ts -verify` accept. Rejections must be identical.
 */
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RFC3161Timestamp } from '@sigstore/core';
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTsaChain, type TsaChain } from '../../src/tsa/chain.ts';
import * as der from '../../src/tsa/der.ts';
import { engine, toArrayBuffer } from '../../src/tsa/engine.ts';
import { MAX_NONCE_BITS, type TsaHash } from '../../src/tsa/rfc3161.ts';
import { DEFAULT_TSA_POLICY_OID, TimestampAuthority, type TimestampAuthorityOptions, type TimestampResponse } from '../../src/tsa/tsa.ts';
import { buildQuery, parseTimeStampResp } from '../support/tsa-client.ts';
import { ReferenceTimestampAuthority } from './reference-tsa.ts';
import { hostileQueryBytes } from '../support/tsa-queries.ts';

const pem = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
const HASH_OIDS: Record<TsaHash, string> = {
  'SHA-256': '2.16.840.1.101.3.4.2.1',
  'SHA-384': '2.16.840.1.101.3.4.2.2',
  'SHA-512': '2.16.840.1.101.3.4.2.3',
};
const NODE_HASH: Record<TsaHash, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * Compares two DER trees node by node (tags, constructedness, primitive contents), except the node
 * at `ignore` (child indexes from the root; -1 = last child), which may differ.
 */
function sameTree(a: Uint8Array, b: Uint8Array, ignore: number[]): void {
  const pa = asn1js.fromBER(toArrayBuffer(a));
  const pb = asn1js.fromBER(toArrayBuffer(b));
  expect(pa.offset).toBe(a.byteLength);
  expect(pb.offset).toBe(b.byteLength);
  const walk = (x: asn1js.AsnType, y: asn1js.AsnType, path: number[]): void => {
    const at = `at ${path.join('.') || 'root'}`;
    const onIgnored = path.length === ignore.length && path.every((p, i) => p === ignore[i]);
    const xb = x as asn1js.BaseBlock;
    const yb = y as asn1js.BaseBlock;
    expect(`${xb.idBlock.tagClass}/${xb.idBlock.tagNumber}/${xb.idBlock.isConstructed}`, at).toBe(
      `${yb.idBlock.tagClass}/${yb.idBlock.tagNumber}/${yb.idBlock.isConstructed}`,
    );
    if (onIgnored) return;
    if (!xb.idBlock.isConstructed) {
      expect(Buffer.from(xb.valueBeforeDecodeView).toString('hex'), at).toBe(Buffer.from(yb.valueBeforeDecodeView).toString('hex'));
      return;
    }
    const xs = (xb.valueBlock as unknown as { value: asn1js.AsnType[] }).value;
    const ys = (yb.valueBlock as unknown as { value: asn1js.AsnType[] }).value;
    expect(xs.length, at).toBe(ys.length);
    xs.forEach((c, i) => {
      const rel = ignore[path.length] === -1 && i === xs.length - 1 ? -1 : i;
      walk(c, ys[i]!, [...path, rel]);
    });
  };
  walk(pa.result, pb.result, []);
}

/** TimeStampResp → ContentInfo → [0] → SignedData → signerInfos (last) → SignerInfo → signature (last). */
const SIGNATURE_PATH = [1, 1, 0, -1, 0, -1];

interface Decoded {
  signedData: pkijs.SignedData;
  tst: pkijs.TSTInfo;
}

function decode(der: Uint8Array): Decoded {
  const resp = pkijs.TimeStampResp.fromBER(toArrayBuffer(der));
  expect(resp.status.status).toBe(pkijs.PKIStatus.granted);
  const signedData = new pkijs.SignedData({ schema: resp.timeStampToken!.content });
  const tst = pkijs.TSTInfo.fromBER(signedData.encapContentInfo.eContent!.getValue());
  return { signedData, tst };
}

const hexOf = (v: { valueBlock: { valueHexView: Uint8Array } } | undefined) => (v ? Buffer.from(v.valueBlock.valueHexView).toString('hex') : undefined);

function tstFields(t: pkijs.TSTInfo) {
  return {
    version: t.version,
    policy: t.policy,
    hashOid: t.messageImprint.hashAlgorithm.algorithmId,
    hashParams: t.messageImprint.hashAlgorithm.algorithmParams instanceof asn1js.Null ? 'NULL' : 'absent',
    hashedMessage: hexOf(t.messageImprint.hashedMessage),
    serial: hexOf(t.serialNumber),
    genTime: t.genTime.toISOString(),
    accuracy: t.accuracy?.seconds,
    ordering: t.ordering,
    nonce: hexOf(t.nonce),
    tsa: t.tsa ? Buffer.from((t.tsa.toSchema() as asn1js.BaseBlock).toBER(false)).toString('hex') : undefined,
    extensions: t.extensions?.length,
  };
}

describe('TimestampAuthority DER encoder, cross-checked against the pkijs reference', () => {
  let dir: string;
  let chain: TsaChain;
  /** A second chain whose long names make the signingCertificateV2 attribute need long-form lengths. */
  let longChain: TsaChain;
  let n = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsa-xcheck-'));
    chain = await createTsaChain({ now: new Date(Date.now() - 60_000), validityDays: 30, subjectPrefix: 'xcheck' });
    longChain = await createTsaChain({ now: new Date(Date.now() - 60_000), validityDays: 30, subjectPrefix: `long-${'n'.repeat(120)}` });
    for (const [name, c] of [['std', chain], ['long', longChain]] as const) {
      writeFileSync(join(dir, `${name}-root.pem`), pem(c.rootCertDer));
      writeFileSync(join(dir, `${name}-leaf.pem`), pem(c.leafCertDer));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const optionsFor = (c: TsaChain, extra: Partial<TimestampAuthorityOptions> = {}): TimestampAuthorityOptions => ({
    leafCertDer: c.leafCertDer,
    chainDers: [c.rootCertDer],
    privateKeyPkcs8: c.leafPrivateKeyPkcs8,
    ...extra,
  });

  /** openssl ts -verify -data over `data`, against the root only when certificates are in the token. */
  function opensslVerify(der: Buffer, data: Buffer, chainName: 'std' | 'long', certReq: boolean): string {
    const id = ++n;
    writeFileSync(join(dir, `${id}.tsr`), der);
    writeFileSync(join(dir, `${id}.bin`), data);
    const r = spawnSync(
      'openssl',
      ['ts', '-verify', '-in', `${id}.tsr`, '-data', `${id}.bin`, '-CAfile', `${chainName}-root.pem`, ...(certReq ? [] : ['-untrusted', `${chainName}-leaf.pem`])],
      { cwd: dir, encoding: 'utf8' },
    );
    return `${r.stdout}${r.stderr}`;
  }

  async function pkijsVerify(der: Buffer, data: Buffer, c: TsaChain): Promise<boolean> {
    const { signedData } = decode(der);
    // certReq=false tokens carry no certificates: hand pkijs the signer's certificate.
    if (!signedData.certificates?.length) signedData.certificates = [pkijs.Certificate.fromBER(toArrayBuffer(c.leafCertDer))];
    // A failed check throws SignedDataVerifyError (messageDigest) or resolves false (signature).
    return signedData.verify({ signer: 0, data: toArrayBuffer(data), checkChain: false }, engine).catch(() => false);
  }

  function sigstoreVerify(der: Buffer, data: Buffer, c: TsaChain): void {
    const ts = RFC3161Timestamp.parse(Buffer.from(der) as Buffer<ArrayBuffer>);
    ts.verify(Buffer.from(data) as Buffer<ArrayBuffer>, new X509Certificate(c.leafCertDer).publicKey);
  }

  interface Case {
    hash: TsaHash;
    serial: bigint;
    nonce?: bigint;
    certReq: boolean;
    time: Date;
    data: Buffer;
    reqPolicy?: boolean;
  }

  /** Both implementations answer the same query; every check of the module comment. */
  async function crossCheck(
    tsa: TimestampAuthority,
    ref: ReferenceTimestampAuthority,
    c: TsaChain,
    chainName: 'std' | 'long',
    k: Case,
    withOpenssl: boolean,
  ): Promise<{ fresh: TimestampResponse; old: TimestampResponse }> {
    const query = buildQuery(k.data, {
      hash: k.hash,
      certReq: k.certReq,
      ...(k.nonce !== undefined ? { nonce: k.nonce } : {}),
      ...(k.reqPolicy ? { reqPolicy: DEFAULT_TSA_POLICY_OID } : {}),
    });
    const ctx = { serial: k.serial, time: k.time };
    const fresh = await tsa.respond(query, ctx);
    const old = await ref.respond(query, ctx);
    expect(fresh.status).toBe('granted');
    expect(old.status).toBe('granted');

    // Same bytes but the signature; the token is the ContentInfo inside the response.
    sameTree(fresh.der, old.der, SIGNATURE_PATH);
    sameTree(fresh.token!, old.token!, SIGNATURE_PATH.slice(1));
    expect(fresh.der.subarray(fresh.der.length - fresh.token!.length).equals(fresh.token!)).toBe(true);
    // DER: asn1js re-encodes it to the same bytes (minimal definite lengths, primitive eContent).
    expect(Buffer.from(asn1js.fromBER(toArrayBuffer(fresh.der)).result.toBER(false)).equals(fresh.der)).toBe(true);

    // Same TSTInfo, field by field, and the expected values.
    const a = decode(fresh.der);
    const b = decode(old.der);
    expect(tstFields(a.tst)).toEqual(tstFields(b.tst));
    expect(Buffer.from(a.signedData.encapContentInfo.eContent!.getValue()).equals(Buffer.from(b.signedData.encapContentInfo.eContent!.getValue()))).toBe(true);
    expect(a.signedData.encapContentInfo.eContent!.idBlock.isConstructed).toBe(false);
    expect(a.tst.genTime.getTime()).toBe(k.time.getTime());
    expect(parseTimeStampResp(fresh.der).tstInfo).toEqual({
      policy: DEFAULT_TSA_POLICY_OID,
      serial: k.serial,
      genTime: k.time,
      hashOid: HASH_OIDS[k.hash],
      hashedMessage: createHash(NODE_HASH[k.hash]).update(k.data).digest(),
      ...(k.nonce !== undefined ? { nonce: k.nonce } : {}),
    });
    expect((a.signedData.certificates ?? []).length).toBe(k.certReq ? 2 : 0);

    // Both verify: pkijs, @sigstore/core, openssl.
    expect(await pkijsVerify(fresh.der, k.data, c)).toBe(true);
    expect(await pkijsVerify(old.der, k.data, c)).toBe(true);
    sigstoreVerify(fresh.der, k.data, c);
    sigstoreVerify(old.der, k.data, c);
    if (withOpenssl) {
      expect(opensslVerify(fresh.der, k.data, chainName, k.certReq)).toContain('Verification: OK');
      expect(opensslVerify(old.der, k.data, chainName, k.certReq)).toContain('Verification: OK');
    }
    return { fresh, old };
  }

  const MAX160 = (1n << 160n) - 1n;
  const edgeSerials = [0n, 1n, 127n, 128n, 255n, 256n, 0x7fffn, 0x8000n, (1n << 63n) - 1n, 1n << 63n, 1n << 159n, MAX160];
  const edgeNonces: (bigint | undefined)[] = [undefined, 1n, 127n, 128n, (1n << 64n) - 1n, 1n << 159n, MAX160];
  const edgeTimes = [
    new Date('2025-03-04T05:06:07.000Z'),
    new Date('2025-03-04T05:06:07.001Z'),
    new Date('2025-03-04T05:06:07.010Z'),
    new Date('2025-03-04T05:06:07.100Z'),
    new Date('2025-03-04T05:06:07.120Z'),
    new Date('2025-03-04T05:06:07.999Z'),
    new Date('1970-01-01T00:00:00.000Z'),
    new Date('2049-12-31T23:59:59.500Z'),
    new Date('2050-01-01T00:00:00.000Z'),
    new Date('9999-12-31T23:59:59.999Z'),
  ];

  describe('when the options are the defaults (TSA name, no accuracy)', () => {
    let tsa: TimestampAuthority;
    let ref: ReferenceTimestampAuthority;
    beforeAll(() => {
      tsa = new TimestampAuthority(optionsFor(chain));
      ref = new ReferenceTimestampAuthority(optionsFor(chain));
    });

    it('matches the reference for edge-case serials (0, high bit set, 2^160-1), verified by openssl', async () => {
      for (const [i, serial] of edgeSerials.entries()) {
        const hash = (['SHA-256', 'SHA-384', 'SHA-512'] as const)[i % 3]!;
        await crossCheck(tsa, ref, chain, 'std', { hash, serial, certReq: i % 2 === 0, time: edgeTimes[i % edgeTimes.length]!, data: Buffer.from(`serial ${serial}`) }, true);
      }
    });

    it('matches the reference for edge-case nonces (absent, 1, high bit set, 2^160-1) with and without certReq', async () => {
      for (const [i, nonce] of edgeNonces.entries()) {
        for (const certReq of [false, true]) {
          await crossCheck(
            tsa,
            ref,
            chain,
            'std',
            { hash: 'SHA-256', serial: BigInt(1000 + i), ...(nonce !== undefined ? { nonce } : {}), certReq, time: edgeTimes[4]!, data: Buffer.from(`nonce ${i}`), reqPolicy: i % 2 === 1 },
            true,
          );
        }
      }
    });

    it('matches the reference for times with and without milliseconds, from 1970 to 9999', async () => {
      for (const [i, time] of edgeTimes.entries()) {
        await crossCheck(tsa, ref, chain, 'std', { hash: 'SHA-384', serial: BigInt(2000 + i), certReq: false, time, data: Buffer.from(`time ${i}`) }, i < 6);
      }
    });

    it('matches the reference for random serials, nonces, times, hashes and certReq', async () => {
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom<TsaHash>('SHA-256', 'SHA-384', 'SHA-512'),
          fc.bigInt({ min: 0n, max: MAX160 }),
          fc.option(fc.bigInt({ min: 1n, max: MAX160 }), { nil: undefined }),
          fc.boolean(),
          fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }),
          fc.uint8Array({ minLength: 1, maxLength: 200 }),
          async (hash, serial, nonce, certReq, time, data) => {
            runs++;
            await crossCheck(tsa, ref, chain, 'std', { hash, serial, ...(nonce !== undefined ? { nonce } : {}), certReq, time, data: Buffer.from(data) }, runs % 5 === 0);
          },
        ),
        { numRuns: 60 },
      );
    });

    it('grantDigest gives the token respond gives for the equivalent query', async () => {
      for (const [i, hash] of (['SHA-256', 'SHA-384', 'SHA-512'] as const).entries()) {
        for (const nonce of [undefined, 5n, MAX160]) {
          for (const certReq of [false, true]) {
            const data = Buffer.from(`digest ${hash} ${nonce} ${certReq}`);
            const ctx = { serial: BigInt(3000 + i), time: edgeTimes[i]! };
            const query = buildQuery(data, { hash, certReq, ...(nonce !== undefined ? { nonce } : {}) });
            const digest = createHash(NODE_HASH[hash]).update(data).digest();
            const viaDigest = tsa.grantDigest({ hash: i === 0 ? HASH_OIDS[hash] : hash, digest, certReq, ...(nonce !== undefined ? { nonce } : {}) }, ctx);
            const viaRef = await ref.respond(query, ctx);
            const viaQuery = tsa.grantQuery(tsa.examine(query) as Parameters<TimestampAuthority['grantQuery']>[0], ctx);
            sameTree(viaDigest.der, viaRef.der, SIGNATURE_PATH);
            sameTree(viaQuery.der, viaRef.der, SIGNATURE_PATH);
            expect(await pkijsVerify(viaDigest.der, data, chain)).toBe(true);
            sigstoreVerify(viaDigest.der, data, chain);
            expect(opensslVerify(viaDigest.der, data, 'std', certReq)).toContain('Verification: OK');
          }
        }
      }
    });

    it('grantDigest refuses invalid input and invalid contexts', () => {
      const ctx = { serial: 1n, time: new Date() };
      const digest = Buffer.alloc(32, 1);
      expect(() => tsa.grantDigest({ hash: 'SHA-1', digest }, ctx)).toThrow(TypeError);
      expect(() => tsa.grantDigest({ hash: '1.3.14.3.2.26', digest: Buffer.alloc(20) }, ctx)).toThrow(TypeError);
      expect(() => tsa.grantDigest({ hash: 'SHA-384', digest }, ctx)).toThrow(RangeError);
      expect(() => tsa.grantDigest({ hash: 'SHA-256', digest, nonce: 0n }, ctx)).toThrow(RangeError);
      expect(() => tsa.grantDigest({ hash: 'SHA-256', digest, nonce: 1n << BigInt(MAX_NONCE_BITS) }, ctx)).toThrow(RangeError);
      expect(() => tsa.grantDigest({ hash: 'SHA-256', digest }, { serial: -1n, time: new Date() })).toThrow(RangeError);
      expect(() => tsa.grantDigest({ hash: 'SHA-256', digest }, { serial: 1n << 160n, time: new Date() })).toThrow(RangeError);
      expect(() => tsa.grantDigest({ hash: 'SHA-256', digest }, { serial: 1n, time: new Date(Number.NaN) })).toThrow(TypeError);
      expect(() => tsa.grantDigest({ hash: 'SHA-256', digest }, { serial: 1n, time: new Date('+010000-01-01T00:00:00Z') })).toThrow(RangeError);
    });

    it('answers an openssl query (NULL hash parameters, 64-bit nonce) as the reference did, echoing it verbatim', async () => {
      const data = Buffer.from('openssl query data');
      writeFileSync(join(dir, 'oq.bin'), data);
      for (const [i, alg] of ['-sha256', '-sha384', '-sha512'].entries()) {
        spawnSync('openssl', ['ts', '-query', '-data', 'oq.bin', alg, ...(i === 1 ? ['-no_nonce'] : ['-cert']), '-out', `oq${i}.tsq`], { cwd: dir });
        const query = readFileSync(join(dir, `oq${i}.tsq`));
        const ctx = { serial: BigInt(4000 + i), time: edgeTimes[5]! };
        const fresh = await tsa.respond(query, ctx);
        const old = await ref.respond(query, ctx);
        sameTree(fresh.der, old.der, SIGNATURE_PATH);
        expect(decode(fresh.der).tst.messageImprint.hashAlgorithm.algorithmParams).toBeInstanceOf(asn1js.Null);
        writeFileSync(join(dir, `oq${i}.tsr`), fresh.der);
        const v = spawnSync('openssl', ['ts', '-verify', '-in', `oq${i}.tsr`, '-queryfile', `oq${i}.tsq`, '-CAfile', 'std-root.pem', '-untrusted', 'std-leaf.pem'], { cwd: dir, encoding: 'utf8' });
        expect(`${v.stdout}${v.stderr}`).toContain('Verification: OK');
      }
    });

    it('answers hand-built queries, valid and not, canonical and not, exactly as the reference', async () => {
      // Every field of a TimeStampReq with its usual and unusual encodings: the fast acceptance of
      // common queries must never accept what the pkijs parser rejects, nor read a field differently.
      const seq = (...p: Uint8Array[]) => der.tlv(0x30, ...p);
      /** Non-minimal long-form length (BER, not DER). */
      const longForm = (tag: number, content: Uint8Array) => Buffer.concat([Buffer.from([tag, 0x81, content.length]), content]);
      const hashAlg = fc.constantFrom<TsaHash>('SHA-256', 'SHA-384', 'SHA-512');
      const query = fc.record({
        version: fc.constantFrom('020101', '020101', '020102', '02020001', '020100'),
        hash: hashAlg,
        params: fc.constantFrom('absent', 'absent', 'null', 'null-nonminimal', 'other'),
        digest: fc.oneof(
          fc.uint8Array({ minLength: 32, maxLength: 64 }),
          // digests that are themselves DER (asn1js looks inside OCTET STRINGs)
          fc.constantFrom(Buffer.from(`301e${'04'}1c${'ab'.repeat(28)}`, 'hex'), Buffer.from(`3081${'2d'}${'00'.repeat(45)}`, 'hex')),
        ),
        digestLenDelta: fc.constantFrom(0, 0, 0, -1, 1),
        policy: fc.constantFrom('none', 'none', 'ours', 'other', 'ours-nonminimal'),
        nonce: fc.oneof(
          fc.constant(undefined),
          fc.bigInt({ min: 1n, max: (1n << 160n) - 1n }).map((v) => der.integer(v)),
          fc.constantFrom('020100', '02020005', '0201ff', '02028000', `021501${'00'.repeat(20)}`, `0215${'7f'.repeat(21)}`, '0200').map((h) => Buffer.from(h, 'hex')),
        ),
        certReq: fc.constantFrom('', '', '0101ff', '010100', '010101'),
        extensions: fc.constantFrom('', '', 'a000', 'a00d300b0603551d0f0101ff04010a'),
        wrap: fc.constantFrom('der', 'der', 'der', 'long-outer', 'trailing', 'indefinite'),
      });
      let granted = 0;
      await fc.assert(
        fc.asyncProperty(query, async (q) => {
          const oid = HASH_OIDS[q.hash];
          const params =
            q.params === 'absent' ? [] : q.params === 'null' ? [Buffer.from('0500', 'hex')] : q.params === 'null-nonminimal' ? [Buffer.from('058100', 'hex')] : [Buffer.from('0101ff', 'hex')];
          const len = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 }[q.hash] + q.digestLenDelta;
          const digest = Buffer.alloc(len);
          Buffer.from(q.digest).copy(digest);
          const policy =
            q.policy === 'none'
              ? []
              : q.policy === 'ours'
                ? [der.oid(DEFAULT_TSA_POLICY_OID)]
                : q.policy === 'other'
                  ? [der.oid('1.2.3.4')]
                  : [longForm(0x06, der.oid(DEFAULT_TSA_POLICY_OID).subarray(2))];
          const body = [
            Buffer.from(q.version, 'hex'),
            seq(seq(der.oid(oid), ...params), der.tlv(0x04, digest)),
            ...policy,
            ...(q.nonce ? [q.nonce] : []),
            Buffer.from(q.certReq, 'hex'),
            Buffer.from(q.extensions, 'hex'),
          ];
          const content = Buffer.concat(body);
          const bytes =
            q.wrap === 'der'
              ? seq(content)
              : q.wrap === 'long-outer'
                ? Buffer.concat([Buffer.from([0x30, 0x82, content.length >> 8, content.length & 0xff]), content])
                : q.wrap === 'trailing'
                  ? Buffer.concat([seq(content), Buffer.from([0])])
                  : Buffer.concat([Buffer.from([0x30, 0x80]), content, Buffer.from([0, 0])]);
          const ctx = { serial: 11n, time: new Date('2025-01-01T00:00:00.250Z') };
          const fresh = await tsa.respond(bytes, ctx);
          const old = await ref.respond(bytes, ctx);
          expect(fresh.status).toBe(old.status);
          expect(tsa.queryInfo(bytes)).toEqual(ref.queryInfo(bytes));
          if (old.status === 'rejection') {
            expect(fresh.der.equals(old.der)).toBe(true);
          } else {
            granted++;
            sameTree(fresh.der, old.der, SIGNATURE_PATH);
          }
        }),
        { numRuns: 1500 },
      );
      expect(granted).toBeGreaterThan(50);
    });

    it('rejects exactly as the reference (same TimeStampResp bytes) for arbitrary and mutated queries', async () => {
      const base = buildQuery(Buffer.from('x'), { nonce: 99n, certReq: true, reqPolicy: DEFAULT_TSA_POLICY_OID });
      await fc.assert(
        fc.asyncProperty(
          hostileQueryBytes(base),
          async (bytes) => {
            const ctx = { serial: 7n, time: new Date('2025-01-01T00:00:00.250Z') };
            const fresh = await tsa.respond(bytes, ctx);
            const old = await ref.respond(bytes, ctx);
            expect(fresh.status).toBe(old.status);
            if (old.status === 'rejection') {
              expect(fresh.failInfo).toBe(old.failInfo);
              expect(fresh.der.equals(old.der)).toBe(true);
              expect(await tsa.check(bytes)).toEqual(fresh);
              expect(tsa.queryInfo(bytes)).toBeUndefined();
            } else {
              sameTree(fresh.der, old.der, SIGNATURE_PATH);
              expect(await tsa.check(bytes)).toBeUndefined();
            }
          },
        ),
        { numRuns: 400 },
      );
    });
  });

  describe('when the TSA has accuracy, no TSA name, or long names', () => {
    const variants: [string, Partial<TimestampAuthorityOptions>, 'std' | 'long'][] = [
      ['accuracy 1 s', { accuracySeconds: 1 }, 'std'],
      ['accuracy 200 s (INTEGER with a 0x00 prefix), no TSA name', { accuracySeconds: 200, includeTsaName: false }, 'std'],
      ['another policy OID with large arcs', { policyOid: '1.3.6.1.4.1.32473.99999999999.0.3' }, 'std'],
      ['names over 127 bytes (long-form lengths in every SignedData piece)', { accuracySeconds: 70_000 }, 'long'],
    ];
    for (const [name, extra, chainName] of variants) {
      it(`matches the reference: ${name}`, async () => {
        const c = chainName === 'std' ? chain : longChain;
        const tsa = new TimestampAuthority(optionsFor(c, extra));
        const ref = new ReferenceTimestampAuthority(optionsFor(c, extra));
        for (const [i, certReq] of [false, true].entries()) {
          const data = Buffer.from(`${name} ${certReq}`);
          const query = buildQuery(data, { certReq, nonce: 77n, ...(extra.policyOid ? { reqPolicy: extra.policyOid } : {}) });
          const ctx = { serial: BigInt(5000 + i), time: edgeTimes[i + 1]! };
          const fresh = await tsa.respond(query, ctx);
          const old = await ref.respond(query, ctx);
          sameTree(fresh.der, old.der, SIGNATURE_PATH);
          expect(tstFields(decode(fresh.der).tst)).toEqual(tstFields(decode(old.der).tst));
          expect(await pkijsVerify(fresh.der, data, c)).toBe(true);
          sigstoreVerify(fresh.der, data, c);
          expect(opensslVerify(fresh.der, data, chainName, certReq)).toContain('Verification: OK');
        }
      });
    }
  });

  describe('when a token is tampered with', () => {
    it('fails every verifier', async () => {
      const tsa = new TimestampAuthority(optionsFor(chain));
      const data = Buffer.from('tamper');
      const res = tsa.grantDigest({ hash: 'SHA-256', digest: createHash('sha256').update(data).digest(), certReq: true }, { serial: 9n, time: new Date() });
      const der = Buffer.from(res.der);
      // the serial inside the signed TSTInfo: INTEGER 9 right after the message imprint
      const at = der.indexOf(Buffer.concat([createHash('sha256').update(data).digest(), Buffer.from([0x02, 0x01, 0x09])]));
      expect(at).toBeGreaterThan(0);
      der[at + 34] = 0x0a;
      expect(await pkijsVerify(der, data, chain)).toBe(false);
      expect(() => sigstoreVerify(der, data, chain)).toThrow();
      expect(opensslVerify(der, data, 'std', true)).not.toContain('Verification: OK');
    });
  });
});
