/**
 * The rotation schedule (stream `rotation-schedule`): one `ScheduledRotationRecorded` per cron
 * period for which the schedule opened a rotate-key ceremony (SPEC §2 "Ceremonies and
 * rotation": the schedule acts exactly once per period, also after downtime).
 *
 * Every instance of the ledger runs the schedule; the one whose append of the record succeeds
 * (optimistic concurrency on this stream) is the one that opens the ceremony. Periods only move
 * forward: a period at or before the last recorded one decides nothing, so a late or repeated
 * tick is harmless. The ids of a period's rotation and ceremony are derived from the period
 * (`scheduledIdsFor`), so every instance names the same period the same way.
 *
 * Rejections are LedgerErrors `invalid_request` with `details.reason`:
 *   invalid_period — the period is not an RFC 3339 instant with whole seconds
 *   invalid_time   — the time is not an RFC 3339 instant
 *   invalid_id     — a rotation or ceremony id is not a short token of [A-Za-z0-9._:-]
 *   not_due        — the time is before the period (a period is recorded once it has begun)
 */
import { LedgerError } from '../errors.ts';
import type { Decider, DomainEvent } from './decider.ts';
import { parseRfc3339 } from './instant.ts';

export const ROTATION_SCHEDULE_STREAM = 'rotation-schedule';

export type ScheduledRotationRecorded = DomainEvent<
  'ScheduledRotationRecorded',
  {
    /** The cron occurrence, RFC 3339 UTC with whole seconds (`2026-02-01T00:00:00Z`). */
    period: string;
    rotationId: string;
    ceremonyId: string;
    recordedAt: string;
  }
>;
export type RotationScheduleEvent = ScheduledRotationRecorded;

export type RecordScheduledRotation = {
  readonly type: 'RecordScheduledRotation';
  /** RFC 3339 instant of the cron occurrence (whole seconds; any offset, stored as UTC). */
  readonly period: string;
  readonly rotationId: string;
  readonly ceremonyId: string;
  /** RFC 3339: when the record is made (the caller's clock). */
  readonly time: string;
};
export type RotationScheduleCommand = RecordScheduledRotation;

export interface ScheduledRotation {
  readonly period: string;
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly recordedAt: string;
}

export interface RotationScheduleState {
  /** The latest recorded period and its ids; null before the first record. */
  readonly last: ScheduledRotation | null;
  /** How many periods have been recorded. */
  readonly recorded: number;
}

// ---------------------------------------------------------------------------------------------
// Instants

/** RFC 3339 UTC with whole seconds: `2026-02-01T00:00:00Z`. */
export const formatPeriod = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const invalid = (message: string, reason: string): LedgerError => new LedgerError('invalid_request', message, { reason });

/** The period's instant in ms; throws `invalid_period` unless it is an RFC 3339 instant with whole seconds. */
function periodMs(period: unknown): number {
  const ms = parseRfc3339(period);
  if (ms === undefined) throw invalid(`rotation period must be an RFC 3339 instant, got ${JSON.stringify(period)}`, 'invalid_period');
  if (/\.\d*[1-9]/.test(String(period))) throw invalid(`rotation period must be a whole second (a cron occurrence), got ${String(period)}`, 'invalid_period');
  return ms;
}

/** The canonical form of a period (`2026-02-01T00:00:00Z`); throws `invalid_period` like the decider. */
export const canonicalPeriod = (period: string): string => formatPeriod(periodMs(period));

/**
 * The ids of the rotation and ceremony the schedule opens for a period, the same on every
 * instance: `rot-<YYYYMMDDTHHMMSSZ>` and `cer-<YYYYMMDDTHHMMSSZ>` of the period in UTC.
 */
export function scheduledIdsFor(period: string): { rotationId: string; ceremonyId: string } {
  const stamp = formatPeriod(periodMs(period)).replace(/[-:]/g, '');
  return { rotationId: `rot-${stamp}`, ceremonyId: `cer-${stamp}` };
}

// ---------------------------------------------------------------------------------------------
// Decider

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

const initialState = (): RotationScheduleState => ({ last: null, recorded: 0 });

function evolve(state: RotationScheduleState, event: RotationScheduleEvent): RotationScheduleState {
  switch (event.type) {
    case 'ScheduledRotationRecorded': {
      const { period, rotationId, ceremonyId, recordedAt } = event.data;
      // decide only ever appends later periods; keep the latest even if history said otherwise.
      const newer = state.last === null || (parseRfc3339(period) ?? -Infinity) > (parseRfc3339(state.last.period) ?? -Infinity);
      return { last: newer ? { period, rotationId, ceremonyId, recordedAt } : state.last, recorded: state.recorded + 1 };
    }
  }
}

function decide(command: RotationScheduleCommand, state: RotationScheduleState): RotationScheduleEvent[] {
  switch (command.type) {
    case 'RecordScheduledRotation': {
      const period = periodMs(command.period);
      const time = parseRfc3339(command.time);
      if (time === undefined) throw invalid(`time must be an RFC 3339 instant, got ${JSON.stringify(command.time)}`, 'invalid_time');
      for (const [what, id] of [['rotation id', command.rotationId], ['ceremony id', command.ceremonyId]] as const) {
        if (typeof id !== 'string' || !ID.test(id)) throw invalid(`${what} must be 1-128 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(id)}`, 'invalid_id');
      }
      // Already recorded, or superseded by a later period: nothing to do.
      if (state.last !== null && period <= (parseRfc3339(state.last.period) ?? -Infinity)) return [];
      if (time < period) throw invalid(`rotation period ${formatPeriod(period)} has not begun at ${command.time}`, 'not_due');
      return [
        {
          type: 'ScheduledRotationRecorded',
          data: { period: formatPeriod(period), rotationId: command.rotationId, ceremonyId: command.ceremonyId, recordedAt: command.time },
        },
      ];
    }
  }
}

export const rotationScheduleDecider: Decider<RotationScheduleState, RotationScheduleCommand, RotationScheduleEvent> = {
  initialState,
  evolve,
  decide,
};
