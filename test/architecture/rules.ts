/**
 * The layering rules of docs/ARCHITECTURE.md as data, and the checks that hold a
 * module graph against them. Pure: every function takes a graph and returns the
 * violations as sentences naming the file, the line and the import, so a failing
 * test says what to move without anyone reading this file.
 */
import { posix } from 'node:path';
import { isRelative, joinInsideRepo, packageOf, type Edge, type ModuleGraph } from './module-graph.ts';

/** A tiny glob: `**` crosses folders, `*` stays inside one. Enough for folder-shaped rules. */
export function globMatcher(pattern: string): (file: string) => boolean {
  const source = pattern
    .split(/(\*\*\/?|\*)/)
    .map((part) => (part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`);
  return (file) => re.test(file);
}

const anyOf = (patterns: readonly string[]): ((file: string) => boolean) => {
  const matchers = patterns.map(globMatcher);
  return (file) => matchers.some((m) => m(file));
};

export interface LayerRule {
  /** Printed with every violation: says what the rule protects. */
  readonly name: string;
  /** Files the rule speaks about. */
  readonly files: readonly string[];
  /** Files inside `files` the rule does not speak about (composition roots, the adapter itself). */
  readonly except?: readonly string[];
  /** When given, the only repository files these may import. */
  readonly allowFiles?: readonly string[];
  /** When given, the only packages / node: modules these may import (exact package names). */
  readonly allowPackages?: readonly string[];
  /** Repository files these must not import. */
  readonly denyFiles?: readonly string[];
  /** Packages these must not import. */
  readonly denyPackages?: readonly string[];
}

export interface Violation {
  readonly rule: string;
  readonly file: string;
  readonly message: string;
}

const STORE_ADAPTERS = ['src/store/sqlite/**', 'src/store/esdb/**', 'src/store/keys/**'];
const DATABASE_CLIENTS = ['better-sqlite3', 'node:sqlite', '@eventstore/db-client'];
const SHARED_KERNEL = ['src/errors.ts', 'src/json.ts'];

/** The rules of docs/ARCHITECTURE.md "Rules the code keeps", as the tree keeps them today. */
export const ARCHITECTURE_RULES: readonly LayerRule[] = [
  {
    name: 'domain is pure: it imports only domain, crypto, errors and json, and no package (time and ids come with the command)',
    files: ['src/domain/**'],
    allowFiles: ['src/domain/**', 'src/crypto/**', ...SHARED_KERNEL],
    allowPackages: [],
  },
  {
    name: 'crypto is pure: it imports only crypto, errors and json, and of packages only node:crypto and canonicalize (JCS)',
    files: ['src/crypto/**'],
    allowFiles: ['src/crypto/**', ...SHARED_KERNEL],
    allowPackages: ['node:crypto', 'canonicalize'],
  },
  {
    name: 'log is pure: it imports only log, crypto, errors and json, and of packages only node:crypto',
    files: ['src/log/**'],
    allowFiles: ['src/log/**', 'src/crypto/**', ...SHARED_KERNEL],
    allowPackages: ['node:crypto'],
  },
  {
    name: 'only src/store/sqlite/** speaks SQLite (vendor clients live in their adapter)',
    files: ['src/**'],
    except: ['src/store/sqlite/**'],
    denyPackages: ['better-sqlite3', 'node:sqlite'],
  },
  {
    name: 'only src/store/esdb/** speaks to EventStoreDB (vendor clients live in their adapter)',
    files: ['src/**'],
    except: ['src/store/esdb/**'],
    denyPackages: ['@eventstore/db-client'],
  },
  {
    name: 'only src/store/keys/pkcs11* speaks PKCS#11 (vendor clients live in their adapter)',
    files: ['src/**'],
    except: ['src/store/keys/pkcs11*'],
    denyPackages: ['pkcs11js'],
  },
  {
    name: 'http never imports a store adapter: ports (src/store/*.ts) are fine, wiring goes through src/app and src/main.ts',
    files: ['src/http/**'],
    denyFiles: STORE_ADAPTERS,
    denyPackages: DATABASE_CLIENTS,
  },
  {
    name: 'http never speaks to OCI registries: src/app/release does, http asks it',
    files: ['src/http/**'],
    denyFiles: ['src/oci/**'],
  },
  {
    name: 'app never imports a store adapter, only the ports; src/main.ts and src/cli/replay.ts are the composition roots',
    files: ['src/app/**'],
    denyFiles: STORE_ADAPTERS,
    denyPackages: DATABASE_CLIENTS,
  },
  {
    name: 'store adapters are wired only by the composition roots (src/main.ts, src/cli/replay.ts); everything else sees the ports',
    files: ['src/**'],
    // http, app and projections have their own, more specific rule above/below.
    except: ['src/main.ts', 'src/cli/replay.ts', 'src/store/*/**', 'src/http/**', 'src/app/**', 'src/projections/**'],
    denyFiles: STORE_ADAPTERS,
  },
  {
    name: 'projections fold through the read-model port: no database client and no store adapter',
    files: ['src/projections/**'],
    denyFiles: STORE_ADAPTERS,
    denyPackages: DATABASE_CLIENTS,
  },
];

function describeEdge(file: string, edge: Edge): string {
  const resolved = edge.target !== undefined && edge.target !== edge.specifier ? ` (${edge.target})` : '';
  const how = edge.kind === 'import' ? 'imports' : edge.kind === 'export-from' ? 're-exports' : edge.kind === 'dynamic' ? 'dynamically imports' : edge.kind === 'type-query' ? 'names the type of' : 'requires';
  return `${file}:${edge.line} ${how} '${edge.specifier}'${resolved}`;
}

function ruleVerdict(rule: LayerRule, edge: Edge): boolean {
  if (edge.target !== undefined) {
    if (rule.allowFiles !== undefined && !anyOf(rule.allowFiles)(edge.target)) return false;
    if (rule.denyFiles !== undefined && anyOf(rule.denyFiles)(edge.target)) return false;
    return true;
  }
  if (edge.escapes) return true; // checkInsideRepo speaks about those
  const pkg = packageOf(edge.specifier);
  if (rule.allowPackages !== undefined && !rule.allowPackages.includes(pkg)) return false;
  if (rule.denyPackages !== undefined && rule.denyPackages.includes(pkg)) return false;
  return true;
}

export function checkLayers(graph: ModuleGraph, rules: readonly LayerRule[]): Violation[] {
  const violations: Violation[] = [];
  for (const rule of rules) {
    const inScope = anyOf(rule.files);
    const excepted = anyOf(rule.except ?? []);
    for (const node of graph.values()) {
      if (!inScope(node.file) || excepted(node.file)) continue;
      for (const edge of node.edges) {
        if (!ruleVerdict(rule, edge)) violations.push({ rule: rule.name, file: node.file, message: `${describeEdge(node.file, edge)}: ${rule.name}` });
      }
    }
  }
  return violations;
}

/** Every relative import names a file of the graph (the rules above match on resolved paths). */
export function checkResolved(graph: ModuleGraph): Violation[] {
  const rule = 'every relative import names a file that exists';
  return [...graph.values()].flatMap((node) =>
    node.edges
      .filter((e) => e.target !== undefined && !graph.has(e.target))
      .map((e) => ({ rule, file: node.file, message: `${describeEdge(node.file, e)}, which is no file: ${rule}` })),
  );
}

export interface CycleOptions {
  /** Files whose imports count (e.g. only src/**). */
  readonly files: readonly string[];
  /** `import type` and `import('…').T` vanish at run time; they still tie two modules together. */
  readonly includeTypeOnly: boolean;
}

/**
 * One concrete cycle per strongly connected component (Tarjan), printed as a path
 * that starts and ends at the same file, so the edge to cut is visible.
 */
export function findCycles(graph: ModuleGraph, options: CycleOptions): string[][] {
  const inScope = anyOf(options.files);
  const successors = new Map<string, string[]>();
  for (const node of graph.values()) {
    if (!inScope(node.file)) continue;
    const next = node.edges
      .filter((e) => (options.includeTypeOnly || !e.typeOnly) && e.target !== undefined && graph.has(e.target) && inScope(e.target))
      .map((e) => e.target as string);
    successors.set(node.file, [...new Set(next)].sort());
  }

  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const strongConnect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of successors.get(v) ?? []) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const selfLoop = component.length === 1 && (successors.get(v) ?? []).includes(v);
      if (component.length > 1 || selfLoop) components.push(component);
    }
  };
  for (const v of [...successors.keys()].sort()) if (!index.has(v)) strongConnect(v);

  return components.map((component) => shortestCycleThrough([...component].sort()[0]!, new Set(component), successors));
}

/** Breadth-first from `start` back to itself inside its component: the shortest loop to show. */
function shortestCycleThrough(start: string, component: ReadonlySet<string>, successors: ReadonlyMap<string, readonly string[]>): string[] {
  const parent = new Map<string, string>();
  const queue: string[] = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of successors.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const between: string[] = [];
        for (let at: string | undefined = v; at !== undefined && at !== start; at = parent.get(at)) between.unshift(at);
        return [start, ...between, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/**
 * Nothing may lean on a path above the repository root (the checkout must build and
 * test on its own): relative imports, `new URL('…', import.meta.url)`, paths joined
 * onto the file's own folder, and relative literals handed to fs (relative to cwd,
 * which is the repository root for tests, benches and npm scripts).
 */
export function checkInsideRepo(graph: ModuleGraph): Violation[] {
  const rule = 'the repository is self-contained: nothing resolves above its root';
  const violations: Violation[] = [];
  for (const node of graph.values()) {
    for (const edge of node.edges) {
      if (edge.escapes) violations.push({ rule, file: node.file, message: `${describeEdge(node.file, edge)}, which is above the repository root: ${rule}` });
    }
    for (const p of node.paths) {
      if (p.base === 'cwd' && !isRelative(p.path)) continue; // absolute (/dev/null, tmp dirs) or a bare name
      const dir = p.base === 'file' ? posix.dirname(node.file) : '';
      if (joinInsideRepo(dir, p.path) === undefined) {
        violations.push({ rule, file: node.file, message: `${node.file}:${p.line} names the path '${p.path}' (relative to ${p.base === 'file' ? 'the file' : 'the repository root'}), which is above the repository root: ${rule}` });
      }
    }
  }
  return violations;
}

/** The sibling folder of the development checkout (spelled in pieces so this file names no outside path). */
const SIBLING_SHARED = ['..', 'shared'].join('/');

/** Prose may not send a newcomer out of the checkout either: no sibling shared folder, no link above the root. */
export function checkDocs(docs: ReadonlyMap<string, string>): Violation[] {
  const rule = 'README.md and docs/*.md point only inside the repository';
  const violations: Violation[] = [];
  for (const [file, text] of docs) {
    text.split('\n').forEach((line, i) => {
      const at = `${file}:${i + 1}`;
      if (line.includes(SIBLING_SHARED)) violations.push({ rule, file, message: `${at} mentions '${SIBLING_SHARED}', a folder outside the repository: ${rule}` });
      for (const m of line.matchAll(/\]\(([^)\s#]+)[^)]*\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('/')) continue; // URLs and site-absolute links
        if (!target.includes(SIBLING_SHARED) && joinInsideRepo(posix.dirname(file), target) === undefined) {
          violations.push({ rule, file, message: `${at} links to '${target}', which is above the repository root: ${rule}` });
        }
      }
    });
  }
  return violations;
}
