/**
 * The one place a stream's recorded events become a decider's state. Recorded events carry
 * `JsonValue` data; the decider's event union is the schema the ledger itself wrote under, so the
 * conversion is a single, named step instead of a cast at every call site.
 */
import { fold, type Decider, type DomainEvent } from '../../domain/decider.ts';
import type { EventStore, RecordedEvent } from '../../store/event-store.ts';

type Evolving<State, Event extends DomainEvent> = Pick<Decider<State, never, Event>, 'initialState' | 'evolve'>;

/** Folds already-read events of one stream with `decider`. */
export function foldRecorded<State, Event extends DomainEvent>(decider: Evolving<State, Event>, history: readonly RecordedEvent[]): State {
  return fold(decider, history as readonly DomainEvent[] as readonly Event[]);
}

/** Reads `stream` and folds it with `decider`. */
export async function loadState<State, Event extends DomainEvent>(store: Pick<EventStore, 'readStream'>, stream: string, decider: Evolving<State, Event>): Promise<State> {
  return foldRecorded(decider, await store.readStream(stream));
}
