import { describe, expect, it } from 'vitest';
import { LIMIT_DEFAULTS, parseLimits } from '../src/config-limits.ts';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

describe('parseLimits', () => {
  describe('when nothing is set', () => {
    it('answers the documented defaults, also through loadConfig', () => {
      expect(parseLimits({})).toEqual(LIMIT_DEFAULTS);
      expect(loadConfig({}, {}).limits).toEqual({
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 60_000,
        bodyTimeoutMs: 30_000,
        tsaAnonymousClientQps: 5,
        tsaAnonymousClientDaily: 1_000,
        tsaAnonymousDaily: 50_000,
        sseMaxStreams: 1_000,
        sseMaxStreamsPerClient: 8,
        sseMaxLifetimeMs: 3_600_000,
        sseStallTimeoutMs: 30_000,
      });
    });
  });

  describe('when values are set', () => {
    it('reads them, 0 allowed for the daily budgets', () => {
      const l = parseLimits({ SIGLEDGER_BODY_TIMEOUT_MS: '1500', SIGLEDGER_TSA_ANONYMOUS_DAILY: '0', SIGLEDGER_SSE_MAX_STREAMS_PER_CLIENT: '2' });
      expect(l).toMatchObject({ bodyTimeoutMs: 1500, tsaAnonymousDaily: 0, sseMaxStreamsPerClient: 2 });
    });

    it.each([
      ['SIGLEDGER_BODY_TIMEOUT_MS', '0'],
      ['SIGLEDGER_HEADERS_TIMEOUT_MS', '1e4'],
      ['SIGLEDGER_SSE_MAX_STREAMS', '-1'],
      ['SIGLEDGER_SSE_MAX_LIFETIME_MS', '10'],
      ['SIGLEDGER_TSA_ANONYMOUS_CLIENT_QPS', 'fast'],
    ])('refuses %s=%s with one clear line', (name, value) => {
      expect(() => parseLimits({ [name]: value })).toThrow(ConfigError);
      expect(() => parseLimits({ [name]: value })).toThrow(new RegExp(name));
    });

    it('refuses a headers timeout longer than the request timeout', () => {
      expect(() => parseLimits({ SIGLEDGER_HEADERS_TIMEOUT_MS: '20000', SIGLEDGER_REQUEST_TIMEOUT_MS: '10000' })).toThrow(/HEADERS_TIMEOUT/);
    });
  });
});
