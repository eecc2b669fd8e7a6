/**
 * Release attestations: in-toto statements with predicateType RELEASE_PREDICATE_TYPE say "this
 * artifact is a release of ours". Release gating trusts a scanner image only on such a statement,
 * so the ledger signs one only for callers holding RELEASE_SCOPE — otherwise any tenant could
 * vouch for its own image. Both sides read the payload with `statementOf`, so the signer's
 * refusal and the verifier's acceptance can never disagree about what a payload says.
 */
import { isObject } from '../json.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './sign-request.ts';

export const RELEASE_PREDICATE_TYPE = 'https://sigledger.dev/attestations/release/v1';
/** The release pipeline's scope: signs release attestations; not itself gated on a release. */
export const RELEASE_SCOPE = 'signer.release';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON object an in-toto DSSE payload holds, or undefined (other type, not UTF-8 JSON, not an object). */
export function statementOf(payloadType: string, payload: Uint8Array): Record<string, unknown> | undefined {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  try {
    const value: unknown = JSON.parse(utf8.decode(payload));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Is this DSSE payload a release attestation (signable by RELEASE_SCOPE callers only)? */
export const isReleaseAttestation = (payloadType: string, payload: Uint8Array): boolean => statementOf(payloadType, payload)?.predicateType === RELEASE_PREDICATE_TYPE;
