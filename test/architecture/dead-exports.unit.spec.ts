/** The dead-export report on an in-memory tree: what it counts as used, and what not. */
import { describe, expect, it } from 'vitest';
import { findUnusedExports } from './dead-exports.ts';

const unusedIn = (files: Record<string, string>) => findUnusedExports(new Map(Object.entries(files))).map((u) => `${u.file}:${u.name}${u.usedLocally ? ' (local)' : ''}`);

describe('findUnusedExports (unit)', () => {
  describe('when exports are imported in the forms the tree uses', () => {
    it('counts named, renamed, re-exported, dynamic and type-position imports as uses', () => {
      expect(unusedIn({
        'src/a.ts': 'export const a = 1; export const b = 2; export type C = 1; export function d() {} export const e = 5; export const f = 6;',
        'src/b.ts': "import { a as x } from './a.ts'; export { b } from './a.ts'; let c: import('./a.ts').C; const { d } = await import('./a.ts'); const g = (await import('./a.ts')).e;",
        'test/b.unit.spec.ts': "import { b } from '../src/b.ts';",
      })).toEqual(['src/a.ts:f']);
    });
  });

  describe('when an export is imported by nobody', () => {
    it('says whether its own file still uses it (un-export) or not (dead)', () => {
      expect(unusedIn({ 'src/a.ts': 'export const used = 1; export const dead = 2; const z = used + 1; export default z;' }))
        .toEqual(['src/a.ts:used (local)', 'src/a.ts:dead', 'src/a.ts:default']);
    });

    it('counts a namespace import as using everything', () => {
      expect(unusedIn({ 'src/a.ts': 'export const a = 1;', 'src/b.ts': "import * as all from './a.ts';" })).toEqual([]);
    });
  });
});
