/**
 * Approvers: the enrolled Ed25519 keys whose signatures approve ceremonies (stream `approvers`).
 *
 * The first set is enrolled at initialisation from configuration: in dev mode from three key
 * files the service generates under `DATA_DIR/dev/approvers/approver-{1,2,3}.key` (PKCS#8 PEM,
 * mode 0600, used with `sigledger approve --key`); in production from the PEM public keys listed
 * in `SIGLEDGER_APPROVERS` (the service never sees an approver's private key). Later changes go
 * through enroll-approver / remove-approver ceremonies.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isEd25519Spki, keyIdOf } from '../../crypto/ed25519.ts';
import { activeApprovers, APPROVERS_STREAM, approversDecider, type Approver, type EnrollApprover } from '../../domain/approvers.ts';
import { ConfigError } from '../../errors.ts';
import { handleCommands, type CommandContext } from '../common/command-handler.ts';
import { foldRecorded, loadState } from '../common/load-state.ts';
import type { Logger } from '../common/logger.ts';

export const DEV_APPROVER_COUNT = 3;
export const devApproverPath = (dataDir: string, n: number): string => join(dataDir, 'dev', 'approvers', `approver-${n}.key`);

/** The SPKI (DER) of an Ed25519 key given as PEM: a private key (PKCS#8) or a public key (SPKI). */
export function ed25519SpkiFromPem(pem: string, what: string): Buffer {
  let spki: Buffer;
  try {
    const key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
    spki = key.export({ format: 'der', type: 'spki' });
  } catch {
    throw new ConfigError(`${what} is not a PEM Ed25519 key`);
  }
  if (!isEd25519Spki(spki)) throw new ConfigError(`${what} is not an Ed25519 key`);
  return spki;
}

/** Creates the dev approver key files that do not exist yet (never overwrites) and returns their public keys. */
export async function ensureDevApprovers(dataDir: string): Promise<Buffer[]> {
  const dir = join(dataDir, 'dev', 'approvers');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const out: Buffer[] = [];
  for (let n = 1; n <= DEV_APPROVER_COUNT; n++) {
    const path = devApproverPath(dataDir, n);
    let pem = await readFile(path, 'utf8').catch(() => undefined);
    if (pem === undefined) {
      const { privateKey } = generateKeyPairSync('ed25519');
      const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await link(tmp, path); // never overwrites: a concurrent creator's key wins
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      } finally {
        await unlink(tmp).catch(() => {});
      }
      await chmod(path, 0o600);
      pem = await readFile(path, 'utf8');
    }
    out.push(ed25519SpkiFromPem(pem, path));
  }
  return out;
}

/** Reads the configured approver public keys (PEM files). */
export async function loadApproverKeys(paths: readonly string[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const path of paths) {
    const pem = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError(`cannot read approver key ${path} (${err.code ?? 'error'})`);
    });
    if (pem.includes('PRIVATE KEY')) throw new ConfigError(`${path} holds a private key: SIGLEDGER_APPROVERS lists approvers' public keys only`);
    out.push(ed25519SpkiFromPem(pem, path));
  }
  return out;
}

export interface ApproversServiceDeps extends CommandContext {
  readonly logger: Logger;
  readonly now: () => Date;
}

export class ApproversService {
  constructor(private readonly deps: ApproversServiceDeps) {}

  async list(): Promise<Approver[]> {
    return activeApprovers(await loadState(this.deps.store, APPROVERS_STREAM, approversDecider));
  }

  /**
   * Bootstrap: enrolls `keys` when no approver was ever enrolled. Afterwards the set changes only
   * through ceremonies, so a changed configuration is reported, not applied.
   */
  async bootstrap(keys: readonly Buffer[]): Promise<Approver[]> {
    const history = await this.deps.store.readStream(APPROVERS_STREAM);
    if (history.length > 0) {
      const current = activeApprovers(foldRecorded(approversDecider, history));
      const configured = new Set(keys.map((k) => keyIdOf(k)));
      if (keys.length > 0 && (configured.size !== current.length || current.some((a) => !configured.has(a.approverId)))) {
        this.deps.logger.warn({ enrolled: current.length, configured: configured.size }, 'configured approvers differ from the enrolled set; approver changes go through enroll-approver / remove-approver ceremonies');
      }
      return current;
    }
    if (keys.length === 0) {
      this.deps.logger.warn('no approvers configured (SIGLEDGER_APPROVERS): ceremonies that need approvals cannot be approved');
      return [];
    }
    const time = this.deps.now().toISOString();
    const commands: EnrollApprover[] = keys.map((spki) => ({ type: 'EnrollApprover', approverId: keyIdOf(spki), publicKey: spki.toString('base64'), time, ceremonyId: null }));
    const result = await handleCommands(this.deps, APPROVERS_STREAM, approversDecider, commands, {
      metadata: { time, correlationId: randomUUID(), actor: 'system:init' },
      waitForProjections: true,
    });
    const enrolled = activeApprovers(result.state);
    this.deps.logger.info({ approvers: enrolled.map((a) => a.approverId) }, 'enrolled the initial approvers');
    return enrolled;
  }
}
