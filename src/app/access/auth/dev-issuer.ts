/**
 * Dev mode's local issuers (SPEC §1): one Ed25519 key signs OpToks (issuer DEV_OPTOK_ISSUER),
 * a second, separate Ed25519 key signs PoEs (issuer DEV_POE_ISSUER), so a token of one kind can
 * never pass as the other even if an issuer check were misconfigured.
 *
 * Files under DATA_DIR/dev/ (directory 0700, files 0600):
 *   optok-issuer.key   PKCS#8 PEM, OpTok issuer private key
 *   poe-issuer.key     PKCS#8 PEM, licensing (PoE) issuer private key
 *   jwks.json          public JWKS of the OpTok issuer (usable as SIGLEDGER_JWKS)
 *   poe-jwks.json      public JWKS of the licensing issuer
 * Key ids are RFC 7638 JWK thumbprints. Keys are created once (atomically: written to a temporary
 * file and hard-linked into place, so two processes starting together agree on one key) and
 * reloaded on every later call. The JWKS files are derived from the keys and rewritten if they
 * drift; they never contain private members.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, importPKCS8, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { ConfigError } from '../../../errors.ts';
import type { AuthenticatorOptions } from './authenticator.ts';
import { opTokBinding, POE_BINDING_CLAIM, SCANNER_IMAGE_CLAIM, TENANT_PATTERN } from './authenticator.ts';
import { parsePinnedImage } from '../../../oci/reference.ts';
import { keySourceFromJwks, type KeySource } from './jwks.ts';

export const DEV_OPTOK_ISSUER = 'https://sigledger.local/dev-issuer';
export const DEV_POE_ISSUER = 'https://sigledger.local/dev-licensing';
export const DEV_AUDIENCE = 'signer';
export const DEV_DEFAULTS = { tenant: 'dev', plan: 'team', scopes: ['signer.sign'] as readonly string[], ttlSeconds: 3600 } as const;
export const DEV_MAX_TTL_SECONDS = 24 * 3600;

export const DEV_FILES = {
  opTokKey: 'optok-issuer.key',
  poeKey: 'poe-issuer.key',
  opTokJwks: 'jwks.json',
  poeJwks: 'poe-jwks.json',
} as const;

export interface DevTokenRequest {
  /** Default `dev:<tenant>`. */
  readonly subject?: string;
  /** Default DEV_DEFAULTS.tenant ("dev"). */
  readonly tenant?: string;
  /** Default "team". Not checked against the configured plans here. */
  readonly plan?: string;
  /** Default ["signer.sign"]. */
  readonly scopes?: readonly string[];
  /** Default 3600, at most 86400. */
  readonly ttlSeconds?: number;
  /** The caller's scanner image (`HOST[:PORT]/NAME@sha256:<hex>`), as the OpTok claim `scanner_image`. */
  readonly scannerImage?: string;
  /** Issue time, epoch ms. Default Date.now(). */
  readonly now?: number;
}

/** Exactly the object `sigledger token` prints. */
export interface DevTokens {
  readonly authorization: string;
  readonly poe: string;
}

export interface DevIssuer {
  /** DATA_DIR/dev */
  readonly dir: string;
  readonly opTokKid: string;
  readonly poeKid: string;
  /** Public JWKS of each issuer (same content as jwks.json / poe-jwks.json). */
  jwks(): { opTok: JSONWebKeySet; poe: JSONWebKeySet };
  /** Inline key sources over the public keys, for createAuthenticator. */
  keySources(): { opTok: KeySource; poe: KeySource };
  /** `opTok` and `poe` options for createAuthenticator (issuers, audience "signer", key sources). */
  authenticatorOptions(): Pick<AuthenticatorOptions, 'opTok' | 'poe'>;
  /** Signs an OpTok and a PoE for one subject/tenant. Throws ConfigError (one line) on bad input. */
  issue(req?: DevTokenRequest): Promise<DevTokens>;
}

export interface EnsureDevIssuerOptions {
  /** false: only load; throw ConfigError when the keys do not exist (e.g. `sigledger token` against a wrong --data). Default true. */
  readonly create?: boolean;
}

interface LoadedKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function ensureDevIssuer(dataDir: string, opts: EnsureDevIssuerOptions = {}): Promise<DevIssuer> {
  const create = opts.create ?? true;
  const dir = join(dataDir, 'dev');
  try {
    if (create) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await tighten(dir, 0o700);
    }
    const opTok = await ensureKey(dir, DEV_FILES.opTokKey, create);
    const poe = await ensureKey(dir, DEV_FILES.poeKey, create);
    const opTokJwks: JSONWebKeySet = { keys: [opTok.publicJwk] };
    const poeJwks: JSONWebKeySet = { keys: [poe.publicJwk] };
    if (create) {
      await writeIfChanged(join(dir, DEV_FILES.opTokJwks), `${JSON.stringify(opTokJwks, null, 2)}\n`);
      await writeIfChanged(join(dir, DEV_FILES.poeJwks), `${JSON.stringify(poeJwks, null, 2)}\n`);
    }
    return makeIssuer(dir, opTok, poe, opTokJwks, poeJwks);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError(`cannot set up the dev issuer in ${dir}: ${err.code ?? err.message ?? 'error'}`);
  }
}

