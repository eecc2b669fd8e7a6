/**
 * The directory `kit export --out DIR` writes into. DIR must be new, empty or a previous kit
 * (kit.json); --force also allows any other directory. Nothing in DIR is ever deleted: into a
 * previous kit, the export merges (the bundles already there are kept and exported again at their
 * latest versions, the new ones are added).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../crypto/hash.ts';
import { isBundleId } from '../../domain/bundle.ts';
import { isObject } from '../../json.ts';
import { readJsonFile } from '../shared/bounded-read.ts';
import { UsageError } from '../shared/errors.ts';
import { LIMITS } from '../shared/limits.ts';
import { writeOutputFile } from '../shared/output-files.ts';
import { printable } from '../shared/printable.ts';
import { KIT_FILE_RE, KIT_KIND } from './layout.ts';

export interface PreviousKit {
  /** The bundles the kit holds: listed in its kit.json, or found under bundles/ (an export that did not complete). */
  readonly bundles: readonly string[];
}

async function isKit(dir: string): Promise<{ manifestBundles: string[] } | undefined> {
  try {
    const m = await readJsonFile(join(dir, 'kit.json'), LIMITS.document, 'kit.json');
    if (!isObject(m) || m.kind !== KIT_KIND) return undefined;
    const fromFiles = isObject(m.files) ? Object.keys(m.files).filter((f) => KIT_FILE_RE.test(f) && f.startsWith('bundles/')).map((f) => f.split('/')[1]!) : [];
    const listed = isObject(m.bundles) ? Object.keys(m.bundles).filter(isBundleId) : [];
    return { manifestBundles: [...listed, ...fromFiles] };
  } catch {
    return undefined;
  }
}

async function bundlesOnDisk(dir: string): Promise<string[]> {
  const entries = await readdir(join(dir, 'bundles'), { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && isBundleId(e.name)).map((e) => e.name);
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
  const kit = await isKit(dir);
  if (kit) return { bundles: [...new Set([...kit.manifestBundles, ...(await bundlesOnDisk(dir))])].sort() };
  if (force) return undefined;
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
