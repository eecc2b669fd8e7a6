/** Helpers for decider unit tests: run commands in order, and read a refusal's code and reason. */
import type { Decider, DomainEvent } from '../../src/domain/decider.ts';
import { isLedgerError } from '../../src/errors.ts';

/** Decides each command against the evolving state; returns the final state and every event. */
export function runCommands<S, C, E extends DomainEvent>(decider: Decider<S, C, E>, commands: readonly C[], state: S = decider.initialState()): { state: S; events: E[] } {
  const events: E[] = [];
  for (const c of commands) {
    const out = decider.decide(c, state);
    events.push(...out);
    state = out.reduce(decider.evolve, state);
  }
  return { state, events };
}

/** The LedgerError code and `details.reason` that `fn` throws, or undefined when it does not throw. */
export function refusalOf(fn: () => unknown): { code: string; reason: unknown } | undefined {
  try {
    fn();
  } catch (err) {
    return isLedgerError(err) ? { code: err.code, reason: err.details?.['reason'] } : { code: 'not-a-ledger-error', reason: String(err) };
  }
  return undefined;
}
