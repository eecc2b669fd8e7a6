/**
 * The directory `kit export --out DIR` writes into. DIR must be new, empty or a previous kit
 * (kit.json); --force also allows any other directory. Nothing in DIR is ever deleted: into a
 * previous kit, the export merges (the bundles already there are kept and exported again at their
 * latest versions, the new ones are added). A kit is merged only with the ledger it came from
 * (same anchors version 1) and never with an older state of it (anchors beyond the service's
 * latest); a kit directory holding a symbolic link where the kit has a directory is refused, so
 * an export never writes outside DIR.
 */
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../crypto/hash.ts';
import { isBundleId } from '../../domain/bundle.ts';
import { isObject } from '../../json.ts';
import { readJsonFile } from '../common/bounded-read.ts';
import { InputError, UsageError } from '../common/errors.ts';
import { LIMITS } from '../common/limits.ts';
import { writeOutputFile } from '../common/output-files.ts';
import { printable } from '../common/printable.ts';
import { fingerprint } from '../trust/evaluate.ts';
import { ANCHORS_FILE_RE, anchorsFileName, KIT_FILE_RE, KIT_KIND } from './layout.ts';

export interface PreviousKit {
  /** The bundles the kit holds: listed in its kit.json, or found under bundles/ (an export that did not complete). */
  readonly bundles: readonly string[];
  /** SHA-256 (JCS) of the kit's anchors version 1: which ledger it is a kit of (absent: the kit holds none yet). */
  readonly anchorsV1?: string;
  /** The highest anchors version among anchors/*.json (0: none). */
  readonly highestAnchors: number;
  /** The service the kit was last exported from, as its manifest says. */
  readonly exportedFrom?: string;
}

interface Manifest {
  readonly bundles: string[];
  readonly anchorsV1?: string;
  readonly exportedFrom?: string;
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    const m = await readJsonFile(join(dir, 'kit.json'), LIMITS.document, 'kit.json');
    if (!isObject(m) || m.kind !== KIT_KIND) return undefined;
    const fromFiles = isObject(m.files) ? Object.keys(m.files).filter((f) => KIT_FILE_RE.test(f) && f.startsWith('bundles/')).map((f) => f.split('/')[1]!) : [];
    const listed = isObject(m.bundles) ? Object.keys(m.bundles).filter(isBundleId) : [];
    const v1 = isObject(m.anchors) && typeof m.anchors.version1Sha256 === 'string' ? m.anchors.version1Sha256 : undefined;
    return { bundles: [...listed, ...fromFiles], ...(v1 ? { anchorsV1: v1 } : {}), ...(typeof m.exportedFrom === 'string' ? { exportedFrom: m.exportedFrom } : {}) };
  } catch {
    return undefined;
  }
}

/** Refuses a symbolic link (or anything but a directory) where the kit keeps a directory. */
async function assertRealDirectory(path: string, rel: string): Promise<boolean> {
  const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new UsageError(`cannot use the kit's ${rel} (${err.code ?? 'error'})`);
  });
  if (!info) return false;
  if (info.isSymbolicLink()) throw new UsageError(`the kit's ${rel} is a symbolic link; a kit export writes only inside --out: remove it or export into a new directory`);
  if (!info.isDirectory()) throw new UsageError(`the kit's ${rel} is not a directory; remove it or export into a new directory`);
  return true;
}

/** The bundle directories under bundles/ (each checked to be a real directory). */
async function bundlesOnDisk(dir: string): Promise<string[]> {
  if (!(await assertRealDirectory(join(dir, 'bundles'), 'bundles/'))) return [];
  const entries = await readdir(join(dir, 'bundles')).catch(() => []);
  const ids = entries.filter(isBundleId);
  for (const id of ids) await assertRealDirectory(join(dir, 'bundles', id), `bundles/${id}`);
  return ids;
}

