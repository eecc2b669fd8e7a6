/**
 * Runs a command against one stream: read the stream, fold it with the decider, decide, and
 * append with the revision that was read as the expected revision. A concurrent writer makes
 * the append fail with a concurrency error; the handler then re-reads and decides again, a
 * bounded number of times. Optionally waits until the projections have folded the new events
 * (read-your-writes), so the caller can answer from the read models.
 */
import type { Decider, DomainEvent } from '../../domain/decider.ts';
import { ConcurrencyError } from '../../errors.ts';
import type { ProjectionRuntime } from '../../projections/runtime.ts';
import type { EventMetadata, EventStore, RecordedEvent } from '../../store/event-store.ts';
import { foldRecorded } from './load-state.ts';

export interface CommandContext {
  readonly store: EventStore;
  readonly runtime?: ProjectionRuntime;
}

export interface HandleOptions {
  /** Metadata stamped on every event the command produces (time comes from the caller's clock). */
  readonly metadata: EventMetadata;
  /** Retries after a concurrency conflict (default 3). */
  readonly retries?: number;
  /** Wait until every projection folded the appended events. */
  readonly waitForProjections?: boolean;
}

export interface HandleResult<State> {
  readonly state: State;
  readonly events: readonly RecordedEvent[];
  /** Global position of the last appended event, or undefined when the command appended nothing. */
  readonly position: number | undefined;
}

export function handleCommand<State, Command, Event extends DomainEvent>(
  ctx: CommandContext,
  stream: string,
  decider: Decider<State, Command, Event>,
  command: Command,
  options: HandleOptions,
): Promise<HandleResult<State>> {
  return handleCommands(ctx, stream, decider, [command], options);
}

/**
 * Like `handleCommand` for several commands decided in order against the evolving state and
 * appended atomically: all of their events or none.
 */
export async function handleCommands<State, Command, Event extends DomainEvent>(
  ctx: CommandContext,
  stream: string,
  decider: Decider<State, Command, Event>,
  commands: readonly Command[],
  options: HandleOptions,
): Promise<HandleResult<State>> {
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    const history = await ctx.store.readStream(stream);
    const state = foldRecorded(decider, history);
    const decided: Event[] = [];
    let working = state;
    for (const command of commands) {
      const events = decider.decide(command, working);
      decided.push(...events);
      working = events.reduce(decider.evolve, working);
    }
    if (decided.length === 0) return { state, events: [], position: undefined };
    const expected = history.length === 0 ? 'no_stream' : history[history.length - 1]!.revision;
    try {
      const result = await ctx.store.appendToStream(
        stream,
        decided.map((e) => ({ type: e.type, data: e.data, metadata: options.metadata })),
        { expectedRevision: expected },
      );
      const next = working;
      if (options.waitForProjections && ctx.runtime) await ctx.runtime.waitFor(result.lastPosition);
      return { state: next, events: result.events, position: result.lastPosition };
    } catch (err) {
      if (err instanceof ConcurrencyError && attempt < retries) continue;
      throw err;
    }
  }
}
