import { describe, expect, it } from 'vitest';
import { isReleaseAttestation, RELEASE_PREDICATE_TYPE, statementOf } from '../../src/domain/release.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/domain/sign-request.ts';

// release.ts has no decider: statementOf is the one reading of a payload that both the signer's
// refusal and the verifier's acceptance use, so these rules hold for both sides.

const bytes = (s: string) => new TextEncoder().encode(s);
const release = JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [], predicateType: RELEASE_PREDICATE_TYPE, predicate: {} });

describe('release attestations (unit)', () => {
  describe('when the payload is an in-toto statement', () => {
    it('reads the JSON object', () => {
      expect(statementOf(IN_TOTO_PAYLOAD_TYPE, bytes(release))).toMatchObject({ predicateType: RELEASE_PREDICATE_TYPE });
    });

    it('is a release attestation exactly when its predicateType is the release one', () => {
      expect(isReleaseAttestation(IN_TOTO_PAYLOAD_TYPE, bytes(release))).toBe(true);
      expect(isReleaseAttestation(IN_TOTO_PAYLOAD_TYPE, bytes(JSON.stringify({ predicateType: 'https://slsa.dev/provenance/v1' })))).toBe(false);
      expect(isReleaseAttestation(IN_TOTO_PAYLOAD_TYPE, bytes(JSON.stringify({ predicate: { predicateType: RELEASE_PREDICATE_TYPE } })))).toBe(false);
    });
  });

  describe('when the payload is anything else', () => {
    it('reads nothing for another payload type, even with a release statement inside', () => {
      expect(statementOf('application/json', bytes(release))).toBeUndefined();
      expect(isReleaseAttestation('application/json', bytes(release))).toBe(false);
    });

    it('reads nothing for bytes that are not UTF-8 JSON of an object', () => {
      for (const payload of [new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), bytes('not json'), bytes('[1,2]'), bytes('null'), bytes('42'), bytes('"s"'), bytes('')]) {
        expect(statementOf(IN_TOTO_PAYLOAD_TYPE, payload)).toBeUndefined();
        expect(isReleaseAttestation(IN_TOTO_PAYLOAD_TYPE, payload)).toBe(false);
      }
    });
  });
});
