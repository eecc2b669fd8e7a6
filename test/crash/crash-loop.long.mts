/**
 * Crash loop, long run: `npm run test:crash` (CRASH_CYCLES, default 24; CRASH_SECONDS, default
 * 90 — it cycles until both are reached, then waits for the rotation's re-signing to finish; CRASH_SEED replays a kill schedule; CRASH_CONNECTIONS,
 * default 8; CRASH_KEEP=1 keeps the data dir). Not a vitest file (vitest includes only
 * test/**\/*.spec.ts); exits 1 when any property failed. See ./crash-loop.ts.
 */
import { formatCrashLoop, runCrashLoop } from './crash-loop.ts';

const num = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} must be a non-negative integer`);
    process.exit(2);
  }
  return n;
};

const result = await runCrashLoop({
  cycles: num('CRASH_CYCLES', 24),
  seconds: num('CRASH_SECONDS', 90),
  ...(process.env.CRASH_SEED ? { seed: num('CRASH_SEED', 0) } : {}),
  connections: num('CRASH_CONNECTIONS', 8),
  killAfterMs: [200, 2000],
  minBundlesBeforeRotation: 400,
  keepDataDir: process.env.CRASH_KEEP === '1',
});
console.log(formatCrashLoop(result));
if (result.problems.length > 0) {
  console.log(result.problems.slice(0, 50).join('\n'));
  process.exit(1);
}
