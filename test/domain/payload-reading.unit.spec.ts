import { describe, expect, it } from 'vitest';
import { isJsonPayloadType, isReservedPayloadType, mediaTypeEssence, namesLedgerNamespace, readPayload } from '../../src/domain/payload-reading.ts';
import { isReleaseAttestation, RELEASE_PREDICATE_TYPE, statementOf } from '../../src/domain/release.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/domain/sign-request.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('payload reading (unit)', () => {
  describe('when classifying payload types', () => {
    it('normalises case, parameters and whitespace', () => {
      expect(mediaTypeEssence(' Application/Vnd.In-Toto+JSON ; charset=utf-8')).toBe(IN_TOTO_PAYLOAD_TYPE);
      for (const t of ['application/json', 'APPLICATION/JSON;x=1', 'text/json', 'application/vnd.in-toto+json', 'application/vnd.x+json ; v=2']) expect(isJsonPayloadType(t), t).toBe(true);
      for (const t of ['text/plain', 'application/octet-stream', 'application/x-ndjson', 'application/jsonl', 'json-ish/x']) expect(isJsonPayloadType(t), t).toBe(false);
    });

    it('reserves every media type naming sigledger, the ceremony payload type first', () => {
      for (const t of ['application/vnd.sigledger.ceremony+json', 'APPLICATION/VND.SIGLEDGER.CEREMONY+JSON;v=1', 'application/vnd.sigledger.anchors+json', 'application/x-sigledger']) expect(isReservedPayloadType(t), t).toBe(true);
      expect(isReservedPayloadType(IN_TOTO_PAYLOAD_TYPE)).toBe(false);
    });

    it('says which predicate types are in the ledger namespace, in any spelling', () => {
      for (const t of ['https://sigledger.dev/attestations/resign/v1', 'HTTPS://SigLedger.Dev/attestations/x', 'https://sigledger%2edev/x', 'https://sigledger.dev\n/x', 'http://sigledger.dev/other']) expect(namesLedgerNamespace(t), t).toBe(true);
      for (const t of ['https://slsa.dev/provenance/v1', 'https://in-toto.io/attestation/vulns', '%E0%A4%A']) expect(namesLedgerNamespace(t), t).toBe(false);
    });
  });

  describe('when collecting the predicate types a verifier could see', () => {
    it('takes every top-level member that folds to predicateType, and nothing nested', () => {
      const r = readPayload(IN_TOTO_PAYLOAD_TYPE, bytes('{"predicateType":"a","PredicateType":"b","predicate":{"predicateType":"c"}}'));
      expect(r.predicateTypes).toEqual(['a', 'b']);
      expect(r.problem).toEqual({ kind: 'ambiguous_field', field: 'predicateType/PredicateType' });
    });

    it('reads leniently for payload types that are not JSON: duplicates, trailing text, BOMs, UTF-16 and UTF-32', () => {
      const t = '{"predicateType":"a","predicateType":"b"}';
      expect(readPayload('text/plain', bytes(`${t} trailing`)).predicateTypes).toEqual(['a', 'b']);
      expect(readPayload('text/plain', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(t, 'utf16le').swap16()])).predicateTypes).toEqual(['a', 'b']);
      const utf32 = Buffer.alloc(t.length * 4);
      for (let i = 0; i < t.length; i++) utf32.writeUInt32LE(t.charCodeAt(i), i * 4);
      expect(readPayload('application/octet-stream', utf32).predicateTypes).toEqual(['a', 'b']);
      expect(readPayload('application/octet-stream', new Uint8Array([0xff, 0x00, 0x7b])).predicateTypes).toEqual([]);
    });
  });

  describe('when the release gate reads a statement (the same strict reader)', () => {
    const release = JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [], predicateType: RELEASE_PREDICATE_TYPE, predicate: {} });
    it('reads nothing the signer would have refused as not strict', () => {
      for (const payload of [`${release}{}`, `{"predicateType":"${RELEASE_PREDICATE_TYPE}","predicateType":"x"}`, `\ufeff${release}`, `{"predicateType":"${RELEASE_PREDICATE_TYPE}","s":"\\ud800"}`]) {
        expect(statementOf(IN_TOTO_PAYLOAD_TYPE, bytes(payload)), payload).toBeUndefined();
      }
      expect(statementOf(IN_TOTO_PAYLOAD_TYPE, bytes(release))).toMatchObject({ predicateType: RELEASE_PREDICATE_TYPE });
    });

    it('asks for the release scope whatever member name carries the release predicate type', () => {
      expect(isReleaseAttestation(IN_TOTO_PAYLOAD_TYPE, bytes(`{"PredicateType":"${RELEASE_PREDICATE_TYPE}"}`))).toBe(true);
      expect(isReleaseAttestation(IN_TOTO_PAYLOAD_TYPE, bytes(`{"predicate_type":"${RELEASE_PREDICATE_TYPE}"}`))).toBe(true);
    });
  });
});
