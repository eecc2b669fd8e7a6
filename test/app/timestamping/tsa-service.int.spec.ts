/**
 * TsaService on a real SQLite event store: bundle timestamps (granted from the signature's digest,
 * without a query) and API queries batched together; every granted token is one TimestampIssued
 * event whose revision is the token's serial; rejections append nothing; two services on one
 * store never repeat a serial.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RFC3161Timestamp } from '@sigstore/core';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TsaService } from '../../../src/app/timestamping/tsa-service.ts';
import { TSA_STREAM } from '../../../src/domain/timestamping.ts';
import type { RecordedEvent } from '../../../src/store/event-store.ts';
import { sealedSecretStore } from '../../../src/store/keys/sealed-secret.ts';
import { SqliteEventStore } from '../../../src/store/sqlite/sqlite-event-store.ts';
import { buildQuery, parseTimeStampResp } from '../../support/tsa-client.ts';

const SHA256_OID = '2.16.840.1.101.3.4.2.1';

describe('TsaService', () => {
  let dir: string;
  let store: SqliteEventStore;
  let service: TsaService;
  const kek = randomBytes(32);
  const newService = () => new TsaService({ store, logger: pino({ level: 'silent' }), now: () => new Date(), secrets: sealedSecretStore(join(dir, 'keys'), kek) });
  const events = async () => (await store.readStream(TSA_STREAM)).filter((e) => e.type === 'TimestampIssued');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsa-service-'));
    store = new SqliteEventStore({ path: join(dir, 'events.db') });
    service = newService();
    await service.init();
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const leafKey = () => new X509Certificate(Buffer.from(service.info().certChain[0]!, 'base64')).publicKey;

  function expectEventFor(event: RecordedEvent, der: Buffer, expected: { imprint: Buffer; nonce: bigint | null; purpose: 'api' | 'bundle' }) {
    const tst = parseTimeStampResp(der).tstInfo!;
    expect(tst.serial).toBe(BigInt(event.revision));
    expect(event.data).toEqual({
      serial: String(event.revision),
      hashAlgorithm: SHA256_OID,
      messageImprint: expected.imprint.toString('hex'),
      nonce: expected.nonce === null ? null : String(expected.nonce),
      genTime: tst.genTime.toISOString(),
      purpose: expected.purpose,
    });
    expect(tst.genTime.getUTCMilliseconds()).toBe(0);
    expect(tst.hashOid).toBe(SHA256_OID);
    expect(tst.hashedMessage.equals(expected.imprint)).toBe(true);
  }

  describe('when bundle signatures and API queries arrive together', () => {
    it('grants each in batches, records one TimestampIssued per token with its serial as revision, and appends nothing for rejections', async () => {
      const before = (await events()).length;
      const signatures = Array.from({ length: 300 }, () => randomBytes(64));
      const apiData = randomBytes(40);
      const [bundles, api, bad] = await Promise.all([
        Promise.all(signatures.map((s) => service.timestampSignature(s))),
        service.respond(buildQuery(apiData, { nonce: 123456789n, certReq: true })),
        service.respond(Buffer.from('not a query')),
      ]);
      expect(bad.status).toBe('rejection');
      expect(api.status).toBe('granted');
      const issued = await events();
      expect(issued).toHaveLength(before + signatures.length + 1);
      const byRevision = new Map(issued.map((e) => [e.revision, e]));
      const serials = new Set<bigint>();
      bundles.forEach((b64, i) => {
        const der = Buffer.from(b64, 'base64');
        const serial = parseTimeStampResp(der).tstInfo!.serial;
        serials.add(serial);
        expectEventFor(byRevision.get(Number(serial))!, der, { imprint: createHash('sha256').update(signatures[i]!).digest(), nonce: null, purpose: 'bundle' });
        // What Sigstore verifiers check: the imprint over the signature bytes and the TSA's signature.
        RFC3161Timestamp.parse(der as Buffer<ArrayBuffer>).verify(signatures[i]! as Buffer<ArrayBuffer>, leafKey());
      });
      const apiSerial = parseTimeStampResp(api.der).tstInfo!.serial;
      serials.add(apiSerial);
      expectEventFor(byRevision.get(Number(apiSerial))!, api.der, { imprint: createHash('sha256').update(apiData).digest(), nonce: 123456789n, purpose: 'api' });
      expect(serials.size).toBe(signatures.length + 1);
      // consecutive revisions: the serials are exactly the new events
      expect([...serials].sort((a, b) => (a < b ? -1 : 1))).toEqual(issued.slice(before).map((e) => BigInt(e.revision)));
    });
  });

  describe('when two services share the store', () => {
    it('never repeats a serial (the stale one retries with the next free serials)', async () => {
      const other = newService();
      await other.init();
      await service.timestampSignature(randomBytes(64)); // `other` is now one serial behind
      const results = await Promise.all([
        ...Array.from({ length: 50 }, () => other.timestampSignature(randomBytes(64))),
        ...Array.from({ length: 50 }, () => service.timestampSignature(randomBytes(64))),
      ]);
      const serials = results.map((b64) => parseTimeStampResp(Buffer.from(b64, 'base64')).tstInfo!.serial);
      expect(new Set(serials).size).toBe(100);
      const issued = await events();
      for (const s of serials) expect(issued.some((e) => BigInt(e.revision) === s && (e.data as { serial: string }).serial === String(s))).toBe(true);
    });
  });
});
