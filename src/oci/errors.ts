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

/**
 * A registry host (or a redirect or token realm on the way) that resolves to an address the
 * network policy refuses (src/oci/address-policy.ts: loopback, private, link-local, …) and is not
 * allow-listed. Not a registry failure but a refusal: `registry_not_allowed` (403) with
 * `details.reason` `address_not_allowed`, raised before any connection is made.
 */
export class AddressNotAllowedError extends LedgerError {
  constructor(host: string) {
    super(
      'registry_not_allowed',
      `registry host ${host.slice(0, 260)} resolves to an address this service does not contact (loopback, private, link-local or reserved); list it in SIGLEDGER_REGISTRIES to allow it`,
      { reason: 'address_not_allowed', registry: host.slice(0, 260) },
    );
    this.name = 'AddressNotAllowedError';
  }
}
