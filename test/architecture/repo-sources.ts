/**
 * Reads the repository's own sources from disk, keyed by repository-relative POSIX
 * path. The only module here that touches the file system, so the graph and the
 * rules stay testable on in-memory input.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout root, found from this file rather than from cwd. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const SOURCE = /\.(?:[cm]?ts|tsx|[cm]?js)$/;

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile() && SOURCE.test(entry.name)) out.push(full);
  }
}

const toRepoPath = (full: string): string => relative(REPO_ROOT, full).split(sep).join('/');

/** Every source file below the given top-level folders (and the given top-level files). */
export function readSources(folders: readonly string[], files: readonly string[] = []): Map<string, string> {
  const found: string[] = [];
  for (const folder of folders) walk(join(REPO_ROOT, folder), found);
  for (const file of files) found.push(join(REPO_ROOT, file));
  return new Map(found.sort().map((full) => [toRepoPath(full), readFileSync(full, 'utf8')]));
}

/** README.md and docs/*.md. */
export function readDocs(): Map<string, string> {
  const docs = readdirSync(join(REPO_ROOT, 'docs')).filter((n) => n.endsWith('.md')).map((n) => `docs/${n}`);
  return new Map(['README.md', ...docs].map((f) => [f, readFileSync(join(REPO_ROOT, f), 'utf8')]));
}
