/**
 * `sigledger --version` and `sigledger CMD --help` (issue #15): the version is package.json's,
 * and every command's help lists each of its flags with a description and its default.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.ts';
import { main } from '../../src/cli/main.ts';
import { runCli } from '../support/cli.ts';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('sigledger help and version', () => {
  describe('when asked for --version', () => {
    it('prints the version of package.json and exits 0', async () => {
      const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      const r = await runCli(['--version']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`sigledger ${version}\n`);
    });
  });

  describe('when asked for --help', () => {
    it('lists every command with its usage', async () => {
      const r = await cli(['--help']);
      expect(r.code).toBe(0);
      for (const [name, c] of Object.entries(COMMANDS)) {
        expect(r.out).toContain(`  ${name.padEnd(10)} ${c.summary}`);
        expect(r.out).toContain(c.usage);
      }
    });

    for (const name of Object.keys(COMMANDS)) {
      it(`lists every flag of "${name}" with a description and its default`, async () => {
        const r = await cli([name, '--help']);
        expect(r.code).toBe(0);
        expect(r.out.split('\n')[0]).toBe(`usage: ${COMMANDS[name]!.usage}`);
        for (const [flag, spec] of Object.entries(COMMANDS[name]!.flags)) {
          const at = r.out.indexOf(`  --${flag}`);
          expect(at, `--${flag}`).toBeGreaterThan(0);
          const entry = r.out.slice(at).split(/\n  (?=-)/)[0]!;
          expect(entry).toContain(spec.description);
          expect(entry).toMatch(/\((default: .+|required)\)$/m);
        }
        expect(r.out).toContain('-h, --help');
      });
    }

    it('explains --force of kit export precisely: what it allows and that nothing is deleted', async () => {
      const r = await cli(['kit', 'export', '--help']);
      expect(r.out).toContain('--force');
      expect(r.out).toMatch(/not empty and is not a kit \(no kit\.json\)/);
      expect(r.out).toContain('Never deletes anything');
      expect(r.out).toMatch(/Into a previous kit, export merges/);
    });

    it('names the PEM files of trust pem', async () => {
      const r = await cli(['trust', '--help']);
      for (const f of ['tsa.pem', 'tsa-root.pem', 'tsa-chain.pem']) expect(r.out).toContain(f);
    });
  });
});
