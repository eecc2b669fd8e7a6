import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSoftHsmSkipped, setupSoftHsm, type SoftHsmSetup } from '../support/softhsm.ts';
import { devPrivateSeeds, filesUnder, needlesOf, sealedKeySeeds, sealedTsaScalars } from '../support/secrets.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { verifyBundle, type ApiKey } from '../support/sigstore.ts';
import { devApproval } from '../support/approvers.ts';

interface Signed {
  bundleId: string;
  keyId: string;
  bundle: unknown;
  signingIdentity: { backend: string };
}

async function signOnce(svc: TestService, text: string): Promise<{ status: number; body: Signed }> {
  const res = await svc.app.request('/api/v1/signer/sign/dsse', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await svc.tokens()) },
    body: JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') }),
  });
  return { status: res.status, body: (await res.json()) as Signed };
}

const keysOf = async (svc: TestService) => (await (await svc.app.request('/api/v1/keys')).json()) as ApiKey[];

/** Restart on the same data dir: the same key signs, and earlier bundles are still served and verify. */
async function restartCheck(envIn: NodeJS.ProcessEnv, dataDir: string, backend: string, logs?: NodeJS.WritableStream) {
  const env = { SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10', ...envIn };
  const first = await startTestService(env, { dataDir, ...(logs ? { logs } : {}) });
  const a = await signOnce(first, 'before restart');
  expect(a.status).toBe(201);
  expect(a.body.signingIdentity.backend).toBe(backend);
  await first.stop();

  const second = await startTestService(env, { dataDir, ...(logs ? { logs } : {}) });
  try {
    const keys = await keysOf(second);
    const root = await (await second.app.request('/api/v1/trust/trusted_root.json')).json();
    expect(keys.map((k) => k.keyId)).toEqual([a.body.keyId]);
    const served = await second.app.request(`/api/v1/bundles/${a.body.bundleId}`);
    expect(served.status).toBe(200);
    const view = (await served.json()) as { bundle: unknown };
    expect(view.bundle).toEqual(a.body.bundle);
    verifyBundle(view.bundle, keys, root);
    const b = await signOnce(second, 'after restart');
    expect(b.status).toBe(201);
    expect(b.body.keyId).toBe(a.body.keyId);
    verifyBundle(b.body.bundle, keys, root);
    expect((await signOnce(second, 'before restart')).status).toBe(200);
  } finally {
    await second.stop();
  }
  return a.body.keyId;
}


describe('signing keys across restarts', () => {
  describe('when the file key store is used', () => {
    let dataDir: string;
    const kek = randomBytes(32);
    const logs = new PassThrough();
    let logText = '';
    logs.on('data', (d: Buffer) => (logText += d.toString('utf8')));

    beforeAll(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'sigledger-keys-'));
    });
    afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

    it('signs with the same key after a restart and still serves and verifies earlier bundles', async () => {
      await restartCheck({ SIGLEDGER_KEK: kek.toString('base64') }, dataDir, 'file', logs);
    });

    it('never writes the private key to the event store, the read models or the logs', async () => {
      // Two sealed keys (the signing key and the log key), the TSA's ECDSA key, the dev approvers' keys.
      const sealed = sealedKeySeeds(dataDir, kek);
      expect(sealed).toHaveLength(2);
      for (const s of sealed) expect(s.bytes).toHaveLength(32);
      const tsa = sealedTsaScalars(dataDir, kek);
      expect(tsa).toHaveLength(1);
      const approvers = devPrivateSeeds(dataDir).filter((s) => s.name.includes('approvers'));
      expect(approvers).toHaveLength(3);
      const seeds = [...sealed, ...tsa, ...approvers].map((s) => s.bytes);
      const needles = [...needlesOf([...sealed, ...tsa, ...approvers]).map((n) => n.needle), kek, Buffer.from(kek.toString('base64').slice(0, 40))];
      const seed = seeds[0]!;
      // Everything the service wrote, except the sealed key files themselves and the dev issuer's own keys.
      const files = filesUnder(dataDir, (rel) => rel === 'keys' || rel === 'dev');
      expect(files.some((f) => f.endsWith('events.db'))).toBe(true);
      expect(logText).toMatch(/signing key ready/);
      const haystacks = [...files.map((f) => ({ name: relative(dataDir, f), bytes: readFileSync(f) })), { name: 'logs', bytes: Buffer.from(logText) }];
      for (const { name, bytes } of haystacks) {
        for (const needle of needles) expect(bytes.includes(needle), `${name} contains private key material`).toBe(false);
      }
      // The scan can fail: the sealed file's plaintext would be found if it were there.
      expect(Buffer.concat([Buffer.from('x'), seed]).includes(needles[0]!)).toBe(true);
    });
  });

  describe('when the pkcs11 key store is used (SoftHSM2)', () => {
    let hsm: SoftHsmSetup;
    let dataDir: string;
    beforeAll(async () => {
      hsm = await setupSoftHsm();
      if (isSoftHsmSkipped(hsm)) process.stderr.write(`[pkcs11 service] SKIPPED: ${hsm.skipped}\n`);
      dataDir = mkdtempSync(join(tmpdir(), 'sigledger-hsm-'));
    }, 300_000);
    afterAll(async () => {
      if (hsm && !isSoftHsmSkipped(hsm)) await hsm.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('signs through the token with the same key after a restart', async (ctx) => {
      if (isSoftHsmSkipped(hsm)) return ctx.skip(`SoftHSM2 unavailable: ${hsm.skipped}`);
      const env = { SIGLEDGER_KEY_STORE: 'pkcs11', SIGLEDGER_PKCS11_MODULE: hsm.module, SIGLEDGER_PKCS11_PIN: hsm.pin, SIGLEDGER_PKCS11_TOKEN_LABEL: hsm.tokenLabel };
      await restartCheck(env, dataDir, 'pkcs11');
      // No sealed signing-key files: the key lives in the token only (the TSA's key is a sealed secret).
      const sealed = readdirSync(dataDir).includes('keys') ? readdirSync(join(dataDir, 'keys')) : [];
      expect(sealed.filter((f) => f.endsWith('.key.json'))).toEqual([]);
    });

    it('rotates to a new key generated in the token and re-signs with it', async (ctx) => {
      if (isSoftHsmSkipped(hsm)) return ctx.skip(`SoftHSM2 unavailable: ${hsm.skipped}`);
      const env = { SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10', SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_KEY_STORE: 'pkcs11', SIGLEDGER_PKCS11_MODULE: hsm.module, SIGLEDGER_PKCS11_PIN: hsm.pin, SIGLEDGER_PKCS11_TOKEN_LABEL: hsm.tokenLabel };
      const svc = await startTestService(env, { dataDir });
      try {
        const admin = await svc.tokens({ scopes: ['ledger.admin'] });
        const opened = await svc.app.request('/api/v1/rotations', { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'hsm rotation' }) });
        expect(opened.status).toBe(202);
        const { rotationId, ceremonyId } = (await opened.json()) as { rotationId: string; ceremonyId: string };
        const ceremony = (await (await svc.app.request(`/api/v1/ceremonies/${ceremonyId}`)).json()) as { proposal: import('../../src/domain/ceremony.ts').CeremonyProposal };
        for (const n of [1, 2]) {
          const body = devApproval(dataDir, n, ceremony.proposal);
          expect((await svc.app.request(`/api/v1/ceremonies/${ceremonyId}/approvals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(200);
        }
        let rotation: { state: string; newKeyId: string; progress: { resigned: number; failed: number } } | undefined;
        for (let i = 0; i < 400 && rotation?.state !== 'completed'; i++) {
          rotation = (await (await svc.app.request(`/api/v1/rotations/${rotationId}`)).json()) as typeof rotation;
          await new Promise((r) => setTimeout(r, 25));
        }
        expect(rotation).toMatchObject({ state: 'completed', progress: { resigned: 2, failed: 0 } });
        const keys = await keysOf(svc);
        expect(keys.find((k) => k.keyId === rotation!.newKeyId)).toMatchObject({ status: 'active', backend: 'pkcs11' });
        const signed = await signOnce(svc, 'after hsm rotation');
        expect(signed.body).toMatchObject({ keyId: rotation!.newKeyId, signingIdentity: { backend: 'pkcs11' } });
        const root = await (await svc.app.request('/api/v1/trust/trusted_root.json')).json();
        verifyBundle(signed.body.bundle, keys, root);
      } finally {
        await svc.stop();
      }
    });
  });
});
