/**
 * Helpers for decider unit tests.
 *
 * `DeciderSpecification` states a rule as given/when/then, in the shape of emmett's decider
 * specifications: the history is events (what the store would hold), so a spec cannot set up a
 * state the decider could never reach; `then…` runs decide once and checks one outcome:
 *
 *   const spec = DeciderSpecification.for(rotationDecider);
 *   spec.given([started]).when(attest).then([attested]);
 *   spec.given([started, attested]).when(attest).thenNothingHappened();
 *   spec.given([]).when(attest).thenThrows('key_state_conflict', 'not_started');
 *
 * `refusalOf` states a refusal of any function (a parser, a helper) the same way thenThrows does.
 */
import { expect } from 'vitest';
import type { Decider, DomainEvent } from '../../src/domain/decider.ts';
import { isLedgerError, type ErrorCode } from '../../src/errors.ts';

export interface DeciderThen<State, Event extends DomainEvent> {
  /** decide answers exactly these events (in order), and they evolve the state without throwing. */
  then(expected: readonly Event[]): void;
  /** decide answers events that `check` accepts (for data only the decider computes); returns them. */
  thenEvents(check: (events: readonly Event[]) => void): readonly Event[];
  /** The command is already satisfied: decide answers no events. */
  thenNothingHappened(): void;
  /** decide refuses with a LedgerError of this code and, when given, this `details.reason`. */
  thenThrows(code: ErrorCode, reason?: string): void;
  /** The state after the given history and the decided events (for rules about evolve). */
  thenState(check: (state: State) => void): void;
}

export interface DeciderGiven<State, Command, Event extends DomainEvent> {
  when(command: Command): DeciderThen<State, Event>;
}

export interface DeciderSpec<State, Command, Event extends DomainEvent> {
  given(history: readonly Event[]): DeciderGiven<State, Command, Event>;
}

function specFor<State, Command, Event extends DomainEvent>(decider: Decider<State, Command, Event>): DeciderSpec<State, Command, Event> {
  return {
    given(history) {
      return {
        when(command) {
          // Decided lazily, once per then…, so a refusal is caught by thenThrows and nowhere else.
          const before = (): State => history.reduce(decider.evolve, decider.initialState());
          // decide is pure: whatever it answers (or throws), the state it was given is unchanged.
          const decided = (): { state: State; events: readonly Event[] } => {
            const state = before();
            try {
              return { state, events: decider.decide(command, state) };
            } finally {
              expect(state, 'decide changed the state it was given').toEqual(before());
            }
          };
          const evolved = ({ state, events }: { state: State; events: readonly Event[] }): State => events.reduce(decider.evolve, state);
          return {
            then(expected) {
              const out = decided();
              expect(out.events).toEqual(expected);
              evolved(out);
            },
            thenEvents(check) {
              const out = decided();
              check(out.events);
              evolved(out);
              return out.events;
            },
            thenNothingHappened() {
              expect(decided().events).toEqual([]);
            },
            thenThrows(code, reason) {
              const refusal = refusalOf(() => decided());
              expect(refusal, `expected a refusal with code ${code}`).toBeDefined();
              expect(refusal!.code).toBe(code);
              if (reason !== undefined) expect(refusal!.reason).toBe(reason);
            },
            thenState(check) {
              check(evolved(decided()));
            },
          };
        },
      };
    },
  };
}

export const DeciderSpecification = { for: specFor } as const;

/** The LedgerError code and `details.reason` that `fn` throws, or undefined when it does not throw. */
export function refusalOf(fn: () => unknown): { code: string; reason: unknown } | undefined {
  try {
    fn();
  } catch (err) {
    return isLedgerError(err) ? { code: err.code, reason: err.details?.['reason'] } : { code: 'not-a-ledger-error', reason: String(err) };
  }
  return undefined;
}
