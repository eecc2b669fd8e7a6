/**
 * Hand-made dev tokens for authorization tests: OpToks and PoEs signed with the dev issuers' own
 * keys (DATA_DIR/dev/optok-issuer.key, poe-issuer.key; see src/app/auth/dev-issuer.ts), with any
 * claim overridden, so a test can present a token the service's keys really signed but that is
 * expired, for another audience, or a PoE for another tenant than the OpTok's.
 */
import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, importPKCS8, SignJWT, type CryptoKey } from 'jose';
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
}

export interface DevTokenMinter {
  /** A compact OpTok JWS (without "Bearer "). */
  opTok(claims?: MintOpTok): Promise<string>;
  /** A compact PoE JWS. */
  poe(claims?: MintPoe): Promise<string>;
  /** Request headers for an OpTok and a PoE. */
  headers(opTok: string, poe: string): Record<string, string>;
}

async function loadKey(dir: string, file: string): Promise<{ kid: string; key: CryptoKey }> {
  const pem = readFileSync(join(dir, file), 'utf8');
  const { kty, crv, x } = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' });
  return { kid: await calculateJwkThumbprint({ kty, crv, x }, 'sha256'), key: await importPKCS8(pem, 'EdDSA') };
}

/** A minter over the dev issuer keys of a (started, dev-mode) service's data dir. */
export async function devTokenMinter(dataDir: string): Promise<DevTokenMinter> {
  const dir = join(dataDir, 'dev');
  const opTokKey = await loadKey(dir, DEV_FILES.opTokKey);
  const poeKey = await loadKey(dir, DEV_FILES.poeKey);
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  return {
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
      return new SignJWT({ tenant: c.tenant ?? 'acme', plan: c.plan ?? 'team' })
        .setProtectedHeader({ alg: 'EdDSA', kid: poeKey.kid, typ: 'JWT' })
        .setIssuer(c.issuer ?? DEV_POE_ISSUER)
        .setSubject(c.subject ?? 'dev:acme')
        .setIssuedAt(iat)
        .setExpirationTime(c.exp ?? iat + 3600)
        .setJti(randomUUID())
        .sign(poeKey.key);
    },
    headers: (opTok, poe) => ({ authorization: `Bearer ${opTok}`, 'x-proof-of-entitlement': poe }),
  };
}
