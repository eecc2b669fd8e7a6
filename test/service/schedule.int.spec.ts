/**
 * The monthly schedule through the real service: no rotation before the first period after the
 * key was activated; after an outage spanning month ends, exactly one rotation at start-up (for
 * the latest missed period); a restart does not open another.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestService } from '../support/service.ts';

const clockAt = (iso: string) => {
  const base = Date.parse(iso);
  const started = Date.now();
  return () => new Date(base + (Date.now() - started));
};

async function rotations(url: string): Promise<{ rotationId: string; ceremonyId: string; state: string }[]> {
  return (await (await fetch(`${url}/api/v1/rotations`)).json()) as { rotationId: string; ceremonyId: string; state: string }[];
}

describe('rotation schedule', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-schedule-'));
  const env = { SIGLEDGER_CHECKPOINT_INTERVAL_MS: '20' };
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  describe('when the service is down across two month ends and starts again', () => {
    it('opens exactly one rotation at start-up, for the latest missed period, and no more on restart', async () => {
      const first = await startTestService(env, { dataDir, now: clockAt('2026-01-15T12:00:00Z') });
      expect(await rotations(first.url)).toEqual([]);
      await first.stop();

      const second = await startTestService(env, { dataDir, now: clockAt('2026-03-02T08:00:00Z') });
      const opened = await rotations(second.url);
      expect(opened).toHaveLength(1);
      expect(opened[0]).toMatchObject({ rotationId: 'rot-20260301T000000Z', ceremonyId: 'cer-20260301T000000Z', state: 'awaiting-approval' });
      const ceremony = (await (await fetch(`${second.url}/api/v1/ceremonies/${opened[0]!.ceremonyId}`)).json()) as { proposal: { reason: string; action: { type: string } } };
      expect(ceremony.proposal.action.type).toBe('rotate-key');
      expect(ceremony.proposal.reason).toContain('2026-03-01T00:00:00Z');
      await second.stop();

      const third = await startTestService(env, { dataDir, now: clockAt('2026-03-20T08:00:00Z') });
      expect(await rotations(third.url)).toHaveLength(1);
      await third.stop();

      const fourth = await startTestService(env, { dataDir, now: clockAt('2026-04-01T00:00:05Z') });
      expect((await rotations(fourth.url)).map((r) => r.rotationId)).toEqual(['rot-20260301T000000Z', 'rot-20260401T000000Z']);
      await fourth.stop();
    }, 60_000);
  });
});
