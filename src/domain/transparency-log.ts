/**
 * The transparency log's own aggregate (stream `log`): the dedicated log key (created once,
 * never a signing key) and the signed checkpoints, each an event. Checkpoint sizes only grow,
 * and a size is never given two different roots.
 */
import { LedgerError } from '../errors.ts';
import { dataOf, type Decider, type DomainEvent } from './decider.ts';

export const LOG_STREAM = 'log';

export type LogKeyCreated = DomainEvent<
  'LogKeyCreated',
  { keyId: string; publicKey: string; backend: 'file' | 'pkcs11'; ref: string; origin: string; noteKeyId: string; createdAt: string }
>;
export type CheckpointPublished = DomainEvent<'CheckpointPublished', { origin: string; size: number; rootHash: string; note: string; publishedAt: string }>;
export type LogEvent = LogKeyCreated | CheckpointPublished;

export interface LogState {
  readonly key: LogKeyCreated['data'] | null;
  readonly size: number;
  readonly rootHash: string | null;
}

export type CreateLogKey = { readonly type: 'CreateLogKey' } & LogKeyCreated['data'];
export type PublishCheckpoint = { readonly type: 'PublishCheckpoint'; readonly origin: string; readonly size: number; readonly rootHash: string; readonly note: string; readonly time: string };
export type LogCommand = CreateLogKey | PublishCheckpoint;

function evolve(state: LogState, event: LogEvent): LogState {
  switch (event.type) {
    case 'LogKeyCreated':
      return { ...state, key: event.data };
    case 'CheckpointPublished':
      return { ...state, size: event.data.size, rootHash: event.data.rootHash };
  }
}

function decide(command: LogCommand, state: LogState): LogEvent[] {
  switch (command.type) {
    case 'CreateLogKey': {
      if (state.key) {
        if (state.key.keyId === command.keyId) return [];
        throw new LedgerError('key_state_conflict', 'the log already has its key; a log key is never replaced');
      }
      return [{ type: 'LogKeyCreated', data: dataOf(command) }];
    }
    case 'PublishCheckpoint': {
      if (!state.key) throw new LedgerError('no_active_key', 'the log has no key yet');
      if (command.origin !== state.key.origin) throw new LedgerError('key_state_conflict', `checkpoint origin ${command.origin} is not the log's origin`);
      if (command.size === state.size) {
        if (command.rootHash !== state.rootHash) throw new LedgerError('integrity_violation', `a checkpoint for size ${command.size} with another root was already published`);
        return [];
      }
      // A smaller size was overtaken by a checkpoint another instance published: nothing to do.
      if (command.size < state.size) return [];
      return [{ type: 'CheckpointPublished', data: { origin: command.origin, size: command.size, rootHash: command.rootHash, note: command.note, publishedAt: command.time } }];
    }
  }
}

export const logDecider: Decider<LogState, LogCommand, LogEvent> = {
  initialState: () => ({ key: null, size: 0, rootHash: null }),
  evolve,
  decide,
};
