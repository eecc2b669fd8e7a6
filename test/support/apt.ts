/** Shared by the test fixtures that need a Debian package (SoftHSM2, docker-registry). */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/** The last lines of a failed command's stderr (or message), for a one-line skip reason. */
export const errText = (e: unknown): string => {
  const x = e as { stderr?: string; message?: string };
  return (x.stderr?.trim() || x.message || String(e)).split('\n').slice(-3).join(' | ').slice(0, 400);
};

/** Serialises apt-get between concurrently running test files (vitest forks). */
export async function withInstallLock<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(tmpdir(), `sigledger-${what}-install.lock`);
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another ${what} installation`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Installs a Debian package for a test fixture when it is missing and we may (Linux, root,
 * apt-get, not opted out with `optOut`=1): one apt-get at a time across test files, retried once
 * after `apt-get update`. `present()` finds what the fixture needs; `afterInstall` runs once the
 * package is in. Answers what `present()` found, or `{ skipped }` with the reason.
 */
export async function installWithApt<T>(
  pkg: string,
  label: string,
  optOut: string,
  present: () => Promise<T | undefined>,
  afterInstall?: () => Promise<void>,
): Promise<T | { skipped: string }> {
  const found = await present();
  if (found) return found;
  if (process.env[optOut] === '1') return { skipped: `${label} is not installed and ${optOut}=1` };
  if (process.platform !== 'linux') return { skipped: `${label} is not installed (install it with your package manager; auto-install only on Linux, this is ${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { skipped: `${label} is not installed and the tests do not run as root (install it: apt-get install ${pkg})` };
  if (!existsSync('/usr/bin/apt-get')) return { skipped: `${label} is not installed and apt-get is not available to install it` };
  return withInstallLock(pkg, async () => {
    const again = await present();
    if (again) return again;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { env, timeout: 5 * 60_000 });
    try {
      await install();
    } catch (first) {
      try {
        await run('apt-get', ['update', '-qq'], { env, timeout: 5 * 60_000 });
        await install();
      } catch (second) {
        return { skipped: `${label} could not be installed with apt-get: ${errText(second)} (first attempt: ${errText(first)})` };
      }
    }
    await afterInstall?.();
    return (await present()) ?? { skipped: `apt-get installed ${pkg} but what the tests need was not found in the usual places` };
  });
}
