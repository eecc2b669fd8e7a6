/**
 * Crash loop, short case (inside `npm test`; the long run is `npm run test:crash`): the real
 * service under concurrent signing load, SIGKILLed at seeded random moments and restarted on the
 * same data dir, a rotation approved in the middle cycle and killed while it re-signs; at the end
 * every acknowledged signing is served with its envelope, every checkpoint seen before a kill is
 * consistent with the final one, and `sigledger replay` is clean. See ./crash-loop.ts.
 */
import { describe, expect, it } from 'vitest';
import { formatCrashLoop, runCrashLoop } from './crash-loop.ts';

describe('crash loop (SIGKILL under signing load and during re-signing)', () => {
  describe('when the service is killed and restarted 5 times with a rotation in the middle', () => {
    it('loses no acknowledged signing, keeps every observed checkpoint consistent and replays clean', async () => {
      const result = await runCrashLoop({
        cycles: 5,
        ...(process.env.CRASH_SEED ? { seed: Number(process.env.CRASH_SEED) } : {}),
        connections: 8,
        killAfterMs: [300, 900],
        minBundlesBeforeRotation: 120,
      });
      console.log(formatCrashLoop(result));
      expect(result.problems).toEqual([]);
      expect(result.kills).toBe(5);
      expect(result.acknowledged).toBeGreaterThan(0);
      expect(result.killPoints.some((p) => p.phase === 'resigning')).toBe(true);
      expect(result.checkpointsVerified).toBe(result.checkpointsObserved);
      expect(result.replay?.ok).toBe(true);
    }, 90_000);
  });
});
