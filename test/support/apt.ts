/** Shared by the test fixtures that need a Debian package (SoftHSM2, docker-registry). */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
