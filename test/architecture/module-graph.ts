/**
 * The import graph of a set of files, in repository-relative POSIX paths
 * ("src/http/app.ts"). Pure: it takes file texts, never reads the disk, so the
 * checker can be tested on a graph that exists only in memory.
 */
import { posix } from 'node:path';
import { parseSourceFacts, type ImportFact, type PathFact } from './source-facts.ts';

export interface Edge extends ImportFact {
  /** Repository-relative target of a relative specifier; undefined for packages and node: modules. */
  readonly target?: string;
  /** A relative specifier that climbs above the repository root. */
  readonly escapes: boolean;
}

export interface ModuleNode {
  readonly file: string;
  readonly edges: readonly Edge[];
  readonly paths: readonly PathFact[];
}

export type ModuleGraph = ReadonlyMap<string, ModuleNode>;

/**
 * Joins a relative path onto a repository-relative directory; undefined when the
 * result lies above the repository root (posix.resolve would silently clamp at "/").
 * The root itself is ".".
 */
export function joinInsideRepo(dir: string, relative: string): string | undefined {
  const joined = posix.normalize(posix.join(dir, relative));
  if (joined === '..' || joined.startsWith('../') || posix.isAbsolute(joined)) return undefined;
  return joined.replace(/\/$/, '');
}

export const isRelative = (specifier: string): boolean => specifier.startsWith('./') || specifier.startsWith('../') || specifier === '.' || specifier === '..';

/** "node:fs/promises" → "node:fs/promises", "@scope/pkg/sub" → "@scope/pkg", "hono/streaming" → "hono". */
export function packageOf(specifier: string): string {
  if (specifier.startsWith('node:')) return specifier;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

export function buildGraph(sources: ReadonlyMap<string, string>): ModuleGraph {
  const graph = new Map<string, ModuleNode>();
  for (const [file, text] of sources) {
    const facts = parseSourceFacts(file, text);
    const dir = posix.dirname(file);
    const edges = facts.imports.map((fact): Edge => {
      if (!isRelative(fact.specifier)) return { ...fact, escapes: false };
      const target = joinInsideRepo(dir, fact.specifier);
      return target === undefined ? { ...fact, escapes: true } : { ...fact, target, escapes: false };
    });
    graph.set(file, { file, edges, paths: facts.paths });
  }
  return graph;
}
