/**
 * The part of `@eventstore/db-client` the adapter uses, as an interface (the real client
 * satisfies it; unit tests pass an in-memory model), and the one place a real client is built.
 */
import { EventStoreDBClient, type AppendResult, type AppendToStreamOptions, type EventData, type Position, type ReadAllOptions, type ReadStreamOptions, type SubscribeToAllOptions } from '@eventstore/db-client';
import type { Readable } from 'node:stream';
import { ConfigError } from '../../errors.ts';
import { redact } from './redact.ts';

/** A finite gRPC read (readStream / readAll): an object-mode Readable that can be cancelled. */
export type EsdbStreamingRead = Readable & { cancel(): Promise<void> };
/** A catch-up subscription: an object-mode Readable that can be unsubscribed. */
export type EsdbSubscription = Readable & { unsubscribe(): Promise<void> };

export interface EsdbClient {
  appendToStream(stream: string, events: EventData[], options: AppendToStreamOptions): Promise<AppendResult>;
  readStream(stream: string, options: ReadStreamOptions): EsdbStreamingRead;
  readAll(options: ReadAllOptions): EsdbStreamingRead;
  subscribeToAll(options: SubscribeToAllOptions): EsdbSubscription;
  dispose(): Promise<void>;
}

/** The vendor's recorded event, as far as the adapter reads it. */
export interface EsdbRecordedEventLike {
  readonly streamId: string;
  readonly id: string;
  readonly revision: bigint;
  readonly type: string;
  readonly isJson: boolean;
  readonly data: unknown;
  readonly metadata?: unknown;
  readonly position?: Position;
}

/**
 * `kurrentdb://`, `kdb://` (and their `+discover` forms) speak the same gRPC protocol; the v6
 * client only parses `esdb://` / `esdb+discover://`, so the scheme is rewritten.
 */
export function normalizeConnectionString(connectionString: string): string {
  return connectionString.replace(/^(?:kurrentdb|kdb)(\+discover)?:\/\//i, (_m, discover: string | undefined) => `esdb${discover ?? ''}://`);
}

/**
 * Builds the vendor client without contacting the server (the client connects lazily). The
 * scheme is normalised (`kurrentdb://` → `esdb://`); a malformed string throws ConfigError whose
 * message repeats neither the string nor its credentials. The parse error is deliberately not
 * kept as `cause`: the vendor stores the whole connection string on it. The client's own parse
 * warnings (printed with console.warn) are redacted the same way.
 */
export function connect(connectionString: string, secrets: readonly string[]): EsdbClient {
  const normalized = normalizeConnectionString(connectionString);
  const hide = [...secrets, connectionString, normalized];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warn(...args.map((a) => (typeof a === 'string' ? redact(a, secrets, Number.POSITIVE_INFINITY) : a)));
  try {
    return EventStoreDBClient.connectionString(normalized) as unknown as EsdbClient;
  } catch (err) {
    const reason = redact(err instanceof Error ? err.message : 'unparseable', hide);
    throw new ConfigError(`SIGLEDGER_ESDB_URL is not a valid EventStoreDB connection string (${reason})`);
  } finally {
    console.warn = warn;
  }
}
