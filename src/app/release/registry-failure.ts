/**
 * The OCI boundary of the release service: an OCI client failure becomes the ledger error a
 * caller sees. A reference that does not parse is the caller's mistake (400 invalid_request); a
 * registry that cannot be reached in time is an outage (503 registry_unavailable, with a
 * Retry-After: release gating fails closed and the caller may try again); any other failure is
 * the registry answering wrongly (502 registry_error). The registry's error code travels as
 * `details.reason`; nothing else it said is echoed.
 *
 * How a connection failed is not told (issue 16, network boundaries): a refused connection, a
 * reset, a TLS or protocol failure, a name that does not resolve and a registry that never
 * answers are one and the same answer — `registry_unavailable` with `reason` `oci_unreachable`
 * and the same detail — so the route cannot be used to map ports or services. The causes stay
 * on the error (`cause`) for the server's own log; the CLI, on its user's own network, prints them.
 */
import { LedgerError } from '../../errors.ts';
import { OciError, type OciErrorCode } from '../../oci/errors.ts';

/** Retry-After of a registry outage. */
const RETRY_AFTER_S = 5;

const TRANSIENT: ReadonlySet<OciErrorCode> = new Set(['oci_unreachable', 'oci_timeout', 'oci_aborted']);

/** Not knowing (no answer in time): an outage, never a verdict. */
export const isTransient = (err: OciError): boolean => TRANSIENT.has(err.code);

/** What a caller is told about a registry that could not be reached, whatever the cause. */
export const UNREACHABLE_DETAIL = 'oci_unreachable: the registry could not be reached or did not answer in time';

/** An OCI client failure talking to `registry` as the ledger's error. */
export function registryFailure(err: OciError, registry: string): LedgerError {
  if (err.code === 'oci_invalid_reference') return invalidReference(err);
  if (isTransient(err)) {
    return new LedgerError('registry_unavailable', `registry ${registry} unavailable: ${UNREACHABLE_DETAIL}`, { reason: 'oci_unreachable', registry, retryAfterSeconds: RETRY_AFTER_S }, { cause: err });
  }
  return new LedgerError('registry_error', `registry ${registry} answered wrongly: ${err.message}`, { reason: err.code, registry }, { cause: err });
}

/** A repository or digest the caller gave that does not follow the OCI grammar. */
export const invalidReference = (err: OciError): LedgerError => new LedgerError('invalid_request', err.message, { reason: 'invalid_reference' });