function makeIssuer(dir: string, opTok: LoadedKey, poe: LoadedKey, opTokJwks: JSONWebKeySet, poeJwks: JSONWebKeySet): DevIssuer {
  const sources = {
    opTok: keySourceFromJwks(opTokJwks, { label: 'dev OpTok issuer JWKS' }),
    poe: keySourceFromJwks(poeJwks, { label: 'dev licensing JWKS' }),
  };
  return {
    dir,
    opTokKid: opTok.kid,
    poeKid: poe.kid,
    jwks: () => ({ opTok: structuredClone(opTokJwks), poe: structuredClone(poeJwks) }),
    keySources: () => sources,
    authenticatorOptions: () => ({
      opTok: { keys: sources.opTok, issuer: DEV_OPTOK_ISSUER, audience: DEV_AUDIENCE },
      poe: { keys: sources.poe, issuer: DEV_POE_ISSUER },
    }),
    async issue(req = {}) {
      const tenant = req.tenant ?? DEV_DEFAULTS.tenant;
      if (!TENANT_PATTERN.test(tenant)) throw new ConfigError(`--tenant must match ${TENANT_PATTERN.source}`);
      const plan = req.plan ?? DEV_DEFAULTS.plan;
      if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(plan)) throw new ConfigError('--plan must be a plan name (lowercase letters, digits, "_" or "-", up to 32)');
      const subject = req.subject ?? `dev:${tenant}`;
      if (!/^[\u0021-\u007e]{1,256}$/.test(subject)) throw new ConfigError('subject must be 1 to 256 printable ASCII characters');
      const scopes = req.scopes ?? DEV_DEFAULTS.scopes;
      if (scopes.length === 0 || scopes.length > 32 || !scopes.every((s) => /^[\u0021-\u007e]{1,128}$/.test(s))) {
        throw new ConfigError('--scope must be 1 to 32 scopes of printable ASCII without spaces');
      }
      const ttl = req.ttlSeconds ?? DEV_DEFAULTS.ttlSeconds;
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > DEV_MAX_TTL_SECONDS) throw new ConfigError(`token lifetime must be an integer from 1 to ${DEV_MAX_TTL_SECONDS} seconds`);
      if (req.scannerImage !== undefined) {
        try {
          parsePinnedImage(req.scannerImage);
        } catch (err) {
          throw new ConfigError(`--scanner-image: ${(err as Error).message}`);
        }
      }
      const iat = Math.floor((req.now ?? Date.now()) / 1000);
      const exp = iat + ttl;

      const opTokJwt = await new SignJWT({ scope: [...new Set(scopes)].join(' '), tenant, ...(req.scannerImage !== undefined ? { [SCANNER_IMAGE_CLAIM]: req.scannerImage } : {}) })
        .setProtectedHeader({ alg: 'EdDSA', kid: opTok.kid, typ: 'at+jwt' })
        .setIssuer(DEV_OPTOK_ISSUER)
        .setAudience(DEV_AUDIENCE)
        .setSubject(subject)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(opTok.privateKey);
      // Bound to this OpTok (authenticator.ts): a PoE cannot be replayed with another OpTok of the same subject.
      const poeJwt = await new SignJWT({ tenant, plan, [POE_BINDING_CLAIM]: opTokBinding(opTokJwt) })
        .setProtectedHeader({ alg: 'EdDSA', kid: poe.kid, typ: 'JWT' })
        .setIssuer(DEV_POE_ISSUER)
        .setSubject(subject)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(poe.privateKey);
      return { authorization: `Bearer ${opTokJwt}`, poe: poeJwt };
    },
  };
}

async function ensureKey(dir: string, name: string, create: boolean): Promise<LoadedKey> {
  const path = join(dir, name);
  let pem: string | undefined = await readKeyFile(path);
  if (pem === undefined) {
    if (!create) throw new ConfigError(`no dev issuer key at ${path}: start the service once in dev mode with this data directory`);
    await createKeyFile(path);
    pem = await readKeyFile(path);
    if (pem === undefined) throw new ConfigError(`dev issuer key ${path} vanished while being created`);
  }
  let publicJwk: JWK;
  try {
    const priv = createPrivateKey({ key: pem, format: 'pem' });
    if (priv.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    const { kty, crv, x } = createPublicKey(priv).export({ format: 'jwk' });
    publicJwk = { kty, crv, x };
  } catch {
    throw new ConfigError(`${path} is not an Ed25519 PKCS#8 private key`);
  }
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const privateKey = await importPKCS8(pem, 'EdDSA');
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' } };
}

/** The PEM text, or undefined when the file does not exist. Tightens loose permissions to 0600. */
async function readKeyFile(path: string): Promise<string | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    await tighten(path, 0o600);
    return text;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function createKeyFile(path: string): Promise<void> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeDurable(tmp, pem);
  try {
    await link(tmp, path); // atomic, never overwrites: a concurrent creator's key wins
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function writeIfChanged(path: string, content: string): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) {
    await tighten(path, 0o600);
    return;
  }
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeDurable(tmp, content);
  await rename(tmp, path);
}

async function writeDurable(path: string, content: string): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(path, 0o600); // whatever the umask did
}

async function tighten(path: string, mode: number): Promise<void> {
  const st = await stat(path);
  if ((st.mode & 0o777) !== mode) await chmod(path, mode);
}
