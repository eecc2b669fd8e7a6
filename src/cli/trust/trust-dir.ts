/**
 * Trust material from a directory, with no network: an offline kit (`sigledger kit export`) or any
 * directory with `trusted_root.json` and `anchors/<version, 10 digits>.json`, optionally
 * `anchors.json`, `checkpoint` and `kit.json`. Every file is hostile input (bounded, strict JSON).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { isRfc3339 } from '../../domain/instant.ts';
import { isObject } from '../../json.ts';
import { ANCHORS_FILE_RE, anchorsFileName, KIT_KIND } from '../kit/layout.ts';
import { exists, readJsonFile, readTextFile } from '../common/bounded-read.ts';
import { InputError } from '../common/errors.ts';
import { LIMITS } from '../common/limits.ts';
import { printable } from '../common/printable.ts';
import { validateAnchors, validateTrustedRoot } from './documents.ts';
import type { TrustInput } from './evaluate.ts';

/** The versions under anchors/: 1..N without gaps, bounded. */
async function anchorsVersions(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(join(dir, 'anchors'));
  } catch (err) {
    throw new InputError(`cannot list anchors/ (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (names.length > LIMITS.anchorsVersions * 2) throw new InputError(`anchors/ has more than ${LIMITS.anchorsVersions * 2} entries`);
  const versions = names
    .flatMap((n) => {
      const m = ANCHORS_FILE_RE.exec(n);
      return m ? [Number(m[1])] : [];
    })
    .sort((a, b) => a - b);
  if (versions.length === 0) throw new InputError('anchors/ holds no anchors version (files <version, 10 digits>.json)');
  if (versions.length > LIMITS.anchorsVersions) throw new InputError(`anchors/ holds more than ${LIMITS.anchorsVersions} versions`);
  versions.forEach((v, i) => {
    if (v !== i + 1) throw new InputError(`anchors/ has no version ${i + 1} (the history must run from version 1 without gaps)`);
  });
  return versions;
}

/** kit.json is informative only: a note on where and when the kit was exported. */
async function manifestNote(dir: string): Promise<string | undefined> {
  const manifestPath = join(dir, 'kit.json');
  if (!(await exists(manifestPath))) return undefined;
  try {
    const m = await readJsonFile(manifestPath, LIMITS.document, 'kit.json');
    if (!isObject(m) || m.kind !== KIT_KIND) return undefined;
    const from = typeof m.exportedFrom === 'string' ? printable(m.exportedFrom, 200) : 'an unknown URL';
    const at = isRfc3339(m.exportedAt) ? m.exportedAt : 'an unknown time';
    return `offline kit exported from ${from} at ${at}${m.complete === true ? '' : ' (kit.json says the export did not complete)'}`;
  } catch {
    return 'kit.json is not readable; ignored (it is informative only)';
  }
}

/** A trust directory: trusted_root.json, anchors/*.json, optionally anchors.json, checkpoint, kit.json. */
export async function loadTrustDir(dir: string): Promise<TrustInput> {
  const trustedRoot = validateTrustedRoot(await readJsonFile(join(dir, 'trusted_root.json'), LIMITS.document, 'trusted_root.json'));
  const anchors: AnchorsDocument[] = [];
  for (const v of await anchorsVersions(dir)) {
    const what = `anchors/${anchorsFileName(v)}`;
    const doc = validateAnchors(await readJsonFile(join(dir, 'anchors', anchorsFileName(v)), LIMITS.document, what), what);
    if (doc.version !== v) throw new InputError(`${what} holds version ${doc.version}`);
    anchors.push(doc);
  }
  const latestPath = join(dir, 'anchors.json');
  const latest = (await exists(latestPath)) ? validateAnchors(await readJsonFile(latestPath, LIMITS.document, 'anchors.json'), 'anchors.json') : undefined;
  const checkpointPath = join(dir, 'checkpoint');
  const checkpoint = (await exists(checkpointPath)) ? await readTextFile(checkpointPath, LIMITS.checkpoint, 'checkpoint') : undefined;
  const note = await manifestNote(dir);
  return { kind: 'directory', source: dir, trustedRoot, anchors, ...(latest ? { latest } : {}), ...(checkpoint !== undefined ? { checkpoint } : {}), notes: note ? [note] : [] };
}
