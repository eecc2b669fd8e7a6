/**
 * A rotation reports `completed` only once a signed checkpoint covers every version it re-signed
 * (issue #21, finding 3): each re-signed bundle read right after completion verifies with
 * @sigstore/verify, with its inclusion proof. Checkpoints are paced at 3 s here, so without the
 * wait the versions read at completion have no log entry yet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devApproverPath } from '../../src/app/trust/approvers-service.ts';
import type { AnchorsDocument } from '../../src/domain/anchors.ts';
import { runCli } from '../support/cli.ts';
import { http, type Json } from '../support/http.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { verifyBundleWithAnchors } from '../support/sigstore.ts';

describe('rotation completion and the log (int)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '3000', SIGLEDGER_ROTATION_CRON: 'off' });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  describe('when bundles are read the moment the rotation reports completed', () => {
    it('serves every re-signed version with an inclusion proof that verifies', async () => {
      const signer = await svc.tokens();
      const answers = await Promise.all(
        ['covered a', 'covered b', 'covered c'].map((text) => http(svc, '/api/v1/signer/sign/dsse', { method: 'POST', headers: signer, json: { payloadType: 'text/plain', payload: Buffer.from(text).toString('base64') } })),
      );
      expect(answers.map((r) => r.status)).toEqual([201, 201, 201]);
      const signed: Json[] = answers.map((r) => r.body);
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      const rotation = await http(svc, '/api/v1/rotations', { method: 'POST', headers: admin, json: { reason: 'covered' } });
      expect(rotation.status).toBe(202);
      for (const n of [1, 2]) {
        const r = await runCli(['approve', '--url', svc.url, '--ceremony', rotation.body.ceremonyId, '--key', devApproverPath(svc.dataDir, n), '--yes', '--timeout', '60'], {}, 90_000);
        expect(r.code).toBe(0);
      }
      const [anchors, root] = await Promise.all([http(svc, '/api/v1/trust/anchors'), http(svc, '/api/v1/trust/trusted_root.json')]);
      const views = await Promise.all(signed.map((b) => http(svc, `/api/v1/bundles/${b.bundleId}`)));
      for (const view of views) {
        expect(view.body.latestVersion).toBe(2);
        expect(view.body.bundle.verificationMaterial.tlogEntries).toHaveLength(1);
        expect(() => verifyBundleWithAnchors(view.body.bundle, (anchors.body as AnchorsDocument).keys, root.body)).not.toThrow();
      }
    }, 120_000);
  });
});
