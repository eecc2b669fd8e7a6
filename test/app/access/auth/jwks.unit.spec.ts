import { exportJWK, generateKeyPair, generateSecret, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../../../src/app/access/auth/authenticator.ts';
import { createKeySource, filterJwks, keySourceFromFile, keySourceFromJwks, keySourceFromUrl, type KeySource } from '../../../../src/app/access/auth/jwks.ts';
import { ConfigError, LedgerError } from '../../../../src/errors.ts';

async function edKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { privateKey, pub: { ...(await exportJWK(publicKey)), kid } as JWK, priv: { ...(await exportJWK(privateKey)), kid } as JWK };
}

/** Resolves a key for a token signed with `kid` (EdDSA), or the error getKey throws. */
async function resolve(source: KeySource, kid: string): Promise<unknown> {
  try {
    return await source.getKey({ alg: 'EdDSA', kid }, { payload: '', signature: '' });
  } catch (e) {
    return e;
  }
}

describe('jwks key source', () => {
  let a: Awaited<ReturnType<typeof edKey>>;
  let b: Awaited<ReturnType<typeof edKey>>;
  let es: JWK;
  let rsa: JWK;
  let p384: JWK;
  beforeAll(async () => {
    a = await edKey('a');
    b = await edKey('b');
    es = { ...(await exportJWK((await generateKeyPair('ES256')).publicKey)), kid: 'es' };
    rsa = { ...(await exportJWK((await generateKeyPair('RS256')).publicKey)), kid: 'rsa' };
    p384 = { ...(await exportJWK((await generateKeyPair('ES384')).publicKey)), kid: 'p384' };
  });

  describe('when a set mixes key types', () => {
    it('keeps only Ed25519 and P-256 public keys, reduced to public members', async () => {
      const hmac = { ...(await exportJWK(await generateSecret('HS256', { extractable: true }))), kid: 'hs' };
      const set = filterJwks({ keys: [a.priv, es, rsa, p384, hmac, { ...b.pub, use: 'enc' }, { ...b.pub, alg: 'ES256' }, 'junk'] });
      expect(set.keys.map((k) => k.kid)).toEqual(['a', 'es']);
      expect(set.keys[0]).not.toHaveProperty('d');
    });

    it('refuses a set without any usable key with one ConfigError line', () => {
      expect(() => keySourceFromJwks({ keys: [rsa] }, { label: 'SIGLEDGER_JWKS' })).toThrow(ConfigError);
      expect(() => keySourceFromJwks({ keys: [rsa] }, { label: 'SIGLEDGER_JWKS' })).toThrow(/^SIGLEDGER_JWKS has no Ed25519/);
    });
  });

  describe('when given a configuration string', () => {
    it('takes "{…" as inline JSON, http(s) as a URL and anything else as a file', () => {
      expect(createKeySource(JSON.stringify({ keys: [a.pub] })).kind).toBe('inline');
      expect(createKeySource('https://idp.example/.well-known/jwks.json?x=1').description).toBe('https://idp.example/.well-known/jwks.json');
      expect(createKeySource('/etc/sigledger/jwks.json').kind).toBe('file');
    });

    it('refuses broken inline JSON and URLs with credentials', () => {
      expect(() => createKeySource('{"keys": [', { label: 'SIGLEDGER_JWKS' })).toThrow(/SIGLEDGER_JWKS starts with "\{" but is not valid JSON/);
      expect(() => createKeySource('https://u:p@idp.example/jwks')).toThrow(/credentials/);
    });
  });

  describe('when a file source meets an unknown kid', () => {
    it('re-reads the file, at most once per cooldown', async () => {
      let clock = 0;
      let reads = 0;
      let content = JSON.stringify({ keys: [a.pub] });
      const source = keySourceFromFile('/x/jwks.json', {
        reloadCooldownSeconds: 30,
        now: () => clock,
        readFile: async () => {
          reads++;
          return content;
        },
      });
      await source.load();
      expect(reads).toBe(1);
      expect(await resolve(source, 'a')).toHaveProperty('type', 'public');

      content = JSON.stringify({ keys: [a.pub, b.pub] });
      clock = 10_000; // within the cooldown: no re-read
      expect((await resolve(source, 'b')) as Error).toHaveProperty('code', 'ERR_JWKS_NO_MATCHING_KEY');
      expect(reads).toBe(1);

      clock = 31_000;
      expect(await resolve(source, 'b')).toHaveProperty('type', 'public');
      expect(reads).toBe(2);
    });

    it('keeps the keys it has when a re-read fails', async () => {
      let clock = 0;
      let broken = false;
      const source = keySourceFromFile('/x/jwks.json', {
        now: () => clock,
        readFile: async () => (broken ? '{ not json' : JSON.stringify({ keys: [a.pub] })),
      });
      await source.load();
      broken = true;
      clock = 60_000;
      expect((await resolve(source, 'zzz')) as Error).toHaveProperty('code', 'ERR_JWKS_NO_MATCHING_KEY');
      expect(await resolve(source, 'a')).toHaveProperty('type', 'public');
    });

    it('answers not_ready when the file cannot be read at all, and load() says why in one line', async () => {
      const source = keySourceFromFile('/nope/jwks.json', {
        label: 'SIGLEDGER_JWKS',
        readFile: async () => {
          throw Object.assign(new Error('x'), { code: 'ENOENT' });
        },
      });
      const err = (await resolve(source, 'a')) as LedgerError;
      expect(err).toBeInstanceOf(LedgerError);
      expect(err.code).toBe('not_ready');
      expect(err.details?.reason).toBe('key_source_unavailable');
      await expect(source.load()).rejects.toThrow('SIGLEDGER_JWKS: cannot read JWKS file /nope/jwks.json (ENOENT)');
    });
  });

  describe('when the keys come from a URL', () => {
    const jsonResponse = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });

    it('fetches, filters and refetches on an unknown kid after the cooldown', async () => {
      let calls = 0;
      let keys: JWK[] = [a.pub, rsa];
      const source = keySourceFromUrl('https://idp.example/jwks', {
        cooldownMs: 0,
        fetch: async () => {
          calls++;
          return jsonResponse({ keys });
        },
      });
      expect(await resolve(source, 'a')).toHaveProperty('type', 'public');
      expect(source.jwks()?.keys.map((k) => k.kid)).toEqual(['a']);
      keys = [a.pub, b.pub];
      expect(await resolve(source, 'b')).toHaveProperty('type', 'public');
      expect(calls).toBe(2);
    });

    it('answers not_ready when the IdP does not answer in time', async () => {
      const source = keySourceFromUrl('https://idp.example/jwks', {
        timeoutMs: 50,
        fetch: (_url, init) =>
          new Promise((_resolve, reject) => {
            init?.signal?.addEventListener('abort', () => reject(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
          }),
      });
      const err = (await resolve(source, 'a')) as LedgerError;
      expect(err.code).toBe('not_ready');
      expect(err.details?.reason).toBe('key_source_unavailable');
    });

    it('lets the authenticator turn an unavailable IdP into 503, not 401', async () => {
      const opTok = keySourceFromUrl('https://idp.example/jwks', { fetch: async () => new Response('down', { status: 502 }) });
      const auth = createAuthenticator({ opTok: { keys: opTok, issuer: 'i', audience: 'signer' }, poe: { keys: keySourceFromJwks({ keys: [b.pub] }), issuer: 'p' } });
      const tok = await new SignJWT({ sub: 'x', scope: 'signer.sign' }).setProtectedHeader({ alg: 'EdDSA', kid: 'a' }).setIssuer('i').setAudience('signer').setExpirationTime('1h').sign(a.privateKey);
      const err = await auth.authenticate({ authorization: `Bearer ${tok}`, poe: 'a.b.c', requiredScope: 'signer.sign' }).catch((e: unknown) => e as LedgerError);
      expect(err).toBeInstanceOf(LedgerError);
      expect((err as LedgerError).code).toBe('not_ready');
    });
  });
});
