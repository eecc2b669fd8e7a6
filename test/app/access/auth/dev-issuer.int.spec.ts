import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../../../src/app/access/auth/authenticator.ts';
import { DEV_FILES, DEV_OPTOK_ISSUER, DEV_POE_ISSUER, ensureDevIssuer } from '../../../../src/app/access/auth/dev-issuer.ts';
import { keySourceFromFile } from '../../../../src/app/access/auth/jwks.ts';
import { ConfigError } from '../../../../src/errors.ts';
import { useTempDir } from '../../../support/temp-dir.ts';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('dev issuer', () => {
  const dataDir = useTempDir('sigledger-dev-issuer-');

  describe('when the data directory is new', () => {
    it('creates two issuer keys and public JWKS files, 0600 in a 0700 directory', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      const dir = join(dataDir(), 'dev');
      expect(mode(dir)).toBe(0o700);
      for (const f of Object.values(DEV_FILES)) expect(mode(join(dir, f))).toBe(0o600);
      expect(readFileSync(join(dir, DEV_FILES.opTokKey), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      expect(issuer.opTokKid).not.toBe(issuer.poeKid);
    });

    it('writes no private key material into the JWKS files', async () => {
      await ensureDevIssuer(dataDir());
      for (const f of [DEV_FILES.opTokJwks, DEV_FILES.poeJwks]) {
        const jwks = JSON.parse(readFileSync(join(dataDir(), 'dev', f), 'utf8')) as { keys: Record<string, unknown>[] };
        expect(jwks.keys).toHaveLength(1);
        expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
        expect(jwks.keys[0]).not.toHaveProperty('d');
      }
    });
  });

  describe('when it issues tokens', () => {
    it('issues an OpTok and a PoE that its own key sources authenticate', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      const auth = createAuthenticator(issuer.authenticatorOptions());
      const t = await issuer.issue({ tenant: 'acme', plan: 'unlimited' });
      expect(t.authorization).toMatch(/^Bearer /);
      expect(Object.keys(t).sort()).toEqual(['authorization', 'poe']);
      const caller = await auth.authenticate({ authorization: t.authorization, poe: t.poe, requiredScope: 'signer.sign' });
      expect(caller).toMatchObject({ subject: 'dev:acme', tenant: 'acme', plan: 'unlimited' });
    });

    it('uses the defaults: tenant dev, plan team, scope signer.sign, one hour', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      const now = Date.UTC(2026, 5, 1);
      const t = await issuer.issue({ now });
      const op = decodeJwt(t.authorization.slice('Bearer '.length));
      const poe = decodeJwt(t.poe);
      expect(op).toMatchObject({ iss: DEV_OPTOK_ISSUER, aud: 'signer', sub: 'dev:dev', scope: 'signer.sign', tenant: 'dev', exp: now / 1000 + 3600 });
      expect(poe).toMatchObject({ iss: DEV_POE_ISSUER, sub: 'dev:dev', tenant: 'dev', plan: 'team' });
      expect(decodeProtectedHeader(t.poe)).toMatchObject({ alg: 'EdDSA', kid: issuer.poeKid });
    });

    it('keeps OpTok and PoE keys apart: a PoE does not pass as an OpTok', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      const auth = createAuthenticator(issuer.authenticatorOptions());
      const t = await issuer.issue({});
      await expect(auth.authenticate({ authorization: `Bearer ${t.poe}`, poe: t.poe, requiredScope: 'signer.sign' })).rejects.toMatchObject({
        code: 'unauthenticated',
        details: { reason: 'unknown_key' },
      });
    });

    it('verifies against the jwks.json file too', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      const auth = createAuthenticator({
        opTok: { keys: keySourceFromFile(join(dataDir(), 'dev', DEV_FILES.opTokJwks)), issuer: DEV_OPTOK_ISSUER, audience: 'signer' },
        poe: { keys: keySourceFromFile(join(dataDir(), 'dev', DEV_FILES.poeJwks)), issuer: DEV_POE_ISSUER },
      });
      const t = await issuer.issue({ tenant: 't1', scopes: ['signer.sign', 'ledger.admin'] });
      const caller = await auth.authenticate({ authorization: t.authorization, poe: t.poe, requiredScope: 'ledger.admin' });
      expect(caller.tenant).toBe('t1');
    });

    it('names the scanner image in the OpTok claim scanner_image, which the caller then carries', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      const auth = createAuthenticator(issuer.authenticatorOptions());
      const image = `registry.example:5000/acme/scanner@sha256:${'ab'.repeat(32)}`;
      const t = await issuer.issue({ scannerImage: image });
      expect(decodeJwt(t.authorization.slice('Bearer '.length))).toMatchObject({ scanner_image: image });
      expect(await auth.authenticate({ authorization: t.authorization, poe: t.poe, requiredScope: 'signer.sign' })).toMatchObject({ scannerImage: image });
      const plain = await issuer.issue({});
      expect(await auth.authenticate({ authorization: plain.authorization, poe: plain.poe, requiredScope: 'signer.sign' })).not.toHaveProperty('scannerImage');
    });

    it('refuses a scanner image that is not pinned by digest', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      await expect(issuer.issue({ scannerImage: 'registry.example/acme/scanner:v1' })).rejects.toThrow(/--scanner-image: .*pinned by digest/);
      await expect(issuer.issue({ scannerImage: `registry.example/acme/scanner@sha256:${'AB'.repeat(32)}` })).rejects.toThrow(ConfigError);
    });

    it('refuses a bad tenant, an empty scope list or a lifetime over 24 h with one ConfigError line', async () => {
      const issuer = await ensureDevIssuer(dataDir());
      await expect(issuer.issue({ tenant: '../x' })).rejects.toThrow(ConfigError);
      await expect(issuer.issue({ scopes: [] })).rejects.toThrow(/--scope/);
      await expect(issuer.issue({ ttlSeconds: 86_401 })).rejects.toThrow(/lifetime/);
    });
  });

  describe('when the keys exist already', () => {
    it('reuses them, and tokens from one instance verify with the other', async () => {
      const first = await ensureDevIssuer(dataDir());
      const second = await ensureDevIssuer(dataDir());
      expect(second.opTokKid).toBe(first.opTokKid);
      expect(second.poeKid).toBe(first.poeKid);
      const t = await first.issue({});
      const auth = createAuthenticator(second.authenticatorOptions());
      await expect(auth.authenticate({ ...t, requiredScope: 'signer.sign' })).resolves.toMatchObject({ tenant: 'dev' });
    });

    it('agrees on one key when several processes start at once', async () => {
      const issuers = await Promise.all([1, 2, 3, 4].map(() => ensureDevIssuer(dataDir())));
      expect(new Set(issuers.map((i) => i.opTokKid)).size).toBe(1);
    });

    it('tightens a key file left readable by others', async () => {
      await ensureDevIssuer(dataDir());
      const key = join(dataDir(), 'dev', DEV_FILES.opTokKey);
      chmodSync(key, 0o644);
      await ensureDevIssuer(dataDir());
      expect(mode(key)).toBe(0o600);
    });

    it('with create: false, refuses a data directory without keys', async () => {
      await expect(ensureDevIssuer(dataDir(), { create: false })).rejects.toThrow(/no dev issuer key/);
    });
  });
});
