import { base64url, exportJWK, generateKeyPair, generateSecret, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash, KeyObject, sign as edSign } from 'node:crypto';
import { createAuthenticator, opTokBinding, type Authenticator, type Caller } from '../../../../src/app/access/auth/authenticator.ts';
import { keySourceFromJwks } from '../../../../src/app/access/auth/jwks.ts';
import { caught } from '../../../support/errors.ts';

const OP_ISS = 'https://idp.example/';
const POE_ISS = 'https://licensing.example/';
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const s = (ms: number) => Math.floor(ms / 1000);

interface Signer {
  key: CryptoKey | Uint8Array;
  alg: string;
  kid: string;
}

async function keyPair(alg: 'EdDSA' | 'ES256' | 'RS256', kid: string): Promise<{ signer: Signer; jwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  return { signer: { key: privateKey, alg, kid }, jwk: { ...(await exportJWK(publicKey)), kid } };
}

async function sign(signer: Signer, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: signer.alg, kid: signer.kid, ...header }).sign(signer.key);
}

/** A compact EdDSA JWS over exactly this header and these claims texts (which may repeat a member name: no JWT library writes that). */
function rawJws(signer: Signer, header: object | string, claims: string): string {
  const input = `${base64url.encode(typeof header === 'string' ? header : JSON.stringify(header))}.${base64url.encode(claims)}`;
  return `${input}.${base64url.encode(edSign(null, Buffer.from(input), KeyObject.from(signer.key as CryptoKey)))}`;
}

