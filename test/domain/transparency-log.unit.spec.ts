import { describe, expect, it } from 'vitest';
import { logDecider, type CheckpointPublished, type CreateLogKey, type LogKeyCreated, type PublishCheckpoint } from '../../src/domain/transparency-log.ts';
import { DeciderSpecification } from '../support/decider.ts';

const spec = DeciderSpecification.for(logDecider);

const T1 = '2026-11-01T00:00:00.000Z';
const T2 = '2026-11-01T00:00:01.000Z';
const ORIGIN = 'sigledger.test/log';
const ROOT_A = 'A'.repeat(43) + '=';
const ROOT_B = 'B'.repeat(43) + '=';

const keyData: LogKeyCreated['data'] = { keyId: 'k'.repeat(64), publicKey: 'cHVi', backend: 'file', ref: 'file:log', origin: ORIGIN, noteKeyId: 'abcd1234', createdAt: T1 };
const createKey: CreateLogKey = { type: 'CreateLogKey', ...keyData };
const keyCreated: LogKeyCreated = { type: 'LogKeyCreated', data: keyData };

const publish = (size: number, rootHash = ROOT_A, time = T2): PublishCheckpoint => ({ type: 'PublishCheckpoint', origin: ORIGIN, size, rootHash, note: `note ${size}`, time });
const published = (size: number, rootHash = ROOT_A, time = T2): CheckpointPublished => ({ type: 'CheckpointPublished', data: { origin: ORIGIN, size, rootHash, note: `note ${size}`, publishedAt: time } });

describe('logDecider (unit)', () => {
  describe('when the log key is created', () => {
    it('records it once', () => {
      spec.given([]).when(createKey).then([keyCreated]);
    });

    it('decides nothing when the same key is created again', () => {
      spec.given([keyCreated]).when(createKey).thenNothingHappened();
    });

    it('refuses another key: a log key is never replaced', () => {
      spec.given([keyCreated]).when({ ...createKey, keyId: 'z'.repeat(64) }).thenThrows('key_state_conflict');
    });
  });

  describe('when checkpoints are published', () => {
    it('records a larger size with its root', () => {
      spec.given([keyCreated]).when(publish(1)).then([published(1)]);
      spec
        .given([keyCreated, published(1)])
        .when(publish(5, ROOT_B))
        .then([published(5, ROOT_B)]);
      spec.given([keyCreated, published(1)]).when(publish(5, ROOT_B)).thenState((state) => expect(state).toMatchObject({ size: 5, rootHash: ROOT_B }));
    });

    it('decides nothing for the same size and root again, or a size another instance overtook', () => {
      spec.given([keyCreated, published(5)]).when(publish(5, ROOT_A, '2026-11-02T00:00:00.000Z')).thenNothingHappened();
      spec.given([keyCreated, published(5)]).when(publish(3, ROOT_B)).thenNothingHappened();
    });
  });

  describe('when a checkpoint breaks a rule', () => {
    it('refuses to publish before the log has a key', () => {
      spec.given([]).when(publish(1)).thenThrows('no_active_key');
    });

    it('refuses another origin', () => {
      spec.given([keyCreated]).when({ ...publish(1), origin: 'elsewhere/log' }).thenThrows('key_state_conflict');
    });

    it('refuses a second root for a size already published', () => {
      spec.given([keyCreated, published(5)]).when(publish(5, ROOT_B)).thenThrows('integrity_violation');
    });
  });
});