/** The highest version among anchors/*.json and the fingerprint of anchors version 1, if there. */
async function anchorsOnDisk(dir: string): Promise<{ highest: number; v1?: string }> {
  if (!(await assertRealDirectory(join(dir, 'anchors'), 'anchors/'))) return { highest: 0 };
  const versions = (await readdir(join(dir, 'anchors')).catch(() => [])).flatMap((name) => {
    const m = ANCHORS_FILE_RE.exec(name);
    return m ? [Number(m[1])] : [];
  });
  const highest = versions.reduce((a, b) => Math.max(a, b), 0);
  if (!versions.includes(1)) return { highest };
  const v1 = await readJsonFile(join(dir, 'anchors', anchorsFileName(1)), LIMITS.document, 'anchors/0000000001.json').then(fingerprint, () => undefined);
  return { highest, ...(v1 ? { v1 } : {}) };
}

/** Checks that DIR is new, empty or a previous kit (or --force); what a previous kit holds. */
export async function prepareDir(dir: string, force: boolean): Promise<PreviousKit | undefined> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new UsageError(`cannot use --out ${printable(dir, 200)} (${err.code ?? 'error'})`);
  });
  if (!info) return undefined; // created when the first file is written, once the trust checked out
  if (!info.isDirectory()) throw new UsageError(`--out ${printable(dir, 200)} exists and is not a directory`);
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot list --out ${printable(dir, 200)} (${err.code ?? 'error'})`);
  });
  if (entries.length === 0) return undefined;
  const kit = await readManifest(dir);
  if (kit) {
    const onDisk = await anchorsOnDisk(dir);
    if (kit.anchorsV1 !== undefined && onDisk.v1 !== undefined && kit.anchorsV1 !== onDisk.v1) {
      throw new UsageError(`--out ${printable(dir, 200)} is inconsistent: kit.json names anchors version 1 sha256:${kit.anchorsV1} but anchors/0000000001.json is sha256:${onDisk.v1}; nothing was written: export into a new directory`);
    }
    const anchorsV1 = kit.anchorsV1 ?? onDisk.v1;
    return {
      bundles: [...new Set([...kit.bundles, ...(await bundlesOnDisk(dir))])].sort(),
      highestAnchors: onDisk.highest,
      ...(anchorsV1 ? { anchorsV1 } : {}),
      ...(kit.exportedFrom ? { exportedFrom: kit.exportedFrom } : {}),
    };
  }
  if (force) {
    // Not a kit, but the export writes its layout here: the same directories must be real ones.
    await anchorsOnDisk(dir);
    await bundlesOnDisk(dir);
    return undefined;
  }
  throw new UsageError(`--out ${printable(dir, 200)} is not empty and is not a sigledger kit (no kit.json); choose an empty directory or add --force`);
}

/** Writes kit files under DIR and remembers each one's SHA-256 for the manifest. */
export class KitWriter {
  readonly files: Record<string, string> = {};
  constructor(private readonly dir: string) {}
  async write(rel: string, data: string): Promise<void> {
    await writeOutputFile(join(this.dir, ...rel.split('/')), data);
    this.files[rel] = sha256Hex(data);
  }
}

/**
 * Refuses to merge into a kit of another ledger (its anchors version 1 differs from the
 * service's) or of a history the service no longer has (anchors beyond the service's latest):
 * the merged kit would hold trust files that the export does not overwrite and that no longer
 * verify. Called before anything is written.
 */
export function assertMergeable(dir: string, previous: PreviousKit, service: { base: string; anchorsV1: string; latestVersion: number }): void {
  const where = `--out ${printable(dir, 200)}`;
  if (previous.anchorsV1 !== undefined && previous.anchorsV1 !== service.anchorsV1) {
    const from = previous.exportedFrom ? ` (exported from ${printable(previous.exportedFrom, 200)})` : '';
    throw new UsageError(
      `${where} holds a kit of another ledger${from}: its anchors version 1 is sha256:${previous.anchorsV1}, ${printable(service.base, 200)}'s is sha256:${service.anchorsV1}; nothing was written: export into a new directory`,
    );
  }
  if (previous.highestAnchors > service.latestVersion) {
    throw new InputError(
      `${where} holds anchors version ${previous.highestAnchors} but the latest on ${printable(service.base, 200)} is ${service.latestVersion} (a ledger restored from an older state?); nothing was written: export into a new directory`,
    );
  }
}
