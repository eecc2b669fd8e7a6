/**
 * docs/ARCHITECTURE.md "Rules the code keeps", held against the tree as it is.
 * Reads the sources (no network, no processes) and fails with one line per
 * offending import: file, line, specifier, and the rule it breaks.
 */
import { describe, expect, it } from 'vitest';
import { buildGraph } from './module-graph.ts';
import { readDocs, readSources } from './repo-sources.ts';
import { ARCHITECTURE_RULES, checkDocs, checkInsideRepo, checkLayers, checkResolved, findCycles, type Violation } from './rules.ts';

const src = buildGraph(readSources(['src']));
const everything = buildGraph(readSources(['src', 'test', 'bench', 'bin'], ['vitest.config.ts']));

const messages = (violations: readonly Violation[]): string[] => violations.map((v) => v.message);

describe('architecture (the repository as it is)', () => {
  describe('when the import graph of src/ is read', () => {
    it('finds the composition root and its imports (so the rules below are not vacuous)', () => {
      expect(src.size).toBeGreaterThan(50);
      const main = src.get('src/main.ts');
      expect(main?.edges.some((e) => e.target === 'src/http/app.ts')).toBe(true);
      expect(main?.edges.some((e) => e.kind === 'dynamic' && e.target === 'src/store/esdb/esdb-event-store.ts')).toBe(true);
    });

    it('resolves every relative import in src/, test/, bench/ and bin/ to a file that exists', () => {
      const found = messages(checkResolved(everything));
      expect(found, found.join('\n')).toEqual([]);
    });

    for (const rule of ARCHITECTURE_RULES) {
      it(`keeps the rule: ${rule.name}`, () => {
        const found = messages(checkLayers(src, [rule]));
        expect(found, found.join('\n')).toEqual([]);
      });
    }

    it('has no import cycle, counting type-only imports', () => {
      const cycles = findCycles(src, { files: ['src/**'], includeTypeOnly: true }).map((c) => `cycle: ${c.join(' → ')}`);
      expect(cycles, cycles.join('\n')).toEqual([]);
    });
  });

  describe('when src/, test/, bench/ and bin/ name other files', () => {
    it('resolves nothing above the repository root', () => {
      const found = messages(checkInsideRepo(everything));
      expect(found, found.join('\n')).toEqual([]);
    });
  });

  describe('when README.md and docs/*.md are read', () => {
    it('points only inside the repository (no sibling shared folder)', () => {
      const found = messages(checkDocs(readDocs()));
      expect(found, found.join('\n')).toEqual([]);
    });
  });
});
