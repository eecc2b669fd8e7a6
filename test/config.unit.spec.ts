import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

describe('config', () => {
  describe('when nothing is set', () => {
    it('serves one machine on loopback with the sqlite store in ./data', () => {
      const c = loadConfig({}, {});
      expect(c).toMatchObject({ port: DEFAULTS.port, host: '127.0.0.1', store: 'sqlite', logLevel: 'info' });
      expect(c.dataDir.endsWith('/data')).toBe(true);
    });
  });

  describe('when flags and environment both set a value', () => {
    it('takes the flag, else the environment', () => {
      const env = { SIGLEDGER_PORT: '9000', SIGLEDGER_HOST: '0.0.0.0', SIGLEDGER_DATA_DIR: '/var/lib/x' };
      expect(loadConfig({ port: '9100' }, env)).toMatchObject({ port: 9100, host: '0.0.0.0', dataDir: '/var/lib/x' });
      expect(loadConfig({}, env).port).toBe(9000);
    });
  });

  describe('when a value is invalid', () => {
    const cases: [string, Parameters<typeof loadConfig>[0], NodeJS.ProcessEnv, RegExp][] = [
      ['a non-numeric port', { port: 'abc' }, {}, /--port/],
      ['a port above 65535', {}, { SIGLEDGER_PORT: '70000' }, /SIGLEDGER_PORT/],
      ['a negative port', { port: '-1' }, {}, /--port/],
      ['an unknown store', { store: 'mongo' }, {}, /"sqlite" or "esdb"/],
      ['esdb without a URL', { store: 'esdb' }, {}, /SIGLEDGER_ESDB_URL/],
      ['esdb with a non-esdb URL', { store: 'esdb' }, { SIGLEDGER_ESDB_URL: 'http://x' }, /esdb:\/\//],
      ['a bad log level', {}, { SIGLEDGER_LOG_LEVEL: 'loud' }, /SIGLEDGER_LOG_LEVEL/],
      ['a host with spaces', { host: 'a b' }, {}, /--host/],
    ];
    for (const [what, flags, env, message] of cases) {
      it(`refuses ${what} with one clear line`, () => {
        let caught: unknown;
        try {
          loadConfig(flags, env);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(ConfigError);
        expect((caught as Error).message).toMatch(message);
        expect((caught as Error).message).not.toContain('\n');
      });
    }

    it('accepts an esdb connection string', () => {
      expect(loadConfig({ store: 'esdb' }, { SIGLEDGER_ESDB_URL: 'esdb://localhost:2113?tls=false' }).esdbUrl).toBe('esdb://localhost:2113?tls=false');
    });
  });
});
