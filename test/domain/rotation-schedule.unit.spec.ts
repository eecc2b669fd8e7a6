import { describe, expect, it } from 'vitest';
import { compileRotationCron } from '../../src/app/ceremonies/rotation-cron.ts';
import { dueRotationPeriod } from '../../src/app/ceremonies/rotation-scheduler.ts';
import { fold } from '../../src/domain/decider.ts';
import { parseRfc3339 } from '../../src/domain/instant.ts';
import {
  canonicalPeriod,
  ROTATION_SCHEDULE_STREAM,
  rotationScheduleDecider,
  scheduledIdsFor,
  type RecordScheduledRotation,
  type ScheduledRotationRecorded,
} from '../../src/domain/rotation-schedule.ts';
import { DeciderSpecification, refusalOf } from '../support/decider.ts';

const spec = DeciderSpecification.for(rotationScheduleDecider);

const record = (period: string, time = period, ids = scheduledIdsFor(period)): RecordScheduledRotation => ({ type: 'RecordScheduledRotation', period, ...ids, time });
const recorded = (period: string, recordedAt = period, ids = scheduledIdsFor(period)): ScheduledRotationRecorded => ({ type: 'ScheduledRotationRecorded', data: { period, ...ids, recordedAt } });

const MONTHLY = compileRotationCron('0 0 1 * *', new Date('2026-01-01T00:00:00Z'));
const due = (now: string, last?: string, baseline?: string, cron = MONTHLY) => dueRotationPeriod(cron, new Date(now), last, baseline);

