/**
 * Identical concurrent signings are single-flight: the bundle id (tenant, payloadType, payload)
 * keys the signing in flight, so ten identical requests at once append one timestamp and one
 * bundle event, and every caller gets the same bundle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleStream } from '../../../src/domain/bundle.ts';
import { TSA_STREAM } from '../../../src/domain/timestamping.ts';
import { startTestService, type TestService } from '../../support/service.ts';

describe('SigningService (single-flight)', () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_ROTATION_CRON: 'off', SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10' });
  });
  afterAll(async () => {
    await svc.stop();
  });

  const bundleTimestamps = async () => (await svc.ledger.store.readStream(TSA_STREAM)).filter((e) => e.type === 'TimestampIssued' && (e.data as { purpose?: string }).purpose === 'bundle').length;

  describe('when 10 identical new signings arrive at once', () => {
    it('appends exactly one timestamp event and one bundle event, and answers every caller with the same bundle', async () => {
      const headers = { ...(await svc.tokens({ tenant: 'single-flight' })), 'content-type': 'application/json' };
      const body = JSON.stringify({ payloadType: 'text/plain', payload: Buffer.from(`single flight ${Date.now()}`).toString('base64') });
      const before = await bundleTimestamps();
      const answers = await Promise.all(Array.from({ length: 10 }, () => svc.app.request('/api/v1/signer/sign/dsse', { method: 'POST', headers, body })));
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
      const results = (await Promise.all(answers.map((r) => r.json()))) as { bundleId: string; bundle: unknown }[];
      const bundleId = results[0]!.bundleId;
      for (const r of results) {
        expect(r.bundleId).toBe(bundleId);
        expect(JSON.stringify(r.bundle)).toBe(JSON.stringify(results[0]!.bundle));
      }
      expect(await bundleTimestamps()).toBe(before + 1);
      const history = await svc.ledger.store.readStream(bundleStream(bundleId));
      expect(history.map((e) => e.type)).toEqual(['BundleSigned']);
    });
  });
});
