/**
 * The caller authenticator for the configured mode: the local dev issuer (kept in the data
 * directory), or the production JWKS key sets for OpTok and PoE. Both modes apply the same rules
 * (app/access/auth/authenticator.ts): OpTok `tenant` required, PoE bound to its OpTok (`ath`),
 * lifetimes at most SIGLEDGER_MAX_TOKEN_LIFETIME.
 */
import { createAuthenticator, type Authenticator } from '../app/access/auth/authenticator.ts';
import { ensureDevIssuer } from '../app/access/auth/dev-issuer.ts';
import { createKeySource } from '../app/access/auth/jwks.ts';
import type { Logger } from '../app/common/logger.ts';
import type { Config } from '../config.ts';

export async function openAuthenticator(config: Config, logger: Logger): Promise<Authenticator> {
  if (config.authMode === 'dev') {
    const issuer = await ensureDevIssuer(config.dataDir);
    return createAuthenticator({ ...issuer.authenticatorOptions(), maxLifetimeSeconds: config.auth.maxTokenLifetimeSeconds });
  }
  const opTokKeys = createKeySource(config.auth.jwks!, { label: 'SIGLEDGER_JWKS' });
  const poeKeys = createKeySource(config.auth.poeJwks!, { label: 'SIGLEDGER_POE_JWKS' });
  // Fail fast on an unreadable or empty key set (a URL that is down only warns: the IdP may come back).
  await Promise.all(
    [opTokKeys, poeKeys].map(async (keys) => {
      try {
        await keys.load();
      } catch (err) {
        if (keys.kind !== 'remote') throw err;
        logger.warn({ jwks: keys.description }, 'JWKS unreachable at start-up; tokens are refused with 503 until it answers');
      }
    }),
  );
  return createAuthenticator({
    opTok: { keys: opTokKeys, issuer: config.auth.issuer!, audience: 'signer' },
    poe: { keys: poeKeys, issuer: config.auth.poeIssuer! },
    maxLifetimeSeconds: config.auth.maxTokenLifetimeSeconds,
  });
}
