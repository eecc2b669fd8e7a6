/**
 * The shape of every aggregate in the domain (after emmett's deciders): commands are imperative,
 * events past tense, and both functions are pure — time, ids and anything random arrive inside
 * the command. `decide` throws a LedgerError when a rule forbids the command; it returns no
 * events when the command is already satisfied (idempotent).
 */
import type { JsonValue } from '../json.ts';

export interface DomainEvent<Type extends string = string, Data extends JsonValue = JsonValue> {
  readonly type: Type;
  readonly data: Data;
}

export interface Decider<State, Command, Event extends DomainEvent> {
  initialState(): State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): readonly Event[];
}

/** Folds events into state with a decider's evolve. */
export function fold<State, Event extends DomainEvent>(decider: Pick<Decider<State, never, Event>, 'initialState' | 'evolve'>, events: Iterable<Event>): State {
  let state = decider.initialState();
  for (const e of events) state = decider.evolve(state, e);
  return state;
}

/**
 * A command's fields without its `type`: the data of the one event a command records as it is
 * (StartRotation → RotationStarted, CreateTsa → TsaCreated, CreateLogKey → LogKeyCreated).
 */
export function dataOf<Command extends { readonly type: string }>(command: Command): Omit<Command, 'type'> {
  const { type: _type, ...data } = command;
  return data;
}
