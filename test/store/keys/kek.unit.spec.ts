import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { parseKek, resolveKek } from '../../../src/store/keys/kek.ts';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'sigledger-kek-'));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('config_invalid');
    expect((e as Error).message).not.toContain('\n');
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('kek', () => {
  describe('when SIGLEDGER_KEK is set', () => {
    const key = randomBytes(32);

    it('accepts hex (either case), base64 and base64url of 32 bytes, trimming whitespace', () => {
      for (const env of [key.toString('hex'), key.toString('hex').toUpperCase(), key.toString('base64'), key.toString('base64url'), ` ${key.toString('base64')}\n`]) {
        for (const mode of ['dev', 'production'] as const) {
          const r = resolveKek({ env, dataDir, mode });
          expect(r.source).toBe('env');
          expect(r.kek.equals(key)).toBe(true);
        }
      }
    });

    it('reads file:/path holding base64, hex or 32 raw bytes', () => {
      const cases: [string, Buffer | string][] = [
        ['b64', `${key.toString('base64')}\n`],
        ['hex', key.toString('hex')],
        ['raw', Buffer.concat([Buffer.from([0]), key.subarray(1)])],
      ];
      for (const [name, content] of cases) {
        const p = join(dataDir, name);
        writeFileSync(p, content, { mode: 0o600 });
        const r = resolveKek({ env: `file:${p}`, dataDir, mode: 'production' });
        expect(r.source).toBe('env');
        expect(r.kek.equals(typeof content === 'string' ? key : content)).toBe(true);
      }
    });

    it('rejects anything that is not exactly 32 bytes, without echoing the value', () => {
      const secretish = [
        'not-a-key-at-all',
        randomBytes(31).toString('hex'),
        randomBytes(33).toString('hex'),
        randomBytes(31).toString('base64'),
        randomBytes(33).toString('base64'),
        `${key.toString('hex')}00`,
        `${key.toString('base64').slice(0, -2)}!=`,
        'z'.repeat(64),
      ];
      for (const env of secretish) {
        const e = configError(() => resolveKek({ env, dataDir, mode: 'production' }));
        expect(e.message).toMatch(/^SIGLEDGER_KEK must be 32 bytes/);
        expect(e.message).not.toContain(env);
        expect(e.message).not.toContain(env.slice(0, 12));
      }
    });

    it('rejects a non-canonical base64 encoding', () => {
      // The last base64 character of 32 bytes carries 2 unused bits; setting them is not canonical.
      const b64 = key.toString('base64');
      const last = b64.at(-2)!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
      const tweaked = `${b64.slice(0, -2)}${alphabet[(alphabet.indexOf(last) & ~3) | 1]}=`;
      configError(() => parseKek(tweaked));
    });

    it('reports an unreadable or bad file:/path naming the path but not the content', () => {
      const missing = join(dataDir, 'missing');
      expect(configError(() => parseKek(`file:${missing}`)).message).toContain('ENOENT');
      const bad = join(dataDir, 'bad');
      writeFileSync(bad, 'sixteen-char-pwd');
      const e = configError(() => parseKek(`file:${bad}`));
      expect(e.message).toContain(bad);
      expect(e.message).not.toContain('sixteen');
      configError(() => parseKek('file:'));
      configError(() => parseKek(`file:${dataDir}`));
    });
  });

  describe('when SIGLEDGER_KEK is not set in production mode', () => {
    it('refuses with a ConfigError', () => {
      for (const env of [undefined, '']) {
        const e = configError(() => resolveKek({ env, dataDir, mode: 'production' }));
        expect(e.message).toMatch(/^SIGLEDGER_KEK is required in production mode/);
      }
    });
  });

  describe('when SIGLEDGER_KEK is not set in dev mode', () => {
    it('creates DATA_DIR/dev/kek (0600 in a 0700 directory) once and reads it back afterwards', () => {
      const first = resolveKek({ env: undefined, dataDir, mode: 'dev' });
      expect(first.source).toBe('created');
      expect(first.kek.length).toBe(32);
      const path = join(dataDir, 'dev', 'kek');
      expect(first.path).toBe(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(dataDir, 'dev')).mode & 0o777).toBe(0o700);
      // The file holds the KEK as base64, so it can be reused as SIGLEDGER_KEK=file:…
      expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64').equals(first.kek)).toBe(true);

      const second = resolveKek({ env: '', dataDir, mode: 'dev' });
      expect(second.source).toBe('data-dir');
      expect(second.kek.equals(first.kek)).toBe(true);
      expect(resolveKek({ env: `file:${path}`, dataDir, mode: 'production' }).kek.equals(first.kek)).toBe(true);
    });

    it('prefers SIGLEDGER_KEK over the data-dir KEK', () => {
      resolveKek({ env: undefined, dataDir, mode: 'dev' });
      const key = randomBytes(32);
      const r = resolveKek({ env: key.toString('hex'), dataDir, mode: 'dev' });
      expect(r).toEqual({ kek: key, source: 'env' });
    });

    it('refuses a dev KEK file that group or others can read', () => {
      const { path } = resolveKek({ env: undefined, dataDir, mode: 'dev' });
      chmodSync(path!, 0o644);
      expect(configError(() => resolveKek({ env: undefined, dataDir, mode: 'dev' })).message).toMatch(/chmod it to 600/);
    });

    it('refuses a corrupt dev KEK file without showing its content', () => {
      const { path } = resolveKek({ env: undefined, dataDir, mode: 'dev' });
      writeFileSync(path!, 'garbage-value-xyz', { mode: 0o600 });
      expect(configError(() => resolveKek({ env: undefined, dataDir, mode: 'dev' })).message).not.toContain('garbage');
    });
  });
});
