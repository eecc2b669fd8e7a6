/**
 * The error of the OCI distribution client, a LedgerError like every other. Codes are stable
 * string literals; messages name the registry, repository and operation but never credentials,
 * tokens or response bodies beyond the registry's own error codes. The release service turns them
 * into `registry_*` / `invalid_request` errors (src/app/release/registry-failure.ts) before they
 * can reach a caller; the CLI prints them.
 */
import { LedgerError, type ErrorCode } from '../errors.ts';

/** The client's codes (listed, with what each means, in the ErrorCode union of src/errors.ts). */
export type OciErrorCode = Extract<ErrorCode, `oci_${string}`>;

export class OciError extends LedgerError {
  declare readonly code: OciErrorCode;
  /** HTTP status of the answer that caused the error, when there was one. */
  readonly status: number | undefined;

  constructor(code: OciErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(code, message, undefined, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'OciError';
    this.status = options?.status;
  }
}

export const isOciError = (e: unknown, code?: OciErrorCode): e is OciError =>
  e instanceof OciError && (code === undefined || e.code === code);
