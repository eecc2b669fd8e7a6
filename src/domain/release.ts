/**
 * Release attestations: in-toto statements with predicateType RELEASE_PREDICATE_TYPE say "this
 * artifact is a release of ours". Release gating trusts a scanner image only on such a statement,
 * so the ledger signs one only for callers holding RELEASE_SCOPE — otherwise any tenant could
 * vouch for its own image. The gate reads a payload with `statementOf` (the one strict reader);
 * the signer's `isReleaseAttestation` looks at that reading and at every looser one a verifier
 * could make, so nothing the gate accepts as a release can be signed without the scope.
 */
import { IN_TOTO_PAYLOAD_TYPE, readPayload, strictStatementOf } from './payload-reading.ts';

export const RELEASE_PREDICATE_TYPE = 'https://sigledger.dev/attestations/release/v1';
/** The release pipeline's scope: signs release attestations; not itself gated on a release. */
export const RELEASE_SCOPE = 'signer.release';

/**
 * The JSON object an in-toto DSSE payload holds, or undefined (other type, not one strict UTF-8
 * JSON text, not an object). Read with the ledger's one strict reader (`crypto/strict-json.ts`).
 */
export function statementOf(payloadType: string, payload: Uint8Array): Record<string, unknown> | undefined {
  return strictStatementOf(payloadType, payload);
}

/**
 * Is this DSSE payload a release attestation (signable by RELEASE_SCOPE callers only)? Asked by
 * the signer, so it looks at every member a verifier could take for `predicateType`
 * (`PredicateType`, `predicate_type`), not only the gate's exact one. Under any other payload
 * type the release predicate type is reserved outright (domain/sign-request.ts `assertSignable`).
 */
export const isReleaseAttestation = (payloadType: string, payload: Uint8Array): boolean =>
  payloadType === IN_TOTO_PAYLOAD_TYPE && readPayload(payloadType, payload).predicateTypes.some((t) => t === RELEASE_PREDICATE_TYPE);
