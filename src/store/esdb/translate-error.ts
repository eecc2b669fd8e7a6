/**
 * Vendor errors → LedgerError codes. Anything `@eventstore/db-client` throws is translated here:
 * the vendor error stays reachable as `cause`, and messages are redacted of the connection
 * string's credentials and of any URL userinfo.
 */
import { ConcurrencyError, LedgerError } from '../../errors.ts';
import { isObject } from '../../json.ts';
import { redact } from './redact.ts';

/** A vendor revision (bigint, or 'no_stream' / 'stream-exists' …) as error messages show it. */
export const describeVendorRevision = (r: unknown): string =>
  typeof r === 'bigint' ? r.toString() : typeof r === 'string' ? r.replace(/-/g, '_') : typeof r === 'number' ? String(r) : 'unknown';

export const withCause = <E extends LedgerError>(error: E, cause: unknown): E => {
  if (cause !== undefined && cause !== error) error.cause = cause;
  return error;
};

const vendorType = (err: unknown): unknown => (isObject(err) ? err.type : undefined);
export const isStreamNotFound = (err: unknown): boolean => vendorType(err) === 'stream-not-found';
export const isWrongExpectedVersion = (err: unknown): boolean => vendorType(err) === 'wrong-expected-version';

/**
 * Translates anything the vendor client throws into a LedgerError (a LedgerError passes
 * unchanged). The vendor error is kept as `cause`; messages are redacted of `secrets` and URL
 * userinfo.
 */
export function translateEsdbError(err: unknown, context: { stream?: string; secrets?: readonly string[] } = {}): LedgerError {
  if (err instanceof LedgerError) return err;
  const e = (isObject(err) ? err : {}) as {
    type?: unknown;
    code?: unknown;
    message?: unknown;
    streamName?: unknown;
    expectedVersion?: unknown;
    actualVersion?: unknown;
    maxAppendSize?: unknown;
  };
  const type = typeof e.type === 'string' ? e.type : undefined;
  const grpcCode = typeof e.code === 'number' ? e.code : undefined;
  const stream = typeof e.streamName === 'string' && e.streamName.length > 0 ? e.streamName : (context.stream ?? '');
  const vendorMessage = redact(typeof e.message === 'string' ? e.message : String(err), context.secrets);
  const details = { vendor: type ?? 'error', ...(grpcCode !== undefined ? { grpcCode } : {}) };
  const error = (code: LedgerError['code'], message: string) => withCause(new LedgerError(code, message, details), err);
  switch (type) {
    case 'wrong-expected-version':
      return withCause(new ConcurrencyError(stream, describeVendorRevision(e.expectedVersion), describeVendorRevision(e.actualVersion)), err);
    case 'stream-deleted':
      return error('invalid_stream_name', `stream "${stream}" was deleted in EventStoreDB and cannot be used`);
    case 'maximum-append-size-exceeded':
      return error(
        'invalid_event',
        `the append exceeds EventStoreDB's maximum append size${typeof e.maxAppendSize === 'number' ? ` of ${e.maxAppendSize} bytes` : ''}`,
      );
    case 'stream-not-found':
      return error('not_found', `stream "${stream}" not found`);
    case 'access-denied':
      return error('store_unavailable', 'EventStoreDB denied access (check the credentials of the connection string)');
    case 'not-leader':
      return error('store_unavailable', 'EventStoreDB node is not the leader (use esdb+discover:// or point at the leader)');
    case 'timeout':
    case 'deadline-exceeded':
      return error('store_unavailable', 'EventStoreDB did not answer before the deadline');
    case 'invalid-argument':
      return error('internal', `EventStoreDB refused an argument: ${vendorMessage}`);
    default:
      // unavailable, cancelled, unknown, a gRPC status without a type, or anything else.
      return error('store_unavailable', `EventStoreDB unavailable (${type ?? (grpcCode !== undefined ? `grpc ${grpcCode}` : 'error')}): ${vendorMessage}`);
  }
}
