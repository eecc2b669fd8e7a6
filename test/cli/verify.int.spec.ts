/**
 * `sigledger verify` through the real bin, offline: a real in-process service signs bundles,
 * rotates its key (2 of 3 approvers with `sigledger approve`) and revokes the next key from a
 * compromise instant; `sigledger kit export` writes a kit; the service STOPS; then every exported
 * version verifies against the kit directory alone, and tampered bundles, a key outside its
 * validity window, a tampered anchors history and artifacts that do not match are refused.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devApproverPath } from '../../src/app/trust/approvers-service.ts';
import { runCli } from '../support/cli.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { http, type Json } from '../support/http.ts';



const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wholeSecondsAgo = () => new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();

describe('sigledger verify', () => {
  let svc: TestService;
  let work: string;
  let kit: string;
  const payloads: Record<string, string> = {};
  /** text/plain bundles signed before the rotation: v1 by key 1, v2 by key 2 with an attestation. */
  let plain: Json;
  let plain2: Json;
  /** An in-toto statement over artifact.bin, signed before the rotation. */
  let statement: Json;
  /** Signed by key 2 after its compromise instant: v1 is outside key 2's window, v2 by key 3. */
  let compromised: Json;
  let urlResult: Awaited<ReturnType<typeof runCli>>;
  const artifact = Buffer.from('the artifact bytes\n');
  const artifactSha = createHash('sha256').update(artifact).digest('hex');

  const bundleFile = (b: Json, v: number, kind = 'bundle') => join(kit, 'bundles', b.bundleId, `v${v}.${kind}.json`);
  const verify = (args: string[]) => runCli(['verify', ...args]);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sigledger-verify-'));
    kit = join(work, 'kit');
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' });
    const admin = await svc.tokens({ scopes: ['ledger.admin'] });
    const signer = await svc.tokens();
    const sign = async (body: Json) => {
      const r = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: body });
      expect(r.status).toBe(201);
      return r.body;
    };
    const signText = async (text: string) => {
      const b = await sign({ payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') });
      payloads[b.bundleId] = text;
      return b;
    };
    plain = await signText('release notes 1.0\n');
    plain2 = await signText('release notes 1.1\n');
    statement = await sign({
      statement: {
        _type: 'https://in-toto.io/Statement/v1',
        subject: [
          { name: 'other.tar.gz', digest: { sha256: 'a'.repeat(64) } },
          { name: 'artifact.bin', digest: { sha256: artifactSha } },
        ],
        predicateType: 'https://slsa.dev/provenance/v1',
        predicate: { buildDefinition: { buildType: 'test' } },
      },
    });
    await sleep(1100); // the transition lands on a later whole second

    // Rotation: key 1 → key 2, approved by 2 of 3 with the CLI.
    const rotation = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'monthly rotation' } });
    expect(rotation.status).toBe(202);
    for (const n of [1, 2]) {
      const r = await runCli(['approve', '--url', svc.url, '--ceremony', rotation.body.ceremonyId, '--key', devApproverPath(svc.dataDir, n), '--yes'], {}, 60_000);
      expect(r.code).toBe(0);
    }
    expect((await http(svc, `/api/v1/rotations/${rotation.body.rotationId}`)).body.state).toBe('completed');

    // Revocation of key 2 from an instant before a bundle it signed.
    await sleep(1100);
    const since = wholeSecondsAgo();
    await sleep(1100);
    compromised = await signText('signed after the compromise\n');
    const key2 = (await http(svc, '/api/v1/rotations/' + rotation.body.rotationId)).body.newKeyId;
    expect(compromised.keyId).toBe(key2);
    const revoke = await http(svc, '/api/v1/ceremonies', { method: 'POST', headers: admin, json: { action: { type: 'revoke-key', keyId: key2, compromisedSince: since }, reason: 'key 2 compromised' } });
    expect(revoke.status).toBe(201);
    for (const n of [1, 2]) {
      const r = await runCli(['approve', '--url', svc.url, '--ceremony', revoke.body.ceremonyId, '--key', devApproverPath(svc.dataDir, n), '--yes'], {}, 60_000);
      expect(r.code).toBe(0);
    }
    const revoked = (await http(svc, `/api/v1/rotations/${revoke.body.proposal.action.rotationId}`)).body;
    expect(revoked).toMatchObject({ state: 'completed', progress: { resigned: 1, failed: 0 } });

    const exported = await runCli(['kit', 'export', '--url', svc.url, '--out', kit, ...[plain, plain2, statement, compromised].flatMap((b) => ['--bundle', b.bundleId])], {}, 60_000);
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    // Trust from the URL, while the service still runs.
    urlResult = await verify(['--bundle', bundleFile(plain, 2), '--trust', svc.url]);
    await svc.stop();
    writeFileSync(join(work, 'artifact.bin'), artifact);
    writeFileSync(join(work, 'other.bin'), 'something else\n');
  }, 120_000);

  afterAll(async () => {
    await svc?.stop().catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('when every exported version is verified against the kit directory, with the service stopped', () => {
    it('finds each of them valid (exit 0), with the reasons for its trust', async () => {
      const files = [plain, plain2, statement].flatMap((b) => [bundleFile(b, 1), bundleFile(b, 2)]).concat(bundleFile(compromised, 2));
      for (const f of files) {
        const r = await verify(['--bundle', f, '--trust', kit]);
        expect(r.stderr).toBe('');
        expect(r.stdout.split('\n')[0]).toBe(`VALID: ${f}`);
        expect(r.code).toBe(0);
      }
    });

    it('says that anchors version 1 is trusted on first use and shows the chain and the checkpoint', async () => {
      const r = await verify(['--bundle', bundleFile(plain, 1), '--trust', kit]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/anchors version 1 is trusted on first use, as TUF root v1: compare its fingerprint sha256:[0-9a-f]{64}/);
      expect(r.stdout).toContain('anchors versions 1..3');
      expect(r.stdout).toContain('anchors version 2 (rotate-key): signed by 2/2 approvers of version 1');
      expect(r.stdout).toContain('anchors version 3 (revoke-key): signed by 2/2 approvers of version 2');
      expect(r.stdout).toMatch(/checkpoint: sigledger\.local\/log size \d+, signature verified/);
      expect(r.stdout).toMatch(/signed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z \(RFC 3161 timestamp\)/);
    });

    it('verifies a re-signing attestation file', async () => {
      for (const b of [plain, statement]) {
        const r = await verify(['--bundle', bundleFile(b, 2, 'attestation'), '--trust', kit]);
        expect(r.stdout).toContain('bundle: DSSE application/vnd.in-toto+json');
        expect(r.code).toBe(0);
      }
    });

    it('answers one JSON object with --json', async () => {
      const r = await verify(['--bundle', bundleFile(plain, 2), '--trust', kit, '--json']);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({ valid: true, reasons: [], bundle: { payloadType: 'text/plain', keyId: expect.stringMatching(/^[0-9a-f]{64}$/) }, trust: { kind: 'directory', anchorsVersion: 3 } });
    });
  });

  describe('when the trust is the service URL', () => {
    it('fetches trusted_root.json and the anchors history and finds the bundle valid', () => {
      expect(urlResult.stderr).toBe('');
      expect(urlResult.code).toBe(0);
      expect(urlResult.stdout).toContain('trust: fetched from http://');
      expect(urlResult.stdout).toContain('anchors versions 1..3');
    });

    it('exits 1 with one line on stderr when the service cannot be reached', async () => {
      const r = await verify(['--bundle', bundleFile(plain, 2), '--trust', svc.url]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`sigledger verify: cannot reach ${svc.url} (ECONNREFUSED)\n`);
      expect(r.stdout).toBe('');
    });
  });

  describe('when a bundle was signed by a key after its compromise instant', () => {
    it('is invalid (exit 1) with the verifier reason: the key is not valid at the signing time', async () => {
      const r = await verify(['--bundle', bundleFile(compromised, 1), '--trust', kit]);
      expect(r.code).toBe(1);
      expect(r.stdout.split('\n')[0]).toBe(`INVALID: ${bundleFile(compromised, 1)}`);
      expect(r.stdout).toMatch(/reason: Public key is not valid for timestamp: /);
      expect(r.stdout).toMatch(/key: [0-9a-f]{64} valid from \S+ until \S+ \(anchors version 3\)/);
    });
  });

  describe('when a bundle was tampered with', () => {
    const tamper = (name: string, edit: (b: Json) => void) => {
      const b = JSON.parse(readFileSync(bundleFile(plain, 1), 'utf8'));
      edit(b);
      const path = join(work, name);
      writeFileSync(path, JSON.stringify(b));
      return path;
    };
    const flip = (b64: string, at: number) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[at] = bytes[at]! ^ 0x01;
      return bytes.toString('base64');
    };

    it('refuses one changed byte of the signature (exit 1) with a reason', async () => {
      const path = tamper('sig.json', (b) => (b.dsseEnvelope.signatures[0].sig = flip(b.dsseEnvelope.signatures[0].sig, 10)));
      const r = await verify(['--bundle', path, '--trust', kit]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^INVALID: /);
      // The RFC 3161 timestamp is over the signature bytes: the verifier's first check fails.
      expect(r.stdout).toMatch(/\nreason: (timestamp could not be verified|signature verification failed)\n/);
    });

    it('refuses one changed byte of the payload (exit 1) with a reason', async () => {
      const path = tamper('payload.json', (b) => (b.dsseEnvelope.payload = flip(b.dsseEnvelope.payload, 3)));
      const r = await verify(['--bundle', path, '--trust', kit]);
      expect(r.code).toBe(1);
      // The log entry commits to the payload's hash.
      expect(r.stdout).toMatch(/\nreason: (DSSE payload hash mismatch|signature verification failed)\n/);
    });
  });

  describe('when the anchors history of the kit was tampered with', () => {
    it('refuses a later version with a signature removed, naming the version (exit 1)', async () => {
      const copy = join(work, 'tampered-kit');
      cpSync(kit, copy, { recursive: true });
      const file = join(copy, 'anchors', '0000000002.json');
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      doc.signatures = doc.signatures.slice(1);
      writeFileSync(file, JSON.stringify(doc));
      const r = await verify(['--bundle', bundleFile(plain, 1), '--trust', copy]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('reason: trust: anchors version 2 does not verify against version 1: signed by 1/2 approvers of version 1');
    });

    it('refuses a history with a version missing', async () => {
      const copy = join(work, 'gap-kit');
      cpSync(kit, copy, { recursive: true });
      rmSync(join(copy, 'anchors', '0000000002.json'));
      const r = await verify(['--bundle', bundleFile(plain, 1), '--trust', copy]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('reason: trust: anchors/ has no version 2');
    });

    it('refuses an anchors.json that is not the latest version of the history', async () => {
      const copy = join(work, 'latest-kit');
      cpSync(kit, copy, { recursive: true });
      cpSync(join(copy, 'anchors', '0000000001.json'), join(copy, 'anchors.json'));
      const stale = await verify(['--bundle', bundleFile(plain, 1), '--trust', copy]);
      expect(stale.code).toBe(1);
      expect(stale.stdout).toContain('reason: trust: anchors.json is version 1 but the history goes on to version 3');
      const doc = JSON.parse(readFileSync(join(copy, 'anchors', '0000000003.json'), 'utf8'));
      writeFileSync(join(copy, 'anchors.json'), JSON.stringify({ ...doc, issuedAt: '2000-01-01T00:00:00Z' }));
      const changed = await verify(['--bundle', bundleFile(plain, 1), '--trust', copy]);
      expect(changed.code).toBe(1);
      expect(changed.stdout).toContain('reason: trust: anchors.json differs from anchors version 3 of the history');
    });
  });

  describe('when files of the kit are hostile', () => {
    it('refuses an oversized trusted_root.json without reading it (exit 1)', async () => {
      const copy = join(work, 'big-kit');
      cpSync(kit, copy, { recursive: true });
      writeFileSync(join(copy, 'trusted_root.json'), Buffer.alloc(5 << 20, 0x20));
      const r = await verify(['--bundle', bundleFile(plain, 1), '--trust', copy]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('reason: trust: trusted_root.json is larger than 4194304 bytes');
    });

    it('refuses a FIFO in place of an anchors version instead of blocking on it (exit 1)', async () => {
      const copy = join(work, 'fifo-kit');
      cpSync(kit, copy, { recursive: true });
      rmSync(join(copy, 'anchors', '0000000003.json'));
      execFileSync('mkfifo', [join(copy, 'anchors', '0000000003.json')]);
      const r = await verify(['--bundle', bundleFile(plain, 1), '--trust', copy]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('reason: trust: anchors/0000000003.json is not a regular file');
    });
  });

  describe('when --artifact is given', () => {
    it('accepts the signed payload itself and says so', async () => {
      const file = join(work, 'notes.txt');
      writeFileSync(file, payloads[plain.bundleId]!);
      const r = await verify(['--bundle', bundleFile(plain, 2), '--trust', kit, '--artifact', file]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/artifact: equals the signed payload \(18 bytes, SHA-256 [0-9a-f]{64}\)/);
    });

    it('refuses other bytes than the payload (exit 1)', async () => {
      const r = await verify(['--bundle', bundleFile(plain, 2), '--trust', kit, '--artifact', join(work, 'other.bin')]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('reason: artifact: it is not the signed payload');
    });

    it('accepts an artifact whose SHA-256 is a subject of the in-toto statement, naming it', async () => {
      const r = await verify(['--bundle', bundleFile(statement, 2), '--trust', kit, '--artifact', join(work, 'artifact.bin')]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`artifact: SHA-256 ${artifactSha} matches subject "artifact.bin" of the in-toto statement`);
    });

    it('refuses an artifact that is no subject of the statement (exit 1)', async () => {
      const r = await verify(['--bundle', bundleFile(statement, 1), '--trust', kit, '--artifact', join(work, 'other.bin')]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/reason: artifact: its SHA-256 [0-9a-f]{64} is the digest of no subject of the in-toto statement \(2 subjects\)/);
    });
  });

  describe('when the bundle file is not a bundle', () => {
    const cases: [string, string | Buffer, RegExp][] = [
      ['a JSON object of another kind', '{"hello":"world"}', /reason: the bundle file is not a Sigstore bundle/],
      ['not JSON', 'not json at all', /reason: the bundle file is not JSON/],
      ['JSON with a duplicate key', '{"mediaType":"a","mediaType":"b"}', /reason: the bundle file is not strict JSON: duplicate key "mediaType"/],
      ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), /reason: the bundle file is not UTF-8 text/],
      ['a JSON array', '[1,2]', /reason: the bundle file is not a JSON object/],
    ];
    for (const [what, content, reason] of cases) {
      it(`answers ${what} with exit 1 and a clear reason, no stack trace`, async () => {
        const path = join(work, 'not-a-bundle.json');
        writeFileSync(path, content);
        const r = await verify(['--bundle', path, '--trust', kit]);
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(reason);
        expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
      });
    }
  });

  describe('when the command is used wrongly', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['--trust missing', () => ['--bundle', bundleFile(plain, 1)], /--bundle and --trust are required/],
      ['--bundle missing', () => ['--trust', kit], /--bundle and --trust are required/],
      ['a bundle file that does not exist', () => ['--bundle', join(work, 'nope.json'), '--trust', kit], /cannot read --bundle .*ENOENT/],
      ['a trust directory that does not exist', () => ['--bundle', bundleFile(plain, 1), '--trust', join(work, 'nope')], /is neither an http\(s\) URL nor a directory/],
      ['a directory that is no trust directory', () => ['--bundle', bundleFile(plain, 1), '--trust', work], /has no trusted_root\.json and anchors\//],
      ['an artifact that does not exist', () => ['--bundle', bundleFile(plain, 1), '--trust', kit, '--artifact', join(work, 'nope')], /cannot read --artifact/],
      ['an unknown flag', () => ['--bundle', bundleFile(plain, 1), '--trust', kit, '--nope'], /Unknown option/],
    ];
    for (const [what, args, message] of cases) {
      it(`exits 2 with one line for ${what}`, async () => {
        const r = await verify(args());
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stdout).toBe('');
      });
    }
  });
});
