/**
 * The one error class of the OCI distribution client. Codes are stable string literals; messages
 * name the registry, repository and operation but never credentials, tokens or response bodies
 * beyond the registry's own error codes.
 */
export type OciErrorCode =
  /** connection refused / DNS failure / reset before an answer */
  | 'oci_unreachable'
  /** the call did not complete within its time bound */
  | 'oci_timeout'
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
  /** the caller's AbortSignal fired */
  | 'oci_aborted';

export class OciError extends Error {
  readonly code: OciErrorCode;
  /** HTTP status of the answer that caused the error, when there was one. */
  readonly status: number | undefined;

  constructor(code: OciErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'OciError';
    this.code = code;
    this.status = options?.status;
  }
}

export const isOciError = (e: unknown, code?: OciErrorCode): e is OciError =>
  e instanceof OciError && (code === undefined || e.code === code);
