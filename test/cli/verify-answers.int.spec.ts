/**
 * `sigledger verify --bundle FILE` where FILE is what the service answered (issue #15): the
 * answer of POST /api/v1/signer/sign/dsse and of GET /api/v1/bundles/{id} hold the bundle in
 * `.bundle`, which is verified; a file that is neither says exactly what to pass.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { http, type Json } from '../support/http.ts';
import { startTestService, type TestService } from '../support/service.ts';

describe('sigledger verify with an answer of the service', () => {
  let svc: TestService;
  let work: string;
  let signed: Json;
  const write = (name: string, value: unknown) => {
    const path = join(work, name);
    writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
    return path;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sigledger-answers-'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20', SIGLEDGER_ROTATION_CRON: 'off' });
    const r = await http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: await svc.tokens(), json: { payloadType: 'text/plain', payload: Buffer.from('hello\n').toString('base64') } });
    expect(r.status).toBe(201);
    signed = r.body;
  });
  afterAll(async () => {
    await svc?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('when the file is the answer of POST /api/v1/signer/sign/dsse', () => {
    it('verifies its bundle (exit 0) and says it was taken from the answer', async () => {
      const path = write('sign-answer.json', signed);
      const r = await runCli(['verify', '--bundle', path, '--trust', svc.url]);
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')[0]).toBe(`VALID: ${path}`);
      expect(r.stdout).toContain(`bundle: read from the "bundle" field of a sigledger answer of bundle ${signed.bundleId}`);
      expect(r.code).toBe(0);
    });
  });

  describe('when the answer around the bundle claims another key or log index', () => {
    it('is invalid (exit 1) naming the disagreement, and labels the answer\'s claims as unverified otherwise', async () => {
      for (const [field, value, message] of [
        ['keyId', 'f'.repeat(64), /the answer says keyId f{64} but the bundle in its "bundle" field is signed by/],
        ['logIndex', 999_999, /the answer says logIndex 999999 but the bundle in its "bundle" field has log index/],
        ['logIndex', [String(signed.logIndex)], /the answer's logIndex is not a log index/],
        ['keyId', [signed.keyId], /the answer's keyId is not a string/],
      ] as const) {
        const path = write(`tampered-${field}.json`, { ...signed, [field]: value });
        const r = await runCli(['verify', '--bundle', path, '--trust', svc.url]);
        expect(r.code).toBe(1);
        expect(r.stdout + r.stderr).toMatch(message);
      }
      const honest = await runCli(['verify', '--bundle', write('honest.json', signed), '--trust', svc.url]);
      expect(honest.stdout).toContain("(the answer's own claim; not covered by the signature)");
    });
  });

  describe('when the file is the answer of GET /api/v1/bundles/{id}', () => {
    it('verifies its bundle (exit 0)', async () => {
      const view = await http(svc, `/api/v1/bundles/${signed.bundleId}`);
      expect(view.status).toBe(200);
      const path = write('bundle-answer.json', view.body);
      const r = await runCli(['verify', '--bundle', path, '--trust', svc.url, '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ valid: true, bundle: { payloadType: 'text/plain' } });
    });
  });

  describe('when the file is neither a bundle nor such an answer', () => {
    it('is invalid (exit 1) and names what to pass', async () => {
      const path = write('other.json', { bundleId: signed.bundleId, state: 'whatever' });
      const r = await runCli(['verify', '--bundle', path, '--trust', svc.url]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        'reason: the bundle file is not a Sigstore bundle (it has no mediaType) nor a sigledger answer holding one in "bundle": pass a Sigstore bundle (a kit\'s bundles/<bundleId>/v<n>.bundle.json), or the JSON answer of POST /api/v1/signer/sign/dsse or of GET /api/v1/bundles/{bundleId}',
      );
    });

    it('names the field when the answer\'s "bundle" is not a Sigstore bundle', async () => {
      const path = write('bad-inner.json', { bundleId: signed.bundleId, bundle: { hello: 'world' } });
      const r = await runCli(['verify', '--bundle', path, '--trust', svc.url]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/reason: the bundle in the "bundle" field of the file is not a Sigstore bundle/);
    });
  });
});
