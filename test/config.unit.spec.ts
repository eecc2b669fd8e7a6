import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { CEREMONY_TTL_MAX_SECONDS, DEFAULTS, loadConfig } from '../src/config.ts';
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
      ['a rotation cron with a bad field', {}, { SIGLEDGER_ROTATION_CRON: '61 * * * *' }, /^SIGLEDGER_ROTATION_CRON must be a cron pattern \(UTC\) or "off", got "61 \* \* \* \*": .*minute/],
      ['a rotation cron with too few fields', {}, { SIGLEDGER_ROTATION_CRON: 'monthly' }, /SIGLEDGER_ROTATION_CRON .*"monthly"/],
      ['a rotation cron that never fires', {}, { SIGLEDGER_ROTATION_CRON: '0 0 31 2 *' }, /SIGLEDGER_ROTATION_CRON .*never fires/],
      ['ceremony thresholds that are not JSON', {}, { SIGLEDGER_CEREMONY_THRESHOLDS: 'rotate-key=2' }, /SIGLEDGER_CEREMONY_THRESHOLDS must be inline JSON/],
      ['ceremony thresholds that are a JSON array', {}, { SIGLEDGER_CEREMONY_THRESHOLDS: '[2]' }, /SIGLEDGER_CEREMONY_THRESHOLDS must be a JSON object/],
      ['a threshold for an unknown action', {}, { SIGLEDGER_CEREMONY_THRESHOLDS: '{"rotate-keys":2}' }, /SIGLEDGER_CEREMONY_THRESHOLDS: unknown action type "rotate-keys"/],
      ['a negative threshold', {}, { SIGLEDGER_CEREMONY_THRESHOLDS: '{"revoke-key":-1}' }, /threshold of "revoke-key" must be a non-negative integer, got -1/],
      ['a fractional threshold', {}, { SIGLEDGER_CEREMONY_THRESHOLDS: '{"revoke-key":1.5}' }, /non-negative integer, got 1.5/],
      ['a threshold given as a string', {}, { SIGLEDGER_CEREMONY_THRESHOLDS: '{"revoke-key":"2"}' }, /non-negative integer, got "2"/],
      ['a ceremony TTL below a minute', {}, { SIGLEDGER_CEREMONY_TTL: '59' }, /SIGLEDGER_CEREMONY_TTL \(seconds\) must be an integer from 60 to 7776000/],
      ['a ceremony TTL above 90 days', {}, { SIGLEDGER_CEREMONY_TTL: String(CEREMONY_TTL_MAX_SECONDS + 1) }, /SIGLEDGER_CEREMONY_TTL/],
      ['a ceremony TTL with a unit', {}, { SIGLEDGER_CEREMONY_TTL: '7d' }, /SIGLEDGER_CEREMONY_TTL .*"7d"/],
      ['an approver list with an empty entry', {}, { SIGLEDGER_APPROVERS: 'a.pem,,b.pem' }, /SIGLEDGER_APPROVERS must be a comma-separated list/],
      ['an approver listed twice', {}, { SIGLEDGER_APPROVERS: 'a.pem, ./a.pem' }, /SIGLEDGER_APPROVERS lists "\.\/a\.pem" twice/],
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

    it('reports a rotation cron problem on one line, naming the variable', () => {
      expect(() => loadConfig({}, { SIGLEDGER_ROTATION_CRON: '0 0 1 * * * * *' })).toThrow(/^SIGLEDGER_ROTATION_CRON must be a cron pattern \(UTC\) or "off", got "0 0 1 \* \* \* \* \*": .+$/);
    });

    it('accepts an esdb connection string', () => {
      expect(loadConfig({ store: 'esdb' }, { SIGLEDGER_ESDB_URL: 'esdb://localhost:2113?tls=false' }).esdbUrl).toBe('esdb://localhost:2113?tls=false');
    });
  });

  describe('when the rotation schedule is configured', () => {
    it('defaults to midnight UTC on the 1st of every month', () => {
      expect(loadConfig({}, {}).rotationCron).toBe('0 0 1 * *');
      expect(DEFAULTS.rotationCron).toBe('0 0 1 * *');
      expect(loadConfig({}, { SIGLEDGER_ROTATION_CRON: '' }).rotationCron).toBe('0 0 1 * *');
    });

    it('takes a custom pattern, with seconds too', () => {
      expect(loadConfig({}, { SIGLEDGER_ROTATION_CRON: '*/5 * * * *' }).rotationCron).toBe('*/5 * * * *');
      expect(loadConfig({}, { SIGLEDGER_ROTATION_CRON: ' 30 2 * * 1 ' }).rotationCron).toBe('30 2 * * 1');
      expect(loadConfig({}, { SIGLEDGER_ROTATION_CRON: '0 0 0 1 * *' }).rotationCron).toBe('0 0 0 1 * *');
    });

    it('is disabled by "off"', () => {
      expect(loadConfig({}, { SIGLEDGER_ROTATION_CRON: 'off' }).rotationCron).toBeNull();
      expect(loadConfig({}, { SIGLEDGER_ROTATION_CRON: 'OFF' }).rotationCron).toBeNull();
    });
  });

  describe('when ceremony thresholds are configured', () => {
    it('defaults to none (the built-in thresholds apply)', () => {
      expect(loadConfig({}, {}).ceremonyThresholds).toEqual({});
    });

    it('takes an inline JSON object of action type to non-negative integer', () => {
      const c = loadConfig({}, { SIGLEDGER_CEREMONY_THRESHOLDS: '{"rotate-key": 3, "enroll-approver": 0, "remove-approver": 2}' });
      expect(c.ceremonyThresholds).toEqual({ 'rotate-key': 3, 'enroll-approver': 0, 'remove-approver': 2 });
      expect(Object.isFrozen(c.ceremonyThresholds)).toBe(true);
    });

    it('refuses a __proto__ key like any other unknown action', () => {
      expect(() => loadConfig({}, { SIGLEDGER_CEREMONY_THRESHOLDS: '{"__proto__":{"rotate-key":0}}' })).toThrow(/unknown action type "__proto__"/);
    });
  });

  describe('when the ceremony TTL is configured', () => {
    it('defaults to seven days', () => {
      expect(loadConfig({}, {}).ceremonyTtlSeconds).toBe(604_800);
    });

    it('takes seconds from one minute to 90 days', () => {
      expect(loadConfig({}, { SIGLEDGER_CEREMONY_TTL: '60' }).ceremonyTtlSeconds).toBe(60);
      expect(loadConfig({}, { SIGLEDGER_CEREMONY_TTL: '86400' }).ceremonyTtlSeconds).toBe(86_400);
      expect(loadConfig({}, { SIGLEDGER_CEREMONY_TTL: '7776000' }).ceremonyTtlSeconds).toBe(90 * 86_400);
    });
  });

  describe('when release integrity is configured', () => {
    it('defaults to off, a 300 s cache, any registry, 10 s per registry operation', () => {
      expect(loadConfig({}, {}).release).toEqual({ verify: 'off', cacheSeconds: 300, insecureRegistries: [], allowedRegistries: null, registryTimeoutMs: 10_000, registryCredentials: undefined });
    });
    it('reads the registries lowercased and deduplicated', () => {
      const c = loadConfig({}, { SIGLEDGER_RELEASE_VERIFY: 'required', SIGLEDGER_REGISTRIES: 'Reg.example:5000, ghcr.io,ghcr.io', SIGLEDGER_INSECURE_REGISTRIES: '10.0.0.5:5000' });
      expect(c.release).toMatchObject({ verify: 'required', allowedRegistries: ['reg.example:5000', 'ghcr.io'], insecureRegistries: ['10.0.0.5:5000'] });
    });
    const bad: [string, NodeJS.ProcessEnv, RegExp][] = [
      ['an unknown mode', { SIGLEDGER_RELEASE_VERIFY: 'yes' }, /SIGLEDGER_RELEASE_VERIFY must be "off" or "required"/],
      ['a URL as a registry', { SIGLEDGER_REGISTRIES: 'https://ghcr.io' }, /SIGLEDGER_REGISTRIES must be a comma-separated list of registry hosts/],
      ['an empty entry', { SIGLEDGER_INSECURE_REGISTRIES: 'a.example,,b' }, /SIGLEDGER_INSECURE_REGISTRIES/],
      ['a port out of range', { SIGLEDGER_REGISTRIES: 'a.example:70000' }, /SIGLEDGER_REGISTRIES/],
      ['a negative cache time', { SIGLEDGER_RELEASE_CACHE_SECONDS: '-1' }, /SIGLEDGER_RELEASE_CACHE_SECONDS/],
      ['a timeout under 100 ms', { SIGLEDGER_REGISTRY_TIMEOUT_MS: '5' }, /SIGLEDGER_REGISTRY_TIMEOUT_MS must be an integer from 100/],
    ];
    for (const [what, env, message] of bad) {
      it(`refuses ${what} with one line`, () => {
        expect(() => loadConfig({}, env)).toThrow(ConfigError);
        expect(() => loadConfig({}, env)).toThrow(message);
      });
    }
  });

  describe('when approvers are configured', () => {
    it('defaults to none', () => {
      expect(loadConfig({}, {}).approvers).toEqual([]);
    });

    it('keeps the comma-separated paths, resolved, without reading them', () => {
      const c = loadConfig({}, { SIGLEDGER_APPROVERS: '/etc/sigledger/alice.pem, keys/bob.pem ,/nonexistent/carol.pem' });
      expect(c.approvers).toEqual(['/etc/sigledger/alice.pem', resolve('keys/bob.pem'), '/nonexistent/carol.pem']);
    });
  });
});
