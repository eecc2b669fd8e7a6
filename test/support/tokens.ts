/**
 * Hand-made dev tokens for authorization tests: OpToks and PoEs signed with the dev issuers' own
 * keys (DATA_DIR/dev/optok-issuer.key, poe-issuer.key; see src/app/auth/dev-issuer.ts), with any
 * claim overridden, so a test can present a token the service's keys really signed but that is
 * expired, for another audience, or a PoE for another tenant than the OpTok's.
 */
import { createPrivateKey, createPublicKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, importPKCS8, SignJWT, type CryptoKey } from 'jose';
import { opTokBinding, POE_BINDING_CLAIM } from '../../src/app/access/auth/authenticator.ts';
import { DEV_AUDIENCE, DEV_FILES, DEV_OPTOK_ISSUER, DEV_POE_ISSUER } from '../../src/app/access/auth/dev-issuer.ts';

export interface MintOpTok {
  readonly subject?: string;
  /** The OpTok's `tenant` claim; null leaves it out. Default "acme". */
  readonly tenant?: string | null;
  readonly scopes?: readonly string[];
  /** Default "signer". */
  readonly audience?: string;
  readonly issuer?: string;
  /** Issue time, epoch seconds (default now). */
  readonly iat?: number;
  /** Expiry, epoch seconds (default iat + 3600). */
  readonly exp?: number;
}

export interface MintPoe {
  readonly subject?: string;
  /** Default "acme". */
  readonly tenant?: string;
  /** Default "team". */
  readonly plan?: string;
  readonly issuer?: string;
  readonly iat?: number;
  readonly exp?: number;
  /** The OpTok (compact, without "Bearer ") the PoE is bound to (its `ath` claim); absent: an unbound PoE, which the service refuses. */
  readonly opTok?: string;
  /** Overrides the `ath` claim (null leaves it out). */
  readonly ath?: string | null;
}

export interface DevTokenMinter {
  /** A compact OpTok JWS (without "Bearer "). */
  opTok(claims?: MintOpTok): Promise<string>;
  /** A compact PoE JWS. */
  poe(claims?: MintPoe): Promise<string>;
  /** Request headers for an OpTok and a PoE. */
  headers(opTok: string, poe: string): Record<string, string>;
  /**
   * A compact JWS over exactly these header and claims texts (e.g. with a member name twice, which
   * no JWT library writes), signed with the dev OpTok or PoE issuer key.
   */
  signRaw(kind: 'opTok' | 'poe', header: string, claims: string): string;
  /** The dev issuers' key ids and issuers, for hand-written headers and claims. */
  readonly ids: { readonly opTokKid: string; readonly poeKid: string };
  /** An OpTok and a PoE bound to it, as request headers. */
  pair(opTok?: MintOpTok, poe?: Omit<MintPoe, 'opTok'>): Promise<Record<string, string>>;
}

async function loadKey(dir: string, file: string): Promise<{ kid: string; key: CryptoKey; keyObject: KeyObject }> {
  const pem = readFileSync(join(dir, file), 'utf8');
  const keyObject = createPrivateKey(pem);
  const { kty, crv, x } = createPublicKey(keyObject).export({ format: 'jwk' });
  return { kid: await calculateJwkThumbprint({ kty, crv, x }, 'sha256'), key: await importPKCS8(pem, 'EdDSA'), keyObject };
}

/** A minter over the dev issuer keys of a (started, dev-mode) service's data dir. */
export async function devTokenMinter(dataDir: string): Promise<DevTokenMinter> {
  const dir = join(dataDir, 'dev');
  const opTokKey = await loadKey(dir, DEV_FILES.opTokKey);
  const poeKey = await loadKey(dir, DEV_FILES.poeKey);
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const minter: DevTokenMinter = {
    async opTok(c = {}) {
      const tenant = c.tenant === undefined ? 'acme' : c.tenant;
      const iat = c.iat ?? nowSeconds();
      return new SignJWT({ scope: [...(c.scopes ?? ['signer.sign'])].join(' '), ...(tenant === null ? {} : { tenant }) })
        .setProtectedHeader({ alg: 'EdDSA', kid: opTokKey.kid, typ: 'at+jwt' })
        .setIssuer(c.issuer ?? DEV_OPTOK_ISSUER)
        .setAudience(c.audience ?? DEV_AUDIENCE)
        .setSubject(c.subject ?? 'dev:acme')
        .setIssuedAt(iat)
        .setExpirationTime(c.exp ?? iat + 3600)
        .setJti(randomUUID())
        .sign(opTokKey.key);
    },
    async poe(c = {}) {
      const iat = c.iat ?? nowSeconds();
      const ath = c.ath !== undefined ? c.ath : c.opTok !== undefined ? opTokBinding(c.opTok) : null;
      return new SignJWT({ tenant: c.tenant ?? 'acme', plan: c.plan ?? 'team', ...(ath === null ? {} : { [POE_BINDING_CLAIM]: ath }) })
        .setProtectedHeader({ alg: 'EdDSA', kid: poeKey.kid, typ: 'JWT' })
        .setIssuer(c.issuer ?? DEV_POE_ISSUER)
        .setSubject(c.subject ?? 'dev:acme')
        .setIssuedAt(iat)
        .setExpirationTime(c.exp ?? iat + 3600)
        .setJti(randomUUID())
        .sign(poeKey.key);
    },
    headers: (opTok, poe) => ({ authorization: `Bearer ${opTok}`, 'x-proof-of-entitlement': poe }),
    ids: { opTokKid: opTokKey.kid, poeKid: poeKey.kid },
    signRaw(kind, header, claims) {
      const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(claims).toString('base64url')}`;
      const key = kind === 'opTok' ? opTokKey.keyObject : poeKey.keyObject;
      return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
    },
    async pair(op = {}, p = {}) {
      const opTok = await minter.opTok(op);
      return minter.headers(opTok, await minter.poe({ ...p, opTok }));
    },
  };
  return minter;
}