describe('rotation schedule (unit)', () => {
  describe('when a period is recorded for the first time', () => {
    it('records it with its ids and exposes it as the last period', () => {
      expect(ROTATION_SCHEDULE_STREAM).toBe('rotation-schedule');
      const first = spec.given([]).when(record('2026-02-01T00:00:00Z', '2026-02-01T00:00:03.250Z'));
      first.then([
        {
          type: 'ScheduledRotationRecorded',
          data: { period: '2026-02-01T00:00:00Z', rotationId: 'rot-20260201T000000Z', ceremonyId: 'cer-20260201T000000Z', recordedAt: '2026-02-01T00:00:03.250Z' },
        },
      ]);
      first.thenState((state) => {
        expect(state.last).toEqual({ period: '2026-02-01T00:00:00Z', rotationId: 'rot-20260201T000000Z', ceremonyId: 'cer-20260201T000000Z', recordedAt: '2026-02-01T00:00:03.250Z' });
        expect(state.recorded).toBe(1);
      });
    });

    it('stores the period in canonical UTC form whatever offset it was given in', () => {
      spec
        .given([])
        .when(record('2026-02-01T02:00:00.000+02:00', '2026-02-01T00:00:01Z', { rotationId: 'r', ceremonyId: 'c' }))
        .then([recorded('2026-02-01T00:00:00Z', '2026-02-01T00:00:01Z', { rotationId: 'r', ceremonyId: 'c' })]);
    });
  });

  describe('when the period is already recorded or older than the last one', () => {
    it('decides nothing, whatever ids the command carries', () => {
      const history = [recorded('2026-02-01T00:00:00Z'), recorded('2026-03-01T00:00:00Z')];
      spec.given([recorded('2026-02-01T00:00:00Z')]).when(record('2026-03-01T00:00:00Z')).then([recorded('2026-03-01T00:00:00Z')]);
      spec.given(history).when(record('2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z')).thenNothingHappened();
      spec.given(history).when(record('2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z', { rotationId: 'x', ceremonyId: 'y' })).thenNothingHappened();
      spec.given(history).when(record('2026-02-01T00:00:00Z', '2026-03-02T00:00:00Z')).thenNothingHappened();
      spec.given(history).when(record('2026-01-01T00:00:00Z', '2026-03-02T00:00:00Z')).thenNothingHappened();
      spec
        .given(history)
        .when(record('2026-01-01T00:00:00Z', '2026-03-02T00:00:00Z'))
        .thenState((state) => {
          expect(state.recorded).toBe(2);
          expect(state.last?.period).toBe('2026-03-01T00:00:00Z');
        });
    });
  });

  describe('when folding a history', () => {
    it('keeps the latest period as the last one', () => {
      const events = [recorded('2026-02-01T00:00:00Z'), recorded('2026-05-01T00:00:00Z')];
      spec
        .given(events)
        .when(record('2026-01-01T00:00:00Z'))
        .thenState((state) => {
          expect(state.last).toMatchObject({ period: '2026-05-01T00:00:00Z', rotationId: 'rot-20260501T000000Z', ceremonyId: 'cer-20260501T000000Z' });
          expect(state).toEqual(fold(rotationScheduleDecider, events));
        });
      spec
        .given([...events].reverse())
        .when(record('2026-01-01T00:00:00Z'))
        .thenState((state) => expect(state.last?.period).toBe('2026-05-01T00:00:00Z'));
    });
  });

  describe('when a command is malformed', () => {
    const cases: [string, RecordScheduledRotation, string][] = [
      ['a period that is not RFC 3339', { ...record('2026-02-01T00:00:00Z'), period: '2026-02-01' }, 'invalid_period'],
      ['a date that does not exist', { ...record('2026-02-01T00:00:00Z'), period: '2026-02-30T00:00:00Z' }, 'invalid_period'],
      ['a period with a fraction of a second', { ...record('2026-02-01T00:00:00Z'), period: '2026-02-01T00:00:00.5Z', time: '2026-02-02T00:00:00Z' }, 'invalid_period'],
      ['a time that is not RFC 3339', { ...record('2026-02-01T00:00:00Z'), time: 'tomorrow' }, 'invalid_time'],
      ['an empty rotation id', { ...record('2026-02-01T00:00:00Z'), rotationId: '' }, 'invalid_id'],
      ['a ceremony id with a slash', { ...record('2026-02-01T00:00:00Z'), ceremonyId: 'a/b' }, 'invalid_id'],
      ['a time before the period', record('2026-02-01T00:00:00Z', '2026-01-31T23:59:59Z'), 'not_due'],
    ];
    for (const [what, command, reason] of cases) {
      it(`refuses ${what} with invalid_request/${reason}`, () => {
        spec.given([]).when(command).thenThrows('invalid_request', reason);
      });
    }
  });

  describe('when ids are derived from a period', () => {
    it('gives rot-/cer- plus the UTC basic-format stamp, the same for every spelling of the instant', () => {
      expect(scheduledIdsFor('2026-02-01T00:00:00Z')).toEqual({ rotationId: 'rot-20260201T000000Z', ceremonyId: 'cer-20260201T000000Z' });
      expect(scheduledIdsFor('2026-02-01T01:30:00+01:30')).toEqual(scheduledIdsFor('2026-02-01T00:00:00.000Z'));
      expect(scheduledIdsFor('2028-12-31T23:55:07Z')).toEqual({ rotationId: 'rot-20281231T235507Z', ceremonyId: 'cer-20281231T235507Z' });
      expect(canonicalPeriod('2026-02-01T00:00:00.000Z')).toBe('2026-02-01T00:00:00Z');
    });

    it('refuses a period that is not a whole-second instant', () => {
      expect(refusalOf(() => scheduledIdsFor('2026-02-01T00:00:00.001Z'))).toEqual({ code: 'invalid_request', reason: 'invalid_period' });
      expect(refusalOf(() => scheduledIdsFor('yesterday'))).toEqual({ code: 'invalid_request', reason: 'invalid_period' });
    });

    it('parses RFC 3339 strictly (real calendar dates, leap years)', () => {
      expect(parseRfc3339('2028-02-29T00:00:00Z')).toBe(Date.UTC(2028, 1, 29));
      expect(parseRfc3339('2026-02-29T00:00:00Z')).toBeUndefined();
      expect(parseRfc3339('2100-02-29T00:00:00Z')).toBeUndefined();
      expect(parseRfc3339('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
      expect(parseRfc3339('2026-04-31T00:00:00Z')).toBeUndefined();
      expect(parseRfc3339('2026-01-01T24:00:00Z')).toBeUndefined();
      expect(parseRfc3339('2026-01-01T00:00:60Z')).toBeUndefined();
      expect(parseRfc3339('2026-01-01T00:00:00.58Z')).toBe(Date.UTC(2026, 0, 1, 0, 0, 0, 580));
      expect(parseRfc3339('0050-01-01T00:00:00Z')).toBe(new Date('0050-01-01T00:00:00Z').getTime());
    });
  });

});

describe('rotation scheduler duePeriod (unit)', () => {
  describe('when nothing was recorded and there is no baseline', () => {
    it('is the latest occurrence at or before now', () => {
      expect(due('2026-01-15T12:00:00Z')).toBe('2026-01-01T00:00:00Z');
      expect(due('2026-02-01T00:00:00Z')).toBe('2026-02-01T00:00:00Z');
      expect(due('2026-02-01T00:00:00.999Z')).toBe('2026-02-01T00:00:00Z');
      expect(due('2026-01-31T23:59:59.999Z')).toBe('2026-01-01T00:00:00Z');
    });
  });

  describe('when the last recorded period is the latest occurrence', () => {
    it('is not due until the next month starts', () => {
      expect(due('2026-01-31T23:59:59.999Z', '2026-01-01T00:00:00Z')).toBeUndefined();
      expect(due('2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z')).toBe('2026-02-01T00:00:00Z');
      expect(due('2026-02-01T00:00:00Z', '2026-02-01T00:00:00Z')).toBeUndefined();
    });
  });

  describe('when months of different lengths end', () => {
    it('falls due on the 1st after the 28th, 29th, 30th and 31st', () => {
      expect(due('2026-02-28T23:59:59Z', '2026-02-01T00:00:00Z')).toBeUndefined();
      expect(due('2026-03-01T00:00:00Z', '2026-02-01T00:00:00Z')).toBe('2026-03-01T00:00:00Z');
      expect(due('2028-02-29T23:59:59Z', '2028-02-01T00:00:00Z')).toBeUndefined();
      expect(due('2028-03-01T00:00:01Z', '2028-02-01T00:00:00Z')).toBe('2028-03-01T00:00:00Z');
      expect(due('2026-04-30T23:59:59Z', '2026-04-01T00:00:00Z')).toBeUndefined();
      expect(due('2026-05-01T00:00:00Z', '2026-04-01T00:00:00Z')).toBe('2026-05-01T00:00:00Z');
    });

    it('crosses December into January of the next year', () => {
      expect(due('2026-12-31T23:59:59Z', '2026-12-01T00:00:00Z')).toBeUndefined();
      expect(due('2027-01-01T00:00:00Z', '2026-12-01T00:00:00Z')).toBe('2027-01-01T00:00:00Z');
      expect(scheduledIdsFor(due('2027-01-01T08:00:00Z', '2026-12-01T00:00:00Z')!)).toEqual({ rotationId: 'rot-20270101T000000Z', ceremonyId: 'cer-20270101T000000Z' });
    });
  });

  describe('when the ledger was down for three months', () => {
    it('gives exactly one due period, the latest', () => {
      const last = '2026-02-01T00:00:00Z';
      const now = '2026-05-20T10:00:00Z'; // March, April and May were missed
      expect(due(now, last)).toBe('2026-05-01T00:00:00Z');
      // once that one is recorded nothing else is due: the missed March and April never run
      expect(due(now, '2026-05-01T00:00:00Z')).toBeUndefined();
    });
  });

  describe('when the baseline is after the occurrence', () => {
    it('is not due: the active key is newer than the period', () => {
      expect(due('2026-02-10T00:00:00Z', '2026-01-01T00:00:00Z', '2026-02-03T12:00:00Z')).toBeUndefined();
      expect(due('2026-02-10T00:00:00Z', undefined, '2026-02-01T00:00:00Z')).toBeUndefined();
      expect(due('2026-02-10T00:00:00Z', undefined, '2026-01-31T23:59:59Z')).toBe('2026-02-01T00:00:00Z');
      expect(due('2026-03-01T00:00:00Z', undefined, '2026-02-03T12:00:00Z')).toBe('2026-03-01T00:00:00Z');
    });

    it('takes the later of the baseline and the last recorded period', () => {
      expect(due('2026-02-10T00:00:00Z', '2026-02-01T00:00:00Z', '2025-12-15T00:00:00Z')).toBeUndefined();
      expect(due('2026-03-10T00:00:00Z', '2026-01-01T00:00:00Z', '2026-03-02T00:00:00Z')).toBeUndefined();
    });
  });

  describe('when the pattern is a custom one', () => {
    it('handles every five minutes', () => {
      const every5 = compileRotationCron('*/5 * * * *', new Date('2026-03-03T00:00:00Z'));
      expect(due('2026-03-03T10:07:31Z', undefined, undefined, every5)).toBe('2026-03-03T10:05:00Z');
      expect(due('2026-03-03T10:07:31Z', '2026-03-03T10:05:00Z', undefined, every5)).toBeUndefined();
      expect(due('2026-03-03T10:10:00Z', '2026-03-03T10:05:00Z', undefined, every5)).toBe('2026-03-03T10:10:00Z');
      expect(due('2026-03-03T11:59:00Z', '2026-03-03T10:05:00Z', undefined, every5)).toBe('2026-03-03T11:55:00Z');
      expect(due('2027-01-01T00:02:00Z', '2026-12-31T23:55:00Z', undefined, every5)).toBe('2027-01-01T00:00:00Z');
    });

    it('handles a yearly leap-day pattern', () => {
      const leapDay = compileRotationCron('0 0 29 2 *', new Date('2026-01-01T00:00:00Z'));
      expect(due('2027-06-01T00:00:00Z', undefined, undefined, leapDay)).toBe('2024-02-29T00:00:00Z');
      expect(due('2028-02-29T00:00:00Z', '2024-02-29T00:00:00Z', undefined, leapDay)).toBe('2028-02-29T00:00:00Z');
      expect(due('2028-02-28T23:59:59Z', '2024-02-29T00:00:00Z', undefined, leapDay)).toBeUndefined();
    });

    it('handles the last day of every month', () => {
      const monthEnd = compileRotationCron('0 0 L * *', new Date('2026-01-01T00:00:00Z'));
      expect(due('2026-02-28T00:00:00Z', '2026-01-31T00:00:00Z', undefined, monthEnd)).toBe('2026-02-28T00:00:00Z');
      expect(due('2028-02-28T12:00:00Z', '2028-01-31T00:00:00Z', undefined, monthEnd)).toBeUndefined();
      expect(due('2028-02-29T00:00:00Z', '2028-01-31T00:00:00Z', undefined, monthEnd)).toBe('2028-02-29T00:00:00Z');
    });
  });

  describe('when an instant is malformed', () => {
    it('refuses it instead of guessing', () => {
      expect(refusalOf(() => due('2026-02-10T00:00:00Z', 'last month'))).toEqual({ code: 'invalid_request', reason: 'invalid_time' });
      expect(refusalOf(() => due('2026-02-10T00:00:00Z', undefined, '2026-13-01T00:00:00Z'))).toEqual({ code: 'invalid_request', reason: 'invalid_time' });
      expect(refusalOf(() => dueRotationPeriod(MONTHLY, new Date(NaN), undefined, undefined))).toEqual({ code: 'invalid_request', reason: 'invalid_time' });
    });
  });
});

describe('compileRotationCron (unit)', () => {
  describe('when the pattern is invalid or never fires', () => {
    it('refuses it with invalid_request/invalid_cron', () => {
      expect(refusalOf(() => compileRotationCron('61 * * * *'))).toEqual({ code: 'invalid_request', reason: 'invalid_cron' });
      expect(refusalOf(() => compileRotationCron('monthly'))).toEqual({ code: 'invalid_request', reason: 'invalid_cron' });
      expect(refusalOf(() => compileRotationCron('0 0 31 2 *'))).toEqual({ code: 'invalid_request', reason: 'invalid_cron' });
    });
  });
});
