/**
 * Debian's docker-registry (CNCF Distribution 2.8) for tests: finds (or, as root on Debian/Ubuntu,
 * installs) /usr/bin/docker-registry, writes a throw-away config (filesystem storage in a temp dir,
 * deletes enabled, no auth) and serves it on 127.0.0.1 with a free port, then waits until
 * `GET /v2/` answers. Returns `{ skipped: reason }` when the registry truly cannot be made
 * available (or SIGLEDGER_REGISTRY=off), so callers report their tests as skipped (with why)
 * instead of passing silently.
 *
 * The package ships a systemd unit and a SysV init script serving /etc/docker/registry/config.yml
 * on :5000. We never use that service: every test starts its own process on its own port. When
 * this helper installed the package itself, it stops and disables that service (best effort) so
 * that nothing keeps running after the tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installWithApt, isFile } from './apt.ts';
import { sha256Digest, type OciClient } from '../../src/oci/client.ts';
import { MEDIA_TYPE, type OciDescriptor } from '../../src/oci/types.ts';

const run = promisify(execFile);

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT` — the HOST[:PORT] part of a repository reference. */
  readonly host: string;
  /** Temporary directory holding config.yml and the storage root. */
  readonly dir: string;
  /** Last lines the registry wrote on stdout/stderr (for failure messages). */
  logs(): string;
  /** Kills the process (SIGKILL: an outage), keeping the storage and the port. */
  halt(): Promise<void>;
  /** Starts the process again on the same port with the same storage, after halt(). */
  resume(): Promise<void>;
  /** Stops the process (SIGTERM, then SIGKILL) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export type TestRegistrySetup = TestRegistry | { readonly skipped: string };

export const isRegistrySkipped = (s: TestRegistrySetup): s is { readonly skipped: string } => 'skipped' in s;




/** Best effort: the packaged service must not keep running (it is not ours and not used). */
async function disablePackagedService(): Promise<void> {
  const quiet = async (cmd: string, args: string[]) => {
    try {
      await run(cmd, args, { timeout: 30_000 });
    } catch {
      /* not present / not running: fine */
    }
  };
  if (existsSync('/run/systemd/system')) {
    await quiet('systemctl', ['disable', '--now', 'docker-registry.service']);
  } else if (existsSync('/etc/init.d/docker-registry')) {
    await quiet('/etc/init.d/docker-registry', ['stop']);
    await quiet('update-rc.d', ['docker-registry', 'disable']);
  }
}

/**
 * Makes sure /usr/bin/docker-registry is present (SIGLEDGER_REGISTRY_BIN overrides the path),
 * installing the `docker-registry` package with apt-get when running as root, or `{ skipped }`.
 */
export async function ensureRegistryInstalled(): Promise<{ binary: string } | { skipped: string }> {
  const override = process.env.SIGLEDGER_REGISTRY_BIN;
  if (override) return isFile(override) ? { binary: override } : { skipped: `SIGLEDGER_REGISTRY_BIN=${override} is not a file` };
  return installWithApt('docker-registry', 'docker-registry', 'SIGLEDGER_NO_REGISTRY_INSTALL', async () => (isFile(REGISTRY_BINARY) ? { binary: REGISTRY_BINARY } : undefined), disablePackagedService);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return `docker-registry exited (${child.exitCode ?? child.signalCode})`;
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return undefined;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return `docker-registry did not answer GET /v2/ within ${timeoutMs} ms`;
}

/** Installs docker-registry if needed and starts a fresh instance on 127.0.0.1:<free port>. */
export async function startRegistry(options: { readyTimeoutMs?: number } = {}): Promise<TestRegistrySetup> {
  if (process.env.SIGLEDGER_REGISTRY === 'off') return { skipped: 'SIGLEDGER_REGISTRY=off' };
  const ready = await ensureRegistryInstalled();
  if ('skipped' in ready) return ready;

  let lastError = '';
  // A free port can be taken between probing and binding: try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'sigledger-registry-'));
    const storage = join(dir, 'storage');
    mkdirSync(storage);
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = join(dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${JSON.stringify(storage)}`,
        '  delete:',
        '    enabled: true',
        '  maintenance:',
        '    uploadpurging:',
        '      enabled: false',
        'http:',
        `  addr: ${JSON.stringify(host)}`,
        '',
      ].join('\n'),
    );
    // REGISTRY_* variables override the config file: start from an environment without them.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
    let output = '';
    const keep = (b: Buffer) => {
      output = (output + b.toString('utf8')).slice(-4_000);
    };
    const spawnRegistry = () => {
      const c = spawn(ready.binary, ['serve', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      return c;
    };
    let child = spawnRegistry();
    const spawnError = new Promise<string>((resolve) => child.once('error', (e) => resolve(`cannot start ${ready.binary}: ${e.message}`)));
    const kill = async (signal: NodeJS.Signals) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    };

    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    };
    const halt = () => kill('SIGKILL');
    const resume = async () => {
      if (stopped) throw new Error('registry stopped for good');
      if (child.exitCode === null && child.signalCode === null) return;
      child = spawnRegistry();
      const problem = await waitReady(`http://${host}`, child, options.readyTimeoutMs ?? 20_000);
      if (problem !== undefined) throw new Error(`docker-registry did not come back: ${problem}`);
    };

    const url = `http://${host}`;
    const problem = await Promise.race([waitReady(url, child, options.readyTimeoutMs ?? 20_000), spawnError]);
    if (problem === undefined) return { url, host, dir, logs: () => output, halt, resume, stop };
    await stop();
    lastError = `${problem}${output.trim() ? `: ${output.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}` : ''}`;
  }
  return { skipped: `docker-registry could not be started: ${lastError}` };
}

/** Pushes a tiny image (config + one layer + OCI image manifest, tag v1); returns its descriptor. */
export async function pushTestImage(client: OciClient, repo: string, seed: string): Promise<OciDescriptor> {
  const enc = (t: string) => new TextEncoder().encode(t);
  const layer = enc(`layer bytes ${seed}`);
  const layerDesc = await client.pushBlob(repo, layer, MEDIA_TYPE.layerTar);
  const config = enc(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } }));
  const configDesc = await client.pushBlob(repo, config, MEDIA_TYPE.imageConfig);
  const manifest = { schemaVersion: 2, mediaType: MEDIA_TYPE.imageManifest, config: configDesc, layers: [layerDesc] };
  const pushed = await client.pushManifest(repo, 'v1', manifest, MEDIA_TYPE.imageManifest);
  return { mediaType: MEDIA_TYPE.imageManifest, digest: pushed.digest, size: pushed.size };
}
