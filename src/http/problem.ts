/**
 * RFC 9457 problem details. The one table from error code to HTTP status lives here; nothing
 * else in the code base decides a status for an error.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isLedgerError, type ErrorCode } from '../errors.ts';

export const STATUS_BY_CODE: Readonly<Record<ErrorCode, ContentfulStatusCode>> = {
  concurrency_conflict: 409,
  invalid_stream_name: 400,
  invalid_event: 400,
  invalid_expected_revision: 400,
  invalid_position: 400,
  store_unavailable: 503,
  store_closed: 503,
  integrity_violation: 500,
  projection_failed: 503,
  projection_timeout: 503,
  config_invalid: 500,
  unauthenticated: 401,
  forbidden: 403,
  rate_limited: 429,
  concurrency_limited: 429,
  key_not_found: 404,
  key_store_unavailable: 503,
  no_active_key: 503,
  invalid_request: 400,
  invalid_statement: 400,
  key_state_conflict: 409,
  idempotency_key_reused: 422,
  approval_rejected: 422,
  release_untrusted: 403,
  registry_not_allowed: 403,
  registry_unavailable: 503,
  registry_error: 502,
  // Never answered as such (the release service translates them); should one slip through, a
  // registry that cannot be reached is an outage and one that answers wrongly a bad gateway.
  oci_unreachable: 503,
  oci_timeout: 503,
  oci_aborted: 503,
  oci_too_large: 502,
  oci_bad_response: 502,
  oci_unauthorized: 502,
  oci_not_found: 502,
  oci_redirect_refused: 502,
  oci_invalid_reference: 400,
  bad_request: 400,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  request_timeout: 408,
  unsupported_media_type: 415,
  not_ready: 503,
  internal: 500,
  // CLI codes never reach HTTP; listed because the table covers every code.
  cli_usage: 400,
  cli_input_invalid: 400,
  cli_fetch_failed: 502,
  cli_write_failed: 500,
};

const TITLE_BY_STATUS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly [extra: string]: unknown;
}

/** 5xx codes about an upstream (a registry) whose details (its error code) help the caller. */
const UPSTREAM_CODES: ReadonlySet<ErrorCode> = new Set(['registry_unavailable', 'registry_error']);

export function problemOf(err: unknown): Problem {
  if (isLedgerError(err)) {
    const status = STATUS_BY_CODE[err.code] ?? 500;
    // 5xx details are generic: internals (paths, vendor messages) stay in the server log.
    const detail = status >= 500 && err.code === 'internal' ? 'internal error' : err.message;
    // Client errors carry their (code-chosen, never secret) details, e.g. `reason`, `retryAfterSeconds`.
    const extra = (status < 500 || UPSTREAM_CODES.has(err.code)) && err.details ? safeDetails(err.details) : {};
    return { ...extra, type: `https://sigledger.dev/problems/${err.code}`, title: TITLE_BY_STATUS[status] ?? 'Error', status, code: err.code, detail };
  }
  return { type: 'https://sigledger.dev/problems/internal', title: TITLE_BY_STATUS[500]!, status: 500, code: 'internal', detail: 'internal error' };
}

const RESERVED = new Set(['type', 'title', 'status', 'code', 'detail', 'instance']);

function safeDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (RESERVED.has(k)) continue;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (Array.isArray(v) && v.length <= 20 && v.every((x) => typeof x === 'string')) out[k] = v;
  }
  return out;
}

export function problemResponse(c: Context, problem: Problem, headers?: Record<string, string>): Response {
  const retryAfter = problem.status === 429 || problem.status === 503 ? problem.retryAfterSeconds : undefined;
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
    ...(typeof retryAfter === 'number' && Number.isSafeInteger(retryAfter) ? { 'retry-after': String(retryAfter) } : {}),
    ...headers,
  });
}
