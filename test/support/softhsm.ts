/**
 * SoftHSM2 for tests: finds (or, as root on Debian/Ubuntu, installs) libsofthsm2.so, creates a
 * throw-away token directory + softhsm2.conf, points SOFTHSM2_CONF at it and initialises a token.
 * Returns `{ skipped: reason }` when SoftHSM2 truly cannot be made available (or SIGLEDGER_SOFTHSM=off),
 * so callers can report the pkcs11 tests as skipped (with why) instead of failing.
 *
 * SOFTHSM2_CONF is read by the library when C_Initialize runs, so `setupSoftHsm()` must complete
 * before a Pkcs11KeyStore is opened. One process uses one token directory: calling `setupSoftHsm()`
 * again while another set-up is live re-points SOFTHSM2_CONF for everything opened afterwards.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errText, installWithApt, isFile } from './apt.ts';

const run = promisify(execFile);

export const SOFTHSM_MODULE_CANDIDATES: readonly string[] = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
  '/usr/local/opt/softhsm/lib/softhsm/libsofthsm2.so',
];

export interface SoftHsm {
  /** Path of libsofthsm2.so (the PKCS#11 module). */
  readonly module: string;
  readonly pin: string;
  readonly soPin: string;
  readonly tokenLabel: string;
  /** Temporary directory holding softhsm2.conf and the token directory. */
  readonly dir: string;
  /** Environment for a sigledger service (or a child process) using this token. */
  readonly env: Readonly<Record<string, string>>;
  /** Removes the token directory and restores SOFTHSM2_CONF. Idempotent. */
  cleanup(): Promise<void>;
}

export type SoftHsmSetup = SoftHsm | { readonly skipped: string };

export const isSoftHsmSkipped = (s: SoftHsmSetup): s is { readonly skipped: string } => 'skipped' in s;


/** The path of libsofthsm2.so if it is installed (SOFTHSM2_MODULE overrides the search), else undefined. */
export function findSoftHsmModule(): string | undefined {
  const override = process.env.SOFTHSM2_MODULE;
  if (override && isFile(override)) return override;
  return SOFTHSM_MODULE_CANDIDATES.find(isFile);
}

async function findUtil(): Promise<string | undefined> {
  for (const p of ['/usr/bin/softhsm2-util', '/usr/local/bin/softhsm2-util', '/opt/homebrew/bin/softhsm2-util']) if (isFile(p)) return p;
  try {
    const { stdout } = await run('sh', ['-c', 'command -v softhsm2-util'], { timeout: 5_000 });
    const p = stdout.trim();
    return p && isFile(p) ? p : undefined;
  } catch {
    return undefined;
  }
}



/**
 * Makes sure libsofthsm2.so and softhsm2-util are present: returns their paths, installing the
 * `softhsm2` package with apt-get when running as root, or `{ skipped }` saying why not.
 */
export async function ensureSoftHsmInstalled(): Promise<{ module: string; util: string } | { skipped: string }> {
  const present = async () => {
    const module = findSoftHsmModule();
    const util = await findUtil();
    return module && util ? { module, util } : undefined;
  };
  return installWithApt('softhsm2', 'SoftHSM2', 'SIGLEDGER_NO_SOFTHSM_INSTALL', present);
}

export interface SoftHsmOptions {
  readonly tokenLabel?: string;
  readonly pin?: string;
  readonly soPin?: string;
}

/** Installs SoftHSM2 if needed, creates a fresh token in a temp dir and sets SOFTHSM2_CONF. */
export async function setupSoftHsm(options: SoftHsmOptions = {}): Promise<SoftHsmSetup> {
  const tokenLabel = options.tokenLabel ?? 'sigledger-test';
  const pin = options.pin ?? '1234';
  const soPin = options.soPin ?? '5678';

  if (process.env.SIGLEDGER_SOFTHSM === 'off') return { skipped: 'SIGLEDGER_SOFTHSM=off' };
  const ready = await ensureSoftHsmInstalled();
  if ('skipped' in ready) return ready;

  const dir = mkdtempSync(join(tmpdir(), 'sigledger-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });

  const previousConf = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    if (process.env.SOFTHSM2_CONF === conf) {
      if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previousConf;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await run(ready.util, ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', soPin], {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      timeout: 60_000,
    });
  } catch (e) {
    await cleanup();
    return { skipped: `softhsm2-util --init-token failed: ${errText(e)}` };
  }

  return {
    module: ready.module,
    pin,
    soPin,
    tokenLabel,
    dir,
    env: {
      SOFTHSM2_CONF: conf,
      SIGLEDGER_KEY_STORE: 'pkcs11',
      SIGLEDGER_PKCS11_MODULE: ready.module,
      SIGLEDGER_PKCS11_TOKEN_LABEL: tokenLabel,
      SIGLEDGER_PKCS11_PIN: pin,
    },
    cleanup,
  };
}
