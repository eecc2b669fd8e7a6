/** The rotation schedule's cron pattern, compiled once for UTC (used by config validation and the scheduler). */
import { Cron } from 'croner';
import { LedgerError } from '../../errors.ts';

/**
 * Compiles a cron pattern for UTC occurrences only: a paused croner job without a callback,
 * so croner never schedules or runs anything. Throws LedgerError `invalid_request`
 * (`reason: invalid_cron`) when croner refuses the pattern or it never fires after `from`.
 */
export function compileRotationCron(pattern: string, from: Date = new Date()): Cron {
  let cron: Cron;
  try {
    cron = new Cron(pattern, { timezone: 'UTC', paused: true });
  } catch (err) {
    const why = String((err as Error)?.message ?? err).replace(/\s+/g, ' ');
    throw new LedgerError('invalid_request', `rotation cron ${JSON.stringify(pattern)} is invalid: ${why}`, { reason: 'invalid_cron', why });
  }
  if (cron.nextRun(from) === null) {
    const why = `it never fires after ${from.toISOString()}`;
    throw new LedgerError('invalid_request', `rotation cron ${JSON.stringify(pattern)} is invalid: ${why}`, { reason: 'invalid_cron', why });
  }
  return cron;
}
