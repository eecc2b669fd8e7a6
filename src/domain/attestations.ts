/**
 * The attestations a rotation issues (SPEC §3), as in-toto Statement v1 documents signed as DSSE
 * envelopes with payloadType `application/vnd.in-toto+json`:
 *
 * - Re-signing attestation (`https://sigledger.dev/attestations/resign/v1`), one per re-signed
 *   bundle version, signed by the incoming key. Its subject is the signed payload (its SHA-256),
 *   so the attestation and both versions name the same artifact.
 * - Key transition attestation (`https://sigledger.dev/attestations/key-transition/v1`), one per
 *   rotation, signed by the outgoing and the incoming key, carrying the ceremony proposal and the
 *   approvals that authorised it. Its subjects are the two keys (digest = key id = SHA-256 of the
 *   DER SPKI).
 *
 * Pure: the same inputs give the same bytes (JCS).
 */
import { sha256Hex } from '../crypto/hash.ts';
import { jcsBytes } from '../crypto/jcs.ts';
import type { CeremonyProposal } from './ceremony.ts';
import type { EnvelopeJson } from '../crypto/dsse.ts';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1 } from './sign-request.ts';

export const RESIGN_PREDICATE_TYPE = 'https://sigledger.dev/attestations/resign/v1';
export const KEY_TRANSITION_PREDICATE_TYPE = 'https://sigledger.dev/attestations/key-transition/v1';
export const ATTESTATION_PAYLOAD_TYPE = IN_TOTO_PAYLOAD_TYPE;

export interface ResignPredicate {
  readonly bundleId: string;
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly oldKeyId: string;
  readonly newKeyId: string;
  readonly reason: string;
  readonly rotationId: string;
  readonly ceremonyId: string;
  /** Lowercase hex SHA-256 of the JCS bytes of the superseded version's DSSE envelope. */
  readonly oldEnvelopeSha256: string;
}

export interface KeyTransitionPredicate {
  readonly oldKeyId: string;
  readonly newKeyId: string;
  /** base64 DER SPKI of each key. */
  readonly oldPublicKey: string;
  readonly newPublicKey: string;
  /** When the outgoing key's validity ends and the incoming key's begins. */
  readonly transitionAt: string;
  readonly reason: string;
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly proposal: CeremonyProposal;
  readonly proposalDigest: string;
  readonly threshold: number;
  /** Each approval: the approver's key (base64 DER SPKI) and its Ed25519 signature over the proposal's DSSE PAE. */
  readonly approvals: readonly { readonly approverId: string; readonly publicKey: string; readonly signature: string }[];
}

/** SHA-256 (hex) of an envelope's JCS bytes: how a re-signing attestation names the superseded version. */
export const envelopeDigest = (envelope: EnvelopeJson): string => sha256Hex(jcsBytes({ payloadType: envelope.payloadType, payload: envelope.payload, signatures: envelope.signatures }));

export function resignStatement(payloadSha256: string, predicate: ResignPredicate) {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: `bundle:${predicate.bundleId}`, digest: { sha256: payloadSha256 } }],
    predicateType: RESIGN_PREDICATE_TYPE,
    predicate: { ...predicate },
  };
}

export function keyTransitionStatement(predicate: KeyTransitionPredicate) {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [
      { name: `key:${predicate.oldKeyId}`, digest: { sha256: predicate.oldKeyId } },
      { name: `key:${predicate.newKeyId}`, digest: { sha256: predicate.newKeyId } },
    ],
    predicateType: KEY_TRANSITION_PREDICATE_TYPE,
    predicate: { ...predicate, approvals: predicate.approvals.map((a) => ({ ...a })) },
  };
}

/** The JCS bytes to sign for a statement. */
export const statementBytes = (statement: object): Buffer => jcsBytes(statement);
