import { describe, expect, it } from 'vitest';
import { tsaDecider, type CreateTsa, type TimestampIssued, type TsaCreated } from '../../src/domain/timestamping.ts';
import { DeciderSpecification } from '../support/decider.ts';

const spec = DeciderSpecification.for(tsaDecider);

const T1 = '2026-11-01T00:00:00.000Z';
const createdData: TsaCreated['data'] = { certChain: ['Y2VydA=='], policyOid: '1.3.6.1.4.1.57264.2', validFrom: T1, validUntil: '2036-11-01T00:00:00.000Z', keyRef: 'file:tsa', createdAt: T1 };
const create: CreateTsa = { type: 'CreateTsa', ...createdData };
const created: TsaCreated = { type: 'TsaCreated', data: createdData };

const grant = (serial: number, purpose: 'api' | 'bundle' = 'api'): TimestampIssued['data'] => ({ serial: String(serial), hashAlgorithm: 'sha256', messageImprint: 'aW1wcmludA==', nonce: null, genTime: T1, purpose });
const issued = (serial: number, purpose: 'api' | 'bundle' = 'api'): TimestampIssued => ({ type: 'TimestampIssued', data: grant(serial, purpose) });

describe('tsaDecider (unit)', () => {
  describe('when the timestamp authority is created', () => {
    it('records its chain and key reference; its event is serial 0, so grants start at 1', () => {
      spec.given([]).when(create).then([created]);
      spec.given([]).when(create).thenState((state) => expect(state).toEqual({ tsa: createdData, next: 1 }));
    });
  });

  describe('when it already exists', () => {
    it('decides nothing: the first authority stands', () => {
      spec.given([created]).when(create).thenNothingHappened();
      spec.given([created]).when({ ...create, keyRef: 'pkcs11:other' }).thenNothingHappened();
    });
  });

  describe('when timestamps are granted', () => {
    it('records each under the next serials, in order', () => {
      spec
        .given([created])
        .when({ type: 'RecordTimestamps', timestamps: [grant(1), grant(2, 'bundle')] })
        .then([issued(1), issued(2, 'bundle')]);
      spec.given([created, issued(1), issued(2)]).when({ type: 'RecordTimestamps', timestamps: [grant(3)] }).then([issued(3)]);
    });

    it('decides nothing for an empty batch', () => {
      spec.given([created]).when({ type: 'RecordTimestamps', timestamps: [] }).thenNothingHappened();
    });
  });

  describe('when a grant breaks a rule', () => {
    it('refuses grants before the authority exists', () => {
      spec.given([]).when({ type: 'RecordTimestamps', timestamps: [grant(0)] }).thenThrows('not_ready');
    });

    it('refuses a serial that is not the next one (another instance granted it first)', () => {
      spec.given([created, issued(1)]).when({ type: 'RecordTimestamps', timestamps: [grant(1)] }).thenThrows('concurrency_conflict');
      spec.given([created]).when({ type: 'RecordTimestamps', timestamps: [grant(1), grant(3)] }).thenThrows('concurrency_conflict');
      spec.given([created]).when({ type: 'RecordTimestamps', timestamps: [grant(2)] }).thenThrows('concurrency_conflict');
    });
  });
});
