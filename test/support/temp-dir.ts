/** Scratch directories under the OS temp dir that a suite creates and removes around its tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { ServeProcess } from './cli.ts';

/**
 * Registers hooks that create a fresh `<tmp>/<prefix>XXXXXX` before each test (`'each'`) or once
 * before the suite (`'all'`) and remove it afterwards. Returns the current directory's path (call
 * it inside a test or hook: the directory exists only while tests run).
 */
export function useTempDir(prefix: string, scope: 'each' | 'all' = 'each'): () => string {
  let dir: string | undefined;
  const [before, after] = scope === 'each' ? [beforeEach, afterEach] : [beforeAll, afterAll];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error(`the ${prefix} temp dir exists only while tests run`);
    return dir;
  };
}

/**
 * A fresh data dir for a suite that SIGKILLs and restarts `sigledger serve` on it: after the
 * suite the server `running()` answers (if any) is killed and the dir removed.
 */
export function crashDataDir(prefix: string, running: () => ServeProcess | undefined): string {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(async () => {
    running()?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}
