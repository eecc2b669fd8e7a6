/**
 * `sigledger token`: dev-mode tokens from the local dev issuer of a data directory. It only ever
 * loads the issuer that `sigledger serve` created: minting from a new issuer the service does
 * not know (a mistyped --data) would give tokens every request refuses, with no hint why. The PoE
 * it prints is bound to the OpTok it prints (claim `ath`), and a --ttl beyond the service's
 * SIGLEDGER_MAX_TOKEN_LIFETIME is refused here rather than by every request.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEV_DEFAULTS, DEV_FILES, ensureDevIssuer, type DevTokenRequest } from '../app/access/auth/dev-issuer.ts';
import type { Config } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { exists } from './common/bounded-read.ts';
import { UsageError } from './common/errors.ts';
import { printable } from './common/printable.ts';

export interface TokenIo {
  readonly out: (line: string) => void;
}

/** The data directory must hold a dev issuer already; a UsageError naming where it looked otherwise. */
async function requireDevIssuer(dataDir: string): Promise<void> {
  const shown = printable(dataDir, 200);
  const start = `start the service once with it (sigledger serve --data ${shown}), or name the data directory the service uses with --data DIR or SIGLEDGER_DATA_DIR`;
  const info = await stat(dataDir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`the data directory ${shown} does not exist: ${start}`);
  if (!(await exists(join(dataDir, 'dev', DEV_FILES.opTokKey))) || !(await exists(join(dataDir, 'dev', DEV_FILES.poeKey)))) {
    throw new UsageError(`no dev issuer in ${shown} (looked for dev/${DEV_FILES.opTokKey} and dev/${DEV_FILES.poeKey}; sigledger token never creates one): ${start}`);
  }
}

export async function token(config: Config, request: DevTokenRequest, io: TokenIo): Promise<number> {
  if (config.authMode !== 'dev') throw new ConfigError('sigledger token works in dev mode only (SIGLEDGER_AUTH_MODE=dev); production tokens come from your issuer');
  const ttl = request.ttlSeconds ?? DEV_DEFAULTS.ttlSeconds;
  if (ttl > config.auth.maxTokenLifetimeSeconds) {
    throw new UsageError(`--ttl ${ttl} exceeds the longest token lifetime the service accepts (SIGLEDGER_MAX_TOKEN_LIFETIME=${config.auth.maxTokenLifetimeSeconds} seconds)`);
  }
  await requireDevIssuer(config.dataDir);
  const issuer = await ensureDevIssuer(config.dataDir, { create: false });
  const tokens = await issuer.issue(request);
  io.out(JSON.stringify({ authorization: tokens.authorization, poe: tokens.poe }));
  return 0;
}
