/**
 * The checker itself, on small graphs that exist only in memory: a violating graph
 * must yield violations, or the architecture test could never fail.
 */
import { describe, expect, it } from 'vitest';
import { buildGraph, joinInsideRepo, packageOf } from './module-graph.ts';
import { ARCHITECTURE_RULES, checkDocs, checkInsideRepo, checkLayers, checkResolved, findCycles, globMatcher } from './rules.ts';
import { parseSourceFacts } from './source-facts.ts';

const graphOf = (files: Record<string, string>) => buildGraph(new Map(Object.entries(files)));
/** One source file given line by line. */
const factsOf = (file: string, ...lines: string[]) => parseSourceFacts(file, lines.join('\n'));
const layerMessages = (files: Record<string, string>): string[] => checkLayers(graphOf(files), ARCHITECTURE_RULES).map((v) => v.message);

describe('architecture checker (unit)', () => {
  describe('when a file is parsed', () => {
    it('finds every form of import, and which ones are type-only', () => {
      const { imports } = factsOf(
        'src/x.ts',
        "import { a } from './a.ts';",
        "import type { B } from './b.ts';",
        "import { type C, type D } from './c.ts';",
        "export { e } from './e.ts';",
        "export type { F } from './f.ts';",
        "export * from './g.ts';",
        "const h = await import('./h.ts');",
        "let i: import('./i.ts').I;",
        "import './side-effect.ts';",
        '// import { no } from "./comment.ts";',
        "const s = \"import { no } from './string.ts'\";",
      );
      expect(imports.map((i) => [i.specifier, i.kind, i.typeOnly, i.line])).toEqual([
        ['./a.ts', 'import', false, 1],
        ['./b.ts', 'import', true, 2],
        ['./c.ts', 'import', true, 3],
        ['./e.ts', 'export-from', false, 4],
        ['./f.ts', 'export-from', true, 5],
        ['./g.ts', 'export-from', false, 6],
        ['./h.ts', 'dynamic', false, 7],
        ['./i.ts', 'type-query', true, 8],
        ['./side-effect.ts', 'import', false, 9],
      ]);
    });

    it('finds the file paths it names, and what they are relative to', () => {
      const { paths } = parseSourceFacts('test/x.ts', `readFileSync(new URL('../vectors/v.json', import.meta.url));
join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
readFileSync('../elsewhere.json');
readFileSync(someVariable);`);
      expect(paths).toEqual([
        { path: '../vectors/v.json', base: 'file', line: 1 },
        { path: '../fixtures', base: 'file', line: 2 },
        { path: '../elsewhere.json', base: 'cwd', line: 3 },
      ]);
    });
  });

  describe('when paths and globs are matched', () => {
    it('resolves inside the repository and refuses to climb above it', () => {
      expect(joinInsideRepo('src/http', '../store/port.ts')).toBe('src/store/port.ts');
      expect(joinInsideRepo('test/log', '../..')).toBe('.'); // the root itself is inside
      expect(joinInsideRepo('src', '../../elsewhere/SPEC.md')).toBeUndefined();
      expect(joinInsideRepo('', '../x')).toBeUndefined();
    });

    it('names packages as the allow-lists do', () => {
      expect(['node:fs/promises', '@eventstore/db-client', '@sigstore/bundle/x', 'hono/streaming'].map(packageOf))
        .toEqual(['node:fs/promises', '@eventstore/db-client', '@sigstore/bundle', 'hono']);
    });

    it('lets ** cross folders and * stay inside one', () => {
      expect(globMatcher('src/domain/**')('src/domain/a/b.ts')).toBe(true);
      expect(globMatcher('src/domain/**')('src/domainx.ts')).toBe(false);
      expect(globMatcher('src/store/keys/pkcs11*')('src/store/keys/pkcs11-key-store.ts')).toBe(true);
      expect(globMatcher('src/store/keys/pkcs11*')('src/store/keys/x/pkcs11.ts')).toBe(false);
      expect(globMatcher('src/store/*/**')('src/store/port.ts')).toBe(false);
    });
  });

  describe('when a graph breaks a layering rule', () => {
    it('names the http file, the line and the adapter it imports', () => {
      const found = layerMessages({
        'src/http/app.ts': "import type { X } from '../store/event-store.ts';\nimport { SqliteEventStore } from '../store/sqlite/sqlite-event-store.ts';",
        'src/store/event-store.ts': '',
        'src/store/sqlite/sqlite-event-store.ts': "import Database from 'better-sqlite3';",
      });
      expect(found).toEqual([
        "src/http/app.ts:2 imports '../store/sqlite/sqlite-event-store.ts' (src/store/sqlite/sqlite-event-store.ts): http never imports a store adapter: ports (src/store/*.ts) are fine, wiring goes through src/app and src/main.ts",
      ]);
    });

    it('refuses node: modules, vendor packages and other layers in the domain', () => {
      const found = layerMessages({
        'src/domain/a.ts': "import { randomUUID } from 'node:crypto';\nimport { x } from '../app/common/time.ts';\nimport { y } from './b.ts';\nimport { LedgerError } from '../errors.ts';",
      });
      expect(found).toHaveLength(2);
      expect(found[0]).toMatch(/^src\/domain\/a\.ts:1 imports 'node:crypto': domain is pure/);
      expect(found[1]).toMatch(/^src\/domain\/a\.ts:2 imports '\.\.\/app\/common\/time\.ts' \(src\/app\/common\/time\.ts\): domain is pure/);
    });

    it('keeps vendor clients in their adapters and lets the composition roots wire adapters', () => {
      const found = layerMessages({
        'src/app/x.ts': "const db = await import('better-sqlite3');",
        'src/projections/p.ts': "import { Client } from '@eventstore/db-client';",
        'src/cli/kit.ts': "import { FileKeyStore } from '../store/keys/file-key-store.ts';",
        'src/main.ts': "import { SqliteEventStore } from './store/sqlite/sqlite-event-store.ts';",
        'src/cli/replay.ts': "const { x } = await import('../store/esdb/esdb-event-store.ts');",
        'src/store/sqlite/sqlite-event-store.ts': "import Database from 'better-sqlite3';",
        'src/store/keys/pkcs11-key-store.ts': "import * as pkcs11js from 'pkcs11js';",
      });
      expect(found.map((m) => m.split(': ')[0])).toEqual([
        "src/app/x.ts:1 dynamically imports 'better-sqlite3'", // only sqlite speaks SQLite
        "src/projections/p.ts:1 imports '@eventstore/db-client'", // only esdb speaks EventStoreDB
        "src/app/x.ts:1 dynamically imports 'better-sqlite3'", // app: no database client
        "src/cli/kit.ts:1 imports '../store/keys/file-key-store.ts' (src/store/keys/file-key-store.ts)", // not a composition root
        "src/projections/p.ts:1 imports '@eventstore/db-client'", // projections: no database client
      ]);
    });
  });

  describe('when an import names no file', () => {
    it('names the importer, the line and the missing file', () => {
      const found = checkResolved(graphOf({ 'src/cli/main.ts': "import { a } from './a.ts';\nconst { k } = await import('./kit.ts');", 'src/cli/a.ts': '' }));
      expect(found.map((v) => v.message.split(', which')[0])).toEqual(["src/cli/main.ts:2 dynamically imports './kit.ts' (src/cli/kit.ts)"]);
    });
  });

  describe('when a graph has a cycle', () => {
    const files = {
      'src/a.ts': "import { b } from './b.ts';",
      'src/b.ts': "import { c } from './c.ts';",
      'src/c.ts': "import type { A } from './a.ts';",
      'src/d.ts': "import { d } from './d.ts';",
      'src/e.ts': "import { a } from './a.ts';",
    };

    it('prints each cycle as a path back to where it started', () => {
      expect(findCycles(graphOf(files), { files: ['src/**'], includeTypeOnly: true })).toEqual([
        ['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts'],
        ['src/d.ts', 'src/d.ts'],
      ]);
    });

    it('drops a cycle that is closed only by a type-only import when asked to', () => {
      expect(findCycles(graphOf(files), { files: ['src/**'], includeTypeOnly: false })).toEqual([['src/d.ts', 'src/d.ts']]);
    });
  });

  describe('when something reaches above the repository root', () => {
    it('names imports, URLs and fs paths that climb out', () => {
      const found = checkInsideRepo(graphOf({
        'test/a.unit.spec.ts': [
          "import v from '../../elsewhere/vectors/v.json';",
          "const w = readFileSync(new URL('../../elsewhere/w.json', import.meta.url));",
          "const x = readFileSync('../elsewhere/x.json');",
          "const ok = readFileSync(new URL('../vectors/ok.json', import.meta.url));",
          "const tmp = readFileSync('/tmp/y.json');",
        ].join('\n'),
      })).map((v) => v.message.split(', which')[0]);
      expect(found).toEqual([
        "test/a.unit.spec.ts:1 imports '../../elsewhere/vectors/v.json'",
        "test/a.unit.spec.ts:2 names the path '../../elsewhere/w.json' (relative to the file)",
        "test/a.unit.spec.ts:3 names the path '../elsewhere/x.json' (relative to the repository root)",
      ]);
    });

    it('names prose that mentions the sibling shared folder or links above the root', () => {
      // Spelled in pieces: this file itself names no path outside the repository.
      const sibling = ['..', 'shared'].join('/');
      const found = checkDocs(new Map([
        ['README.md', `The contract is \`${sibling}/SPEC.md\`.\nSee [the spec](docs/CONTRACT.md) and [up](../other/x.md) and [web](https://example.com/../x).`],
      ])).map((v) => v.message.split(':').slice(0, 2).join(':'));
      expect(found).toEqual([`README.md:1 mentions '${sibling}', a folder outside the repository`, "README.md:2 links to '../other/x.md', which is above the repository root"]);
    });
  });
});