describe('authenticator', () => {
  let ed: { signer: Signer; jwk: JWK };
  let es: { signer: Signer; jwk: JWK };
  let rs: { signer: Signer; jwk: JWK };
  let stranger: { signer: Signer; jwk: JWK };
  let lic: { signer: Signer; jwk: JWK };
  let clock: number;
  let auth: Authenticator;

  const opClaims = (over: JWTPayload = {}): JWTPayload => ({
    iss: OP_ISS,
    aud: 'signer',
    sub: 'user-1',
    tenant: 'acme',
    scope: 'signer.sign other',
    iat: s(T0),
    exp: s(T0) + 600,
    ...over,
  });
  const poeClaims = (over: JWTPayload = {}): JWTPayload => ({
    iss: POE_ISS,
    sub: 'user-1',
    tenant: 'acme',
    plan: 'team',
    iat: s(T0),
    exp: s(T0) + 3600,
    ...over,
  });
  const bearer = (t: string) => `Bearer ${t}`;
  /** A PoE bound to `opTok` (claim ath), as the licensing issuer makes one. */
  const poeFor = (opTok: string, over: JWTPayload = {}) => sign(lic.signer, poeClaims({ ath: opTokBinding(opTok), ...over }));
  const tokenOf = (authorization: string | undefined) => (authorization ?? '').replace(/^Bearer /, '');
  const poe = (authorization?: string) => poeFor(tokenOf(authorization));
  const run = async (authorization: string | undefined, poeToken?: string | null, requiredScope = 'signer.sign'): Promise<Caller> =>
    auth.authenticate({ authorization, poe: poeToken === null ? undefined : (poeToken ?? (await poe(authorization))), requiredScope });

  beforeAll(async () => {
    ed = await keyPair('EdDSA', 'ed-1');
    es = await keyPair('ES256', 'es-1');
    rs = await keyPair('RS256', 'rs-1');
    stranger = await keyPair('EdDSA', 'stranger');
    lic = await keyPair('EdDSA', 'lic-1');
    clock = T0;
    auth = createAuthenticator({
      // The RSA key is in the set, but the key source ignores it.
      opTok: { keys: keySourceFromJwks({ keys: [ed.jwk, es.jwk, rs.jwk] }), issuer: OP_ISS, audience: 'signer' },
      poe: { keys: keySourceFromJwks({ keys: [lic.jwk] }), issuer: POE_ISS },
      now: () => clock,
    });
  });

  describe('when the OpTok and PoE are valid', () => {
    it('accepts an EdDSA OpTok and names subject, tenant, plan, scopes and expiry', async () => {
      clock = T0;
      const caller = await run(bearer(await sign(ed.signer, opClaims())));
      expect(caller).toMatchObject({ subject: 'user-1', tenant: 'acme', plan: 'team', expiresAt: (s(T0) + 600) * 1000 });
      expect([...caller.scopes].sort()).toEqual(['other', 'signer.sign']);
    });

    it('accepts an ES256 OpTok', async () => {
      clock = T0;
      const tok = await sign(es.signer, opClaims({ sub: 'user-2' }));
      const caller = await run(bearer(tok), await poeFor(tok, { sub: 'user-2' }));
      expect(caller.subject).toBe('user-2');
    });

    it('accepts scopes given as an scp array and a matching tenant claim', async () => {
      clock = T0;
      const tok = await sign(ed.signer, opClaims({ scope: undefined, scp: ['signer.sign'], tenant: 'acme' }));
      expect((await run(bearer(tok))).scopes.has('signer.sign')).toBe(true);
    });

    it('tries each matching key when the token names no kid', async () => {
      clock = T0;
      const { kid: _a, ...edNoKid } = ed.jwk;
      const { kid: _b, ...strangerNoKid } = stranger.jwk;
      const multi = createAuthenticator({
        opTok: { keys: keySourceFromJwks({ keys: [edNoKid, strangerNoKid] }), issuer: OP_ISS, audience: 'signer' },
        poe: { keys: keySourceFromJwks({ keys: [lic.jwk] }), issuer: POE_ISS },
        now: () => clock,
      });
      const tok = await new SignJWT(opClaims()).setProtectedHeader({ alg: 'EdDSA' }).sign(stranger.signer.key);
      await expect(multi.authenticate({ authorization: bearer(tok), poe: await poeFor(tok), requiredScope: 'signer.sign' })).resolves.toMatchObject({ subject: 'user-1' });
      const forged = await new SignJWT(opClaims()).setProtectedHeader({ alg: 'EdDSA' }).sign(lic.signer.key);
      await expect(multi.authenticate({ authorization: bearer(forged), poe: await poeFor(forged), requiredScope: 'signer.sign' })).rejects.toMatchObject({
        details: { reason: 'bad_signature' },
      });
    });

    it('accepts a token that expired less than the clock skew ago', async () => {
      clock = T0 + 610_000; // exp + 10 s, skew 30 s
      const tok = await sign(ed.signer, opClaims());
      await expect(run(bearer(tok), await poeFor(tok))).resolves.toMatchObject({ subject: 'user-1' });
    });
  });

  describe('when the Authorization header is wrong', () => {
    const cases: [string, () => Promise<string | undefined>, string][] = [
      ['missing', async () => undefined, 'missing_token'],
      ['empty', async () => '', 'missing_token'],
      ['not Bearer', async () => `Basic ${await sign(ed.signer, opClaims())}`, 'malformed_token'],
      ['Bearer with two spaces', async () => `Bearer  ${await sign(ed.signer, opClaims())}`, 'malformed_token'],
      ['not a JWT', async () => 'Bearer abc', 'malformed_token'],
      ['over 8 KiB', async () => `Bearer ${'a'.repeat(9000)}.b.c`, 'token_too_large'],
    ];
    for (const [what, header, reason] of cases) {
      it(`refuses a ${what} header with 401 ${reason}`, async () => {
        clock = T0;
        const err = await caught(run(await header()));
        expect(err.code).toBe('unauthenticated');
        expect(err.details?.reason).toBe(reason);
      });
    }

    it('never echoes the token in the error', async () => {
      const tok = await sign(stranger.signer, opClaims());
      const err = await caught(run(bearer(tok)));
      expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain(tok.split('.')[1]);
    });
  });

  describe('when the OpTok is not acceptable', () => {
    const cases: [string, () => Promise<string>, string, number?][] = [
      ['signed with HS256 and a secret', async () => sign({ key: await generateSecret('HS256'), alg: 'HS256', kid: 'ed-1' }, opClaims()), 'alg_not_allowed'],
      ['signed with RS256', async () => sign(rs.signer, opClaims()), 'alg_not_allowed'],
      [
        'unsigned (alg none)',
        async () => {
          const enc = (o: object) => base64url.encode(JSON.stringify(o));
          return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(opClaims())}.`;
        },
        'alg_not_allowed',
      ],
      ['signed by an unknown kid', async () => sign(stranger.signer, opClaims()), 'unknown_key'],
      ['signed by another key under a known kid', async () => sign({ ...stranger.signer, kid: 'ed-1' }, opClaims()), 'bad_signature'],
      ['from another issuer', async () => sign(ed.signer, opClaims({ iss: 'https://evil.example/' })), 'bad_issuer'],
      ['for another audience', async () => sign(ed.signer, opClaims({ aud: 'other' })), 'bad_audience'],
      ['without an audience', async () => sign(ed.signer, opClaims({ aud: undefined })), 'bad_audience'],
      ['expired beyond the clock skew', async () => sign(ed.signer, opClaims()), 'expired', T0 + 631_000],
      ['not yet valid (nbf)', async () => sign(ed.signer, opClaims({ nbf: s(T0) + 120 })), 'not_yet_valid'],
      ['issued in the future (iat)', async () => sign(ed.signer, opClaims({ iat: s(T0) + 120 })), 'not_yet_valid'],
      ['without exp', async () => sign(ed.signer, opClaims({ exp: undefined })), 'missing_exp'],
      ['without sub', async () => sign(ed.signer, opClaims({ sub: undefined })), 'bad_subject'],
      ['with an empty sub', async () => sign(ed.signer, opClaims({ sub: '' })), 'bad_subject'],
      ['with a sub over 256 characters', async () => sign(ed.signer, opClaims({ sub: 'x'.repeat(257) })), 'bad_subject'],
      ['with a tampered payload', async () => {
        const [h, , sig] = (await sign(ed.signer, opClaims())).split('.');
        return `${h}.${base64url.encode(JSON.stringify(opClaims({ sub: 'admin' })))}.${sig}`;
      }, 'bad_signature'],
    ];
    for (const [what, token, reason, at] of cases) {
      it(`refuses one ${what} with 401 ${reason}`, async () => {
        clock = T0;
        const tok = await token();
        clock = at ?? T0;
        const err = await caught(run(bearer(tok), await sign(lic.signer, poeClaims({ exp: s(T0) + 7200 }))));
        expect(err.code).toBe('unauthenticated');
        expect(err.details?.reason).toBe(reason);
      });
    }

    it('says, for an unknown key, that the token may come from another data directory or issuer', async () => {
      clock = T0;
      const err = await caught(run(bearer(await sign(stranger.signer, opClaims())), await sign(lic.signer, poeClaims())));
      expect(err).toMatchObject({ code: 'unauthenticated', details: { reason: 'unknown_key' } });
      expect(err.message).toMatch(/unknown key.*sigledger token --data DIR.*another data directory/);
      expect(err.message).not.toMatch(/eyJ/);
    });
  });

  describe('when a token repeats a member name, lives too long or names no tenant (issue 16)', () => {
    const claimsText = (over: JWTPayload = {}) => JSON.stringify(opClaims(over));
    const cases: [string, () => string | Promise<string>, string][] = [
      // Without the strict reading, JSON.parse keeps the last `scope` and the token would pass with signer.sign.
      ['a second scope claim', () => rawJws(ed.signer, { alg: 'EdDSA', kid: 'ed-1' }, `${claimsText({ scope: 'signer.read' }).slice(0, -1)},"scope":"signer.sign"}`), 'duplicate_key'],
      ['a duplicate member inside a nested claim', () => rawJws(ed.signer, { alg: 'EdDSA', kid: 'ed-1' }, `${claimsText().slice(0, -1)},"cnf":{"jkt":"a","jkt":"b"}}`), 'duplicate_key'],
      ['a duplicate header member (kid)', () => rawJws(ed.signer, '{"alg":"EdDSA","kid":"stranger","kid":"ed-1"}', claimsText()), 'duplicate_key'],
      ['a duplicate header member (alg)', () => rawJws(ed.signer, '{"alg":"HS256","kid":"ed-1","alg":"EdDSA"}', claimsText()), 'duplicate_key'],
      ['claims followed by a second JSON text', () => rawJws(ed.signer, { alg: 'EdDSA', kid: 'ed-1' }, `${claimsText()}{}`), 'malformed_token'],
      ['a lifetime (exp - iat) over 24 h', () => sign(ed.signer, opClaims({ iat: s(T0), exp: s(T0) + 24 * 3600 + 1 })), 'lifetime_too_long'],
      ['no iat and an exp more than 24 h (plus skew) away', () => sign(ed.signer, opClaims({ iat: undefined, exp: s(T0) + 24 * 3600 + 31 })), 'lifetime_too_long'],
      ['no tenant claim (the PoE names one)', () => sign(ed.signer, opClaims({ tenant: undefined })), 'missing_tenant'],
      ['a subject with a bidi override', () => sign(ed.signer, opClaims({ sub: 'user-\u202e1' })), 'bad_subject'],
    ];
    for (const [what, token, reason] of cases) {
      it(`refuses an OpTok with ${what} with 401 ${reason}`, async () => {
        clock = T0;
        const tok = await token();
        const err = await caught(run(bearer(tok), await poeFor(tok)));
        expect(err.code).toBe('unauthenticated');
        expect(err.details?.reason).toBe(reason);
      });
    }

    it('accepts a lifetime of exactly the maximum, and a token without iat whose exp is within it', async () => {
      clock = T0;
      const full = await sign(ed.signer, opClaims({ iat: s(T0), exp: s(T0) + 24 * 3600 }));
      await expect(run(bearer(full), await poeFor(full, { exp: s(T0) + 600 }))).resolves.toMatchObject({ subject: 'user-1' });
      const noIat = await sign(ed.signer, opClaims({ iat: undefined, exp: s(T0) + 3600 }));
      await expect(run(bearer(noIat), await poeFor(noIat))).resolves.toMatchObject({ subject: 'user-1' });
    });

    it('applies a configured maximum lifetime, and refuses one out of bounds', async () => {
      clock = T0;
      const strict = createAuthenticator({
        opTok: { keys: keySourceFromJwks({ keys: [ed.jwk] }), issuer: OP_ISS, audience: 'signer' },
        poe: { keys: keySourceFromJwks({ keys: [lic.jwk] }), issuer: POE_ISS },
        maxLifetimeSeconds: 300,
        now: () => clock,
      });
      const tok = await sign(ed.signer, opClaims()); // 600 s
      const err = await caught(strict.authenticate({ authorization: bearer(tok), poe: await poeFor(tok, { exp: s(T0) + 300 }), requiredScope: 'signer.sign' }));
      expect(err.details?.reason).toBe('lifetime_too_long');
      const keys = { opTok: { keys: keySourceFromJwks({ keys: [ed.jwk] }), issuer: OP_ISS, audience: 'signer' }, poe: { keys: keySourceFromJwks({ keys: [lic.jwk] }), issuer: POE_ISS } };
      expect(() => createAuthenticator({ ...keys, maxLifetimeSeconds: 10 })).toThrow(/lifetime/);
    });

    it('takes the tenant from the OpTok, which the PoE must match', async () => {
      clock = T0;
      const tok = await sign(ed.signer, opClaims({ tenant: 'globex' }));
      await expect(run(bearer(tok), await poeFor(tok, { tenant: 'globex' }))).resolves.toMatchObject({ tenant: 'globex' });
    });
  });

  describe('when the OpTok lacks the required scope', () => {
    it('refuses with 403 missing_scope', async () => {
      clock = T0;
      const err = await caught(run(bearer(await sign(ed.signer, opClaims({ scope: 'signer.read' })))));
      expect(err.code).toBe('forbidden');
      expect(err.details?.reason).toBe('missing_scope');
    });

    it('does not take a scope that only prefixes a granted one', async () => {
      clock = T0;
      const err = await caught(run(bearer(await sign(ed.signer, opClaims({ scope: 'signer.signer' })))));
      expect(err.details?.reason).toBe('missing_scope');
    });
  });

  describe('when the PoE is not acceptable', () => {
    const cases: [string, (op: string) => Promise<string | null>, string, JWTPayload?][] = [
      ['missing', async () => null, 'missing_poe'],
      ['not a JWT', async () => 'nope', 'poe_malformed'],
      ['too large', async () => 'a'.repeat(9000), 'poe_too_large'],
      ['expired', async (op) => poeFor(op, { exp: s(T0) - 60 }), 'poe_expired'],
      ['for another subject', async (op) => poeFor(op, { sub: 'user-9' }), 'poe_subject_mismatch'],
      ['for another tenant than the OpTok names', async (op) => poeFor(op, { tenant: 'other' }), 'poe_tenant_mismatch', { tenant: 'acme' }],
      ['signed by the OpTok key', async (op) => sign(ed.signer, poeClaims({ ath: opTokBinding(op) })), 'poe_unknown_key'],
      ['signed by the OpTok key under the licensing kid', async (op) => sign({ ...ed.signer, kid: 'lic-1' }, poeClaims({ ath: opTokBinding(op) })), 'poe_bad_signature'],
      ['from another issuer', async (op) => poeFor(op, { iss: OP_ISS }), 'poe_bad_issuer'],
      ['without a plan', async (op) => poeFor(op, { plan: undefined }), 'poe_invalid_claims'],
      ['with an invalid tenant', async (op) => poeFor(op, { tenant: '../etc' }), 'poe_invalid_claims'],
      ['an OpTok passed as PoE', async () => sign(ed.signer, opClaims()), 'poe_unknown_key'],
      // Issue 16: bound to the OpTok, not only to sub.
      ['without the binding claim ath', async () => sign(lic.signer, poeClaims()), 'poe_unbound'],
      ['bound to another OpTok of the same subject and tenant', async () => poeFor(await sign(ed.signer, opClaims({ jti: 'another' }))), 'poe_binding_mismatch'],
      ['bound to the OpTok by a hash of another encoding', async (op) => poeFor(op, { ath: createHash('sha256').update(op).digest('base64') }), 'poe_binding_mismatch'],
      ['repeating a claim (a second tenant)', async (op) => rawJws(lic.signer, { alg: 'EdDSA', kid: 'lic-1' }, `${JSON.stringify(poeClaims({ ath: opTokBinding(op), tenant: 'other' })).slice(0, -1)},"tenant":"acme"}`), 'poe_duplicate_key'],
      ['valid for longer than the maximum lifetime', async (op) => poeFor(op, { exp: s(T0) + 24 * 3600 + 1 }), 'poe_lifetime_too_long'],
    ];
    for (const [what, token, reason, opExtra] of cases) {
      it(`refuses a PoE ${what} with 403 ${reason}`, async () => {
        clock = T0;
        const op = await sign(ed.signer, opClaims(opExtra));
        const p = await token(op);
        const err = await caught(run(bearer(op), p));
        expect(err.code).toBe('forbidden');
        expect(err.details?.reason).toBe(reason);
      });
    }
  });

  describe('when the same token pair comes again', () => {
    it('answers from the cache with the same caller', async () => {
      clock = T0;
      const local = createAuthenticator({
        opTok: { keys: keySourceFromJwks({ keys: [ed.jwk] }), issuer: OP_ISS, audience: 'signer' },
        poe: { keys: keySourceFromJwks({ keys: [lic.jwk] }), issuer: POE_ISS },
        now: () => clock,
      });
      const tok = await sign(ed.signer, opClaims());
      const input = { authorization: bearer(tok), poe: await poeFor(tok), requiredScope: 'signer.sign' };
      const first = await local.authenticate(input);
      const second = await local.authenticate(input);
      expect(second).toBe(first);
      expect(local.stats()).toMatchObject({ size: 1, hits: 1, misses: 1 });
    });

    it('still checks the required scope on a hit', async () => {
      clock = T0;
      const tok = await sign(ed.signer, opClaims());
      const input = { authorization: bearer(tok), poe: await poeFor(tok), requiredScope: 'signer.sign' };
      await auth.authenticate(input);
      const err = await caught(auth.authenticate({ ...input, requiredScope: 'ledger.admin' }));
      expect(err.details?.reason).toBe('missing_scope');
    });

    it('rejects a token that expired while cached', async () => {
      clock = T0;
      const tok = await sign(ed.signer, opClaims());
      const input = { authorization: bearer(tok), poe: await poeFor(tok), requiredScope: 'signer.sign' };
      await auth.authenticate(input);
      clock = T0 + 600_000 + 31_000; // past exp + skew
      const err = await caught(auth.authenticate(input));
      expect(err.code).toBe('unauthenticated');
      expect(err.details?.reason).toBe('expired');
    });

    it('rejects once the PoE expired while cached, even though the OpTok lives on', async () => {
      clock = T0;
      const tok = await sign(ed.signer, opClaims({ exp: s(T0) + 7200 }));
      const input = { authorization: bearer(tok), poe: await poeFor(tok, { exp: s(T0) + 60 }), requiredScope: 'signer.sign' };
      expect((await auth.authenticate(input)).expiresAt).toBe((s(T0) + 60) * 1000);
      clock = T0 + 100_000;
      const err = await caught(auth.authenticate(input));
      expect(err.details?.reason).toBe('poe_expired');
    });

    it('does not cache a failure as a success', async () => {
      clock = T0;
      const tok = await sign(ed.signer, opClaims());
      const input = { authorization: bearer(tok), poe: await poeFor(tok, { sub: 'x' }), requiredScope: 'signer.sign' };
      await caught(auth.authenticate(input));
      const err = await caught(auth.authenticate(input));
      expect(err.details?.reason).toBe('poe_subject_mismatch');
    });

    it('keeps at most cacheSize entries', async () => {
      clock = T0;
      const small = createAuthenticator({
        opTok: { keys: keySourceFromJwks({ keys: [ed.jwk] }), issuer: OP_ISS, audience: 'signer' },
        poe: { keys: keySourceFromJwks({ keys: [lic.jwk] }), issuer: POE_ISS },
        cacheSize: 2,
        now: () => clock,
      });
      for (let i = 0; i < 5; i++) {
        const tok = await sign(ed.signer, opClaims({ jti: `j${i}` }));
        await small.authenticate({ authorization: bearer(tok), poe: await poeFor(tok), requiredScope: 'signer.sign' });
      }
      expect(small.stats().size).toBe(2);
    });
  });

  describe('when the options are out of bounds', () => {
    it('refuses a clock skew above 300 seconds', () => {
      expect(() =>
        createAuthenticator({
          opTok: { keys: keySourceFromJwks({ keys: [ed.jwk] }), issuer: OP_ISS, audience: 'signer' },
          poe: { keys: keySourceFromJwks({ keys: [lic.jwk] }), issuer: POE_ISS },
          clockSkewSeconds: 301,
        }),
      ).toThrow(/clock skew/);
    });
  });
});
