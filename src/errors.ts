/**
 * One error base class for the whole ledger. Every error that may reach a caller carries a
 * stable string-literal code; `src/http/problem.ts` holds the single table mapping codes to
 * HTTP statuses. Messages are for humans and never contain key material.
 */
export type ErrorCode =
  // store
  | 'concurrency_conflict'
  | 'invalid_stream_name'
  | 'invalid_event'
  | 'invalid_expected_revision'
  | 'invalid_position'
  | 'store_unavailable'
  | 'store_closed'
  | 'integrity_violation'
  // projections
  | 'projection_failed'
  | 'projection_timeout'
  // configuration
  | 'config_invalid'
  // callers (OpTok / PoE) and quotas
  | 'unauthenticated'
  | 'forbidden'
  | 'rate_limited'
  | 'concurrency_limited'
  // keys and signing
  | 'key_not_found'
  | 'key_store_unavailable'
  | 'no_active_key'
  | 'invalid_request'
  | 'invalid_statement'
  | 'key_state_conflict'
  | 'idempotency_key_reused'
  // ceremonies and rotations
  | 'approval_rejected'
  // release integrity (OCI referrers)
  /** the caller's scanner image has no trusted bundle (or names none): signing refused */
  | 'release_untrusted'
  /** the registry is not among SIGLEDGER_REGISTRIES */
  | 'registry_not_allowed'
  /** the registry did not answer in time or could not be reached: nothing decided, fail closed */
  | 'registry_unavailable'
  /** the registry answered, but wrongly (status, size, content type, redirect, auth) */
  | 'registry_error'
  // OCI distribution client (src/oci): the release service translates these to the registry_*
  // codes above; only the CLI (`attach`) shows them as they are
  /** connection refused / DNS failure / reset before an answer */
  | 'oci_unreachable'
  /** the call did not complete within its time bound */
  | 'oci_timeout'
  /** the caller's AbortSignal fired */
  | 'oci_aborted'
  /** the answer (declared or streamed) exceeds the size bound for this kind of object */
  | 'oci_too_large'
  /** unexpected status, content type, JSON shape, header or digest */
  | 'oci_bad_response'
  /** 401/403 after the auth flow (or the token endpoint refused) */
  | 'oci_unauthorized'
  /** 404 for the manifest / blob / repository asked for */
  | 'oci_not_found'
  /** a redirect to another origin, a loop, or more than the allowed number of redirects */
  | 'oci_redirect_refused'
  /** a repository, reference or digest that does not follow the grammar */
  | 'oci_invalid_reference'
  // http
  | 'bad_request'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  /** the request (its headers or its body) did not arrive completely within its deadline */
  | 'request_timeout'
  | 'unsupported_media_type'
  | 'not_ready'
  | 'internal'
  // command line (never reach HTTP: the CLI prints them on one line)
  /** a flag or argument is missing or wrong, or the output would overwrite without --force: exit 2 */
  | 'cli_usage'
  /** a file or an answer is malformed or hostile (a reason of an "invalid" verdict): exit 1 */
  | 'cli_input_invalid'
  /** the service could not be reached or answered an error status: exit 1 */
  | 'cli_fetch_failed'
  /** an output file could not be written: exit 1 */
  | 'cli_write_failed';

export class LedgerError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LedgerError';
    this.code = code;
    this.details = details;
  }
}

/** The expected revision of an append did not match the stream's actual revision. */
export class ConcurrencyError extends LedgerError {
  readonly stream: string;
  readonly expected: string;
  readonly actual: string;

  constructor(stream: string, expected: string, actual: string) {
    super('concurrency_conflict', `stream "${stream}" expected revision ${expected} but is at ${actual}`, {
      stream,
      expected,
      actual,
    });
    this.name = 'ConcurrencyError';
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Stored history does not match its hash chain (or another integrity check); names the position. */
export class IntegrityError extends LedgerError {
  readonly position: number;

  constructor(position: number, message: string, details?: Record<string, unknown>) {
    super('integrity_violation', `integrity violation at position ${position}: ${message}`, { position, ...details });
    this.name = 'IntegrityError';
    this.position = position;
  }
}

export class ConfigError extends LedgerError {
  constructor(message: string) {
    super('config_invalid', message);
    this.name = 'ConfigError';
  }
}

export const isLedgerError = (e: unknown): e is LedgerError => e instanceof LedgerError;
