/**
 * The ledger's own RFC 3161 Time-Stamp Authority (stream `tsa`): its creation (certificate chain
 * and a reference to its sealed key) and every timestamp it grants, each an event. A granted
 * timestamp's serial number is the revision of its event in the stream, so the store's
 * optimistic concurrency makes serials unique, and they never repeat across restarts.
 */
import { LedgerError } from '../errors.ts';
import { dataOf, type Decider, type DomainEvent } from './decider.ts';

export const TSA_STREAM = 'tsa';

export type TsaCreated = DomainEvent<
  'TsaCreated',
  { certChain: string[]; policyOid: string; validFrom: string; validUntil: string; keyRef: string; createdAt: string }
>;
export type TimestampIssued = DomainEvent<
  'TimestampIssued',
  { serial: string; hashAlgorithm: string; messageImprint: string; nonce: string | null; genTime: string; purpose: 'api' | 'bundle' }
>;
export type TsaEvent = TsaCreated | TimestampIssued;

export interface TsaState {
  readonly tsa: TsaCreated['data'] | null;
  /** Events in the stream: the next granted timestamp's serial. */
  readonly next: number;
}

export type CreateTsa = { readonly type: 'CreateTsa' } & TsaCreated['data'];
export type RecordTimestamps = { readonly type: 'RecordTimestamps'; readonly timestamps: readonly TimestampIssued['data'][] };
export type TsaCommand = CreateTsa | RecordTimestamps;

export const tsaDecider: Decider<TsaState, TsaCommand, TsaEvent> = {
  initialState: () => ({ tsa: null, next: 0 }),
  evolve: (state, event) => (event.type === 'TsaCreated' ? { tsa: event.data, next: state.next + 1 } : { ...state, next: state.next + 1 }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateTsa': {
        if (state.tsa) return [];
        return [{ type: 'TsaCreated', data: dataOf(command) }];
      }
      case 'RecordTimestamps': {
        if (!state.tsa) throw new LedgerError('not_ready', 'the timestamp authority does not exist yet');
        return command.timestamps.map((t, i) => {
          if (t.serial !== String(state.next + i)) throw new LedgerError('concurrency_conflict', `timestamp serial ${t.serial} is not the next serial ${state.next + i}`);
          return { type: 'TimestampIssued' as const, data: t };
        });
      }
    }
  },
};
