/**
 * The monthly key-rotation schedule (SPEC §2: `SIGLEDGER_ROTATION_CRON`, default `0 0 1 * *`
 * UTC): opens a rotate-key ceremony exactly once per cron period, across all instances and
 * across downtime.
 *
 * A tick reads the `rotation-schedule` stream, takes the latest cron occurrence that has begun
 * and is after both the last recorded period and the baseline (the active key's validFrom), and
 * records it with the revision it read as expected revision. Only the instance whose append
 * succeeds opens the ceremony; a loser re-reads (inside handleCommand), finds the period recorded
 * and does nothing more. After an outage spanning several periods exactly one is due: the latest.
 *
 * croner only computes occurrences (a paused job without a callback); the timer is our own, at
 * most an hour long and unref'ed, so a suspended machine or a jumped clock is noticed within an
 * hour, and it never keeps the process alive.
 *
 * Recovery: a failed `open` is retried by this instance's next tick (unless a later period
 * superseded it), and `start()` opens the last recorded period again (`open` is idempotent per
 * ids), which repairs a crash between the record and the open.
 */
import type { Cron } from 'croner';
import { parseRfc3339 } from '../../domain/instant.ts';
import {
  canonicalPeriod,
  formatPeriod,
  ROTATION_SCHEDULE_STREAM,
  rotationScheduleDecider,
  scheduledIdsFor,
  type RotationScheduleState,
  type ScheduledRotation,
} from '../../domain/rotation-schedule.ts';
import { ConcurrencyError, isLedgerError, LedgerError } from '../../errors.ts';
import type { ProjectionRuntime } from '../../projections/runtime.ts';
import type { EventStore } from '../../store/event-store.ts';
import { handleCommand } from '../common/command-handler.ts';
import { loadState } from '../common/load-state.ts';
import { compileRotationCron } from './rotation-cron.ts';
import type { Logger } from '../common/logger.ts';

/** Longest single setTimeout: the schedule re-checks the clock at least this often. */
export const MAX_TIMER_MS = 60 * 60 * 1000;

export interface DueRotation {
  readonly period: string;
  readonly rotationId: string;
  readonly ceremonyId: string;
}

export interface RotationSchedulerDeps {
  readonly store: EventStore;
  readonly runtime?: ProjectionRuntime;
  /** A cron pattern, evaluated in UTC (5 fields, or 6/7 with seconds/years; croner syntax). */
  readonly cron: string;
  readonly now: () => Date;
  readonly logger: Logger;
  /** The instant periods must be after to be due (e.g. the active key's validFrom); undefined: none. */
  readonly baseline: () => Promise<string | undefined>;
  /** Opens the rotate-key ceremony for a period; must be idempotent per ids. */
  readonly open: (due: DueRotation) => Promise<void>;
}

export type TickResult =
  /** No period is due. */
  | { readonly outcome: 'not-due' }
  /** This instance recorded the period and opened its ceremony. */
  | { readonly outcome: 'recorded'; readonly due: DueRotation }
  /** Another instance recorded the period (or a later one) first; it opens the ceremony. */
  | { readonly outcome: 'recorded-elsewhere'; readonly due: DueRotation }
  /** Nothing new was due; this instance's earlier failed open of the last period succeeded now. */
  | { readonly outcome: 'reopened'; readonly due: DueRotation };

function instantOf(value: string | undefined, what: string): number {
  if (value === undefined) return -Infinity;
  const ms = parseRfc3339(value);
  if (ms === undefined) throw new LedgerError('invalid_request', `${what} must be an RFC 3339 instant, got ${JSON.stringify(value)}`, { reason: 'invalid_time' });
  return ms;
}

/**
 * The period due at `now`: the latest occurrence p of `cron` with p ≤ now and
 * p > max(lastRecorded, baseline), as `YYYY-MM-DDTHH:MM:SSZ`; undefined when there is none.
 * However many occurrences were missed, at most one — the latest — is due. Pure.
 */
export function dueRotationPeriod(cron: Cron, now: Date, lastRecorded: string | undefined, baseline: string | undefined): string | undefined {
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new LedgerError('invalid_request', 'now must be a valid date', { reason: 'invalid_time' });
  const floor = Math.max(instantOf(lastRecorded, 'last recorded period'), instantOf(baseline, 'baseline'));
  // previousRuns excludes a run at exactly the reference but includes one earlier in the same
  // second, so 1 ms past now yields the latest occurrence at or before now.
  const [latest] = cron.previousRuns(1, new Date(nowMs + 1));
  if (latest === undefined) return undefined;
  const p = latest.getTime();
  if (p > nowMs || p <= floor) return undefined;
  return formatPeriod(p);
}

export const dueRotationFor = (period: string): DueRotation => {
  const canonical = canonicalPeriod(period);
  return { period: canonical, ...scheduledIdsFor(canonical) };
};

const lastOf = (state: RotationScheduleState): ScheduledRotation | undefined => state.last ?? undefined;
const errorFields = (err: unknown) => ({ code: isLedgerError(err) ? err.code : 'internal', message: (err as Error)?.message ?? String(err) });

