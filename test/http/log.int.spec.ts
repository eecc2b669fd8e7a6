import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../support/problem.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { verifyBundle, type ApiKey } from '../support/sigstore.ts';
import { rootFromInclusion, verifyConsistency as refVerifyConsistency } from '../support/rfc9162-verifier.ts';

interface TlogEntry {
  logIndex: string;
  canonicalizedBody: string;
  inclusionProof: { logIndex: string; rootHash: string; treeSize: string; hashes: string[]; checkpoint: { envelope: string } };
}
interface Signed {
  bundleId: string;
  logIndex: number;
  bundle: { verificationMaterial: { tlogEntries: TlogEntry[] }; dsseEnvelope: { payload: string; signatures: { sig: string }[] } };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const b64 = (s: string) => Buffer.from(s, 'base64');
const leafHash = (data: Buffer) => createHash('sha256').update(Buffer.from([0])).update(data).digest();

describe('transparency log', () => {
  let svc: TestService;
  let headers: Record<string, string>;
  const sign = async (text: string) => {
    const res = await svc.app.request('/api/v1/signer/sign/dsse', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') }),
    });
    expect(res.status).toBeLessThan(300);
    return (await res.json()) as Signed;
  };
  const get = async (path: string) => svc.app.request(path);
  const trust = async () => {
    const root = await (await get('/api/v1/trust/trusted_root.json')).json();
    const keys = (await (await get('/api/v1/keys')).json()) as ApiKey[];
    return { root, keys };
  };

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20' });
    headers = await svc.tokens();
  });
  afterAll(async () => {
    await svc.stop();
  });

  describe('when a payload is signed', () => {
    it('answers with a bundle whose log entry passes @sigstore/verify with tlog threshold 1', async () => {
      const signed = await sign('logged payload');
      const entries = signed.bundle.verificationMaterial.tlogEntries;
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ kindVersion: { kind: 'dsse', version: '0.0.2' }, logIndex: String(signed.logIndex) });
      const body = JSON.parse(b64(entries[0]!.canonicalizedBody).toString('utf8')) as { kind: string; apiVersion: string; spec: { dsseV002: { payloadHash: { digest: string }; signatures: { content: string }[] } } };
      expect(body).toMatchObject({ kind: 'dsse', apiVersion: '0.0.2' });
      expect(body.spec.dsseV002.payloadHash.digest).toBe(createHash('sha256').update('logged payload').digest('base64'));
      const { root, keys } = await trust();
      verifyBundle(signed.bundle, keys, root);
    });

    it('fails verification when one byte of the body, the proof, the checkpoint or its signature changes', async () => {
      const signed = await sign('tamper targets');
      const { root, keys } = await trust();
      verifyBundle(signed.bundle, keys, root);
      const flip = (s: string, at = 5) => {
        const buf = b64(s);
        buf[at % buf.length]! ^= 0x01;
        return buf.toString('base64');
      };
      const mutations: [string, (e: TlogEntry) => void][] = [
        ['canonicalized body', (e) => (e.canonicalizedBody = Buffer.from(b64(e.canonicalizedBody).toString('utf8').replace('"dsse"', '"dssf"')).toString('base64'))],
        ['canonicalized body byte', (e) => (e.canonicalizedBody = flip(e.canonicalizedBody, 40))],
        ['proof hash', (e) => (e.inclusionProof.hashes[0] = flip(e.inclusionProof.hashes[0] ?? e.inclusionProof.rootHash))],
        ['checkpoint root line', (e) => {
          const lines = e.inclusionProof.checkpoint.envelope.split('\n');
          lines[2] = flip(lines[2]!);
          e.inclusionProof.checkpoint.envelope = lines.join('\n');
        }],
        ['checkpoint size line', (e) => {
          const lines = e.inclusionProof.checkpoint.envelope.split('\n');
          lines[1] = String(Number(lines[1]) + 1);
          e.inclusionProof.checkpoint.envelope = lines.join('\n');
        }],
        ['checkpoint signature', (e) => {
          const env = e.inclusionProof.checkpoint.envelope;
          const m = /— (\S+) (\S+)\n$/.exec(env)!;
          e.inclusionProof.checkpoint.envelope = env.slice(0, m.index) + `— ${m[1]} ${flip(m[2]!, 20)}\n`;
        }],
      ];
      if (signed.bundle.verificationMaterial.tlogEntries[0]!.inclusionProof.hashes.length === 0) mutations.splice(2, 1);
      for (const [name, mutate] of mutations) {
        const bundle = clone(signed.bundle);
        mutate(bundle.verificationMaterial.tlogEntries[0]!);
        expect(() => verifyBundle(bundle, keys, root), name).toThrow();
      }
    });

    it('serves the bundle later with a proof against the current checkpoint', async () => {
      const first = await sign('early');
      for (let i = 0; i < 5; i++) await sign(`later ${i}`);
      const res = await get(`/api/v1/bundles/${first.bundleId}`);
      const view = (await res.json()) as { versions: { logIndex: number }[]; bundle: Signed['bundle'] };
      expect(view.versions[0]!.logIndex).toBe(first.logIndex);
      const entry = view.bundle.verificationMaterial.tlogEntries[0]!;
      expect(Number(entry.inclusionProof.treeSize)).toBeGreaterThan(Number(first.bundle.verificationMaterial.tlogEntries[0]!.inclusionProof.treeSize));
      const { root, keys } = await trust();
      verifyBundle(view.bundle, keys, root);
    });
  });

  describe('when proofs are requested', () => {
    it('serves inclusion and consistency proofs that an independent RFC 9162 verifier accepts', async () => {
      for (let i = 0; i < 10; i++) await sign(`proof ${i}`);
      const cp = await (await get('/api/v1/log/checkpoint')).text();
      const [origin, sizeLine, rootLine] = cp.split('\n');
      expect(origin).toBe('sigledger.local/log');
      const size = Number(sizeLine);
      for (const index of [0, 1, Math.floor(size / 2), size - 1]) {
        const entry = (await (await get(`/api/v1/log/entries/${index}`)).json()) as { canonicalizedBody: string; inclusionProof: { hashes: string[]; treeSize: string; rootHash: string } };
        const root = rootFromInclusion(leafHash(b64(entry.canonicalizedBody)), index, Number(entry.inclusionProof.treeSize), entry.inclusionProof.hashes.map(b64));
        expect(root?.toString('base64')).toBe(entry.inclusionProof.rootHash);
        const proof = (await (await get(`/api/v1/log/proof/inclusion?index=${index}&treeSize=${size}`)).json()) as { rootHash: string; hashes: string[] };
        expect(proof.rootHash).toBe(rootLine);
        expect(rootFromInclusion(leafHash(b64(entry.canonicalizedBody)), index, size, proof.hashes.map(b64))?.toString('base64')).toBe(rootLine);
      }
      const small = Math.max(1, size - 7);
      const oldRoot = ((await (await get(`/api/v1/log/proof/inclusion?index=0&treeSize=${small}`)).json()) as { rootHash: string }).rootHash;
      const cons = (await (await get(`/api/v1/log/proof/consistency?from=${small}&to=${size}`)).json()) as { hashes: string[] };
      expect(refVerifyConsistency(small, size, cons.hashes.map(b64), b64(oldRoot), b64(rootLine!))).toBe(true);
      expect(refVerifyConsistency(small, size, cons.hashes.map(b64), b64(rootLine!), b64(oldRoot))).toBe(false);
    });

    it.each([
      ['index ≥ size', '/api/v1/log/proof/inclusion?index=999999&treeSize=3'],
      ['treeSize beyond the log', '/api/v1/log/proof/inclusion?index=0&treeSize=999999999'],
      ['negative index', '/api/v1/log/proof/inclusion?index=-1&treeSize=3'],
      ['non-numeric index', '/api/v1/log/proof/inclusion?index=abc&treeSize=3'],
      ['a number beyond 2^53', '/api/v1/log/proof/inclusion?index=9007199254740993&treeSize=3'],
      ['exponent notation', '/api/v1/log/proof/inclusion?index=1e3&treeSize=3'],
      ['missing parameters', '/api/v1/log/proof/inclusion'],
      ['from > to', '/api/v1/log/proof/consistency?from=5&to=2'],
      ['from = 0', '/api/v1/log/proof/consistency?from=0&to=2'],
      ['to beyond the log', '/api/v1/log/proof/consistency?from=1&to=99999999'],
      ['entry index beyond the log', '/api/v1/log/entries/99999999'],
      ['non-numeric entry index', '/api/v1/log/entries/0x10'],
      ['malformed tile path', '/api/v1/log/tile/0/1234'],
      ['tile path without x prefix', '/api/v1/log/tile/0/001/234'],
      ['tile with width 0', '/api/v1/log/tile/0/000.p/0'],
      ['tile with width 256', '/api/v1/log/tile/0/000.p/256'],
      ['tile path traversal', '/api/v1/log/tile/..%2F..%2Fetc%2Fpasswd'],
      ['tile level out of range', '/api/v1/log/tile/99/000'],
    ])('answers %s with 400 problem+json', async (_name, path) => {
      const res = await get(path);
      await expectProblem(res, 400, 'bad_request');
    });
  });

  describe('when tiles are fetched', () => {
    it('serves the level-0 partial tile whose hashes are the leaf hashes, and the entry bundle', async () => {
      const size = Number((await (await get('/api/v1/log/checkpoint')).text()).split('\n')[1]);
      const width = Math.min(size, 256);
      const path = width === 256 ? '/api/v1/log/tile/0/000' : `/api/v1/log/tile/0/000.p/${width}`;
      const res = await get(path);
      expect(res.status).toBe(200);
      const tile = Buffer.from(await res.arrayBuffer());
      expect(tile.length).toBe(width * 32);
      const entries = Buffer.from(await (await get(width === 256 ? '/api/v1/log/tile/entries/000' : `/api/v1/log/tile/entries/000.p/${width}`)).arrayBuffer());
      let offset = 0;
      for (let i = 0; i < width; i++) {
        const len = entries.readUInt16BE(offset);
        const leaf = entries.subarray(offset + 2, offset + 2 + len);
        expect(leafHash(leaf).equals(tile.subarray(i * 32, i * 32 + 32))).toBe(true);
        offset += 2 + len;
      }
      expect(offset).toBe(entries.length);
      expect((await get('/api/v1/log/tile/0/x001/000')).status).toBe(404);
    });
  });
});
