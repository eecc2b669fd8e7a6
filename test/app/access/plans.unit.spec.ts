import { describe, expect, it } from 'vitest';
import { BUILTIN_PLANS, DEV_PLANS, parsePlans, withDevPlans } from '../../../src/app/access/plans.ts';
import { ConfigError } from '../../../src/errors.ts';

const MiB = 1024 * 1024;
const noFile = () => {
  throw new Error('no file expected');
};

describe('plans', () => {
  describe('when SIGLEDGER_PLANS is not set', () => {
    it('gives the built-in free, team and enterprise plans', () => {
      expect(parsePlans(undefined)).toBe(BUILTIN_PLANS);
      expect(parsePlans('  ')).toBe(BUILTIN_PLANS);
      expect(Object.keys(BUILTIN_PLANS)).toEqual(['free', 'team', 'enterprise']);
      expect(BUILTIN_PLANS.team).toEqual({ qps: 50, burst: 100, concurrency: 32, maxArtifactBytes: 8 * MiB });
    });

    it('has unlimited in dev mode only', () => {
      expect(BUILTIN_PLANS).not.toHaveProperty('unlimited');
      expect(DEV_PLANS.unlimited).toEqual({ qps: null, burst: 1, concurrency: 1024, maxArtifactBytes: 16 * MiB });
    });
  });

  describe('when SIGLEDGER_PLANS is inline JSON', () => {
    it('replaces the built-in plans', () => {
      const plans = parsePlans(' {"gold": {"qps": 10, "burst": 20, "concurrency": 2, "maxArtifactBytes": 1024}}', { readFile: noFile });
      expect(plans).toEqual({ gold: { qps: 10, burst: 20, concurrency: 2, maxArtifactBytes: 1024 } });
      expect(withDevPlans(plans)).toHaveProperty('unlimited');
    });

    it('accepts qps null as no rate limit', () => {
      expect(parsePlans('{"x": {"qps": null, "burst": 1, "concurrency": 1, "maxArtifactBytes": 1}}').x?.qps).toBeNull();
    });
  });

  describe('when SIGLEDGER_PLANS is a file path', () => {
    it('reads the file', () => {
      const read: string[] = [];
      const plans = parsePlans('/etc/sigledger/plans.json', {
        readFile: (p) => {
          read.push(p);
          return JSON.stringify({ small: { qps: 1, burst: 1, concurrency: 1, maxArtifactBytes: 1 } });
        },
      });
      expect(read).toEqual(['/etc/sigledger/plans.json']);
      expect(Object.keys(plans)).toEqual(['small']);
    });

    it('names the file it cannot read', () => {
      const err = (() => {
        try {
          parsePlans('/nope.json', {
            readFile: () => {
              throw Object.assign(new Error('gone'), { code: 'ENOENT' });
            },
          });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe('SIGLEDGER_PLANS file /nope.json: cannot read (ENOENT)');
    });
  });

  describe('when a value is invalid', () => {
    const plan = (over: Record<string, unknown>) => JSON.stringify({ p: { qps: 1, burst: 1, concurrency: 1, maxArtifactBytes: 1, ...over } });
    const cases: [string, string, RegExp][] = [
      ['broken JSON', '{"p":', /not valid JSON/],
      ['an array', '/x', /must be a JSON object/],
      ['no plans', '{}', /defines no plans/],
      ['a bad plan name', JSON.stringify({ 'Gold Plan': {} }), /plan name "Gold Plan"/],
      ['a __proto__ plan name', '{"__proto__": {"qps": 1, "burst": 1, "concurrency": 1, "maxArtifactBytes": 1}}', /plan name "__proto__"/],
      ['a fractional qps', plan({ qps: 1.5 }), /"qps" must be an integer from 1 to 100000 \(or null/],
      ['a zero burst', plan({ burst: 0 }), /"burst" must be an integer/],
      ['a negative concurrency', plan({ concurrency: -1 }), /"concurrency" must be an integer/],
      ['a string size', plan({ maxArtifactBytes: '1MB' }), /"maxArtifactBytes" must be an integer .* got "1MB"/],
      ['a size over 64 MiB', plan({ maxArtifactBytes: 64 * MiB + 1 }), /"maxArtifactBytes" must be an integer from 1 to 67108864/],
      ['an infinite qps', '{"p": {"qps": 1e400, "burst": 1, "concurrency": 1, "maxArtifactBytes": 1}}', /"qps" must be an integer .* got Infinity/],
      ['a missing field', JSON.stringify({ p: { qps: 1, burst: 1, concurrency: 1 } }), /missing "maxArtifactBytes"/],
      ['an unknown field', plan({ rps: 3 }), /unknown field "rps"/],
    ];
    for (const [what, raw, message] of cases) {
      it(`refuses ${what} with one ConfigError line`, () => {
        let caught: unknown;
        try {
          parsePlans(raw, { readFile: () => '[1]' });
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(ConfigError);
        const msg = (caught as Error).message;
        expect(msg).toMatch(message);
        expect(msg).not.toContain('\n');
      });
    }
  });
});