export class RotationScheduler {
  readonly #deps: RotationSchedulerDeps;
  readonly #cron: Cron;
  /** A period this instance recorded whose open failed; retried by the next tick. */
  #pendingOpen: DueRotation | undefined;
  /** Ticks run one at a time (the timer and explicit calls). */
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopped = false;
  #starting: Promise<void> | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: RotationSchedulerDeps) {
    this.#deps = deps;
    this.#cron = compileRotationCron(deps.cron, deps.now());
  }

  /** The first cron occurrence strictly after `after`, or undefined when the pattern has no more. */
  nextRun(after: Date): Date | undefined {
    return this.#cron.nextRun(after) ?? undefined;
  }

  /** See dueRotationPeriod. Pure. */
  duePeriod(now: Date, lastRecorded: string | undefined, baseline: string | undefined): string | undefined {
    return dueRotationPeriod(this.#cron, now, lastRecorded, baseline);
  }

  /** Records the due period, if any, and opens its ceremony when this instance recorded it. */
  tick(): Promise<TickResult> {
    const run = this.#queue.then(() => this.#tick());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #readState(): Promise<RotationScheduleState> {
    return loadState(this.#deps.store, ROTATION_SCHEDULE_STREAM, rotationScheduleDecider);
  }

  async #open(due: DueRotation): Promise<void> {
    this.#pendingOpen = due;
    await this.#deps.open(due);
    if (this.#pendingOpen === due) this.#pendingOpen = undefined;
    this.#deps.logger.info({ ...due }, 'opened the scheduled rotate-key ceremony');
  }

  async #tick(): Promise<TickResult> {
    const now = this.#deps.now();
    const state = await this.#readState();
    const last = lastOf(state);
    const baseline = await this.#deps.baseline();
    const period = this.duePeriod(now, last?.period, baseline);
    if (period === undefined) {
      const pending = this.#pendingOpen;
      if (pending === undefined) return { outcome: 'not-due' };
      if (last === undefined || last.period !== pending.period) {
        this.#pendingOpen = undefined; // superseded by a later period
        return { outcome: 'not-due' };
      }
      await this.#open(pending);
      return { outcome: 'reopened', due: pending };
    }
    const due = dueRotationFor(period);
    let recorded: boolean;
    try {
      const result = await handleCommand(
        { store: this.#deps.store, ...(this.#deps.runtime ? { runtime: this.#deps.runtime } : {}) },
        ROTATION_SCHEDULE_STREAM,
        rotationScheduleDecider,
        { type: 'RecordScheduledRotation', ...due, time: now.toISOString() },
        { metadata: { time: now.toISOString(), actor: 'rotation-scheduler', correlationId: due.rotationId }, waitForProjections: this.#deps.runtime !== undefined },
      );
      // Empty: the re-read after a conflict showed this period (or a later one) recorded.
      recorded = result.events.length > 0;
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      recorded = false; // lost every retry: other instances are recording
    }
    if (!recorded) {
      this.#pendingOpen = undefined; // any older pending period is superseded
      this.#deps.logger.debug({ ...due }, 'scheduled rotation recorded by another instance');
      return { outcome: 'recorded-elsewhere', due };
    }
    this.#deps.logger.info({ ...due }, 'recorded the scheduled rotation period');
    await this.#open(due);
    return { outcome: 'recorded', due };
  }

  /**
   * Catch-up then schedule: ticks at once (a period missed while down is due now), opens the last
   * recorded period again when nothing new was due (repairs a crash between record and open),
   * then arms the timer. Errors are logged, never thrown; the timer retries within the hour.
   */
  start(): Promise<void> {
    if (this.#started) return this.#starting ?? Promise.resolve();
    this.#started = true;
    this.#starting = (async () => {
      try {
        const result = await this.tick();
        if (result.outcome === 'not-due') await this.#queued(() => this.#repair());
      } catch (err) {
        this.#deps.logger.error(errorFields(err), 'rotation schedule catch-up failed; retrying at the next timer');
      }
      this.#arm();
    })();
    return this.#starting;
  }

  #queued<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #repair(): Promise<void> {
    const last = lastOf(await this.#readState());
    if (last === undefined) return;
    await this.#open({ period: last.period, rotationId: last.rotationId, ceremonyId: last.ceremonyId });
  }

  #arm(): void {
    if (this.#stopped) return;
    const now = this.#deps.now();
    const next = this.nextRun(now);
    const delay = next === undefined ? MAX_TIMER_MS : Math.min(Math.max(next.getTime() - now.getTime(), 0), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = (async () => {
        try {
          await this.tick();
        } catch (err) {
          this.#deps.logger.error(errorFields(err), 'scheduled rotation tick failed; retrying at the next timer');
        }
        this.#running = undefined;
        this.#arm();
      })();
    }, delay);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a tick in progress. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#starting?.catch(() => undefined);
    await this.#running;
    await this.#queue;
  }
}
