import { describe, expect, it } from 'vitest';
import { IN_TOTO_PAYLOAD_TYPE, parseSignRequest } from '../../src/domain/sign-request.ts';
import { CEREMONY_PAYLOAD_TYPE } from '../../src/domain/ceremony.ts';
import { RELEASE_PREDICATE_TYPE } from '../../src/domain/release.ts';
import { isLedgerError } from '../../src/errors.ts';

const MAX = 1024;
const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'app.tar.gz', digest: { sha256: 'ab'.repeat(32) } }],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: { b: 1, a: [2, 1] },
};

function refusal(body: unknown, max = MAX): { code: string; reason?: unknown } {
  try {
    parseSignRequest(body, max);
  } catch (err) {
    if (!isLedgerError(err)) throw err;
    return { code: err.code, reason: err.details?.reason };
  }
  throw new Error('accepted');
}

describe('parseSignRequest', () => {
  describe('when given payloadType and base64 payload', () => {
    it('returns the decoded bytes', () => {
      const r = parseSignRequest({ payloadType: 'text/plain', payload: Buffer.from('hello').toString('base64') }, MAX);
      expect(r.payloadType).toBe('text/plain');
      expect(r.payload.toString()).toBe('hello');
    });
  });

  describe('when given an in-toto statement', () => {
    it('canonicalises it with JCS, so key order does not change the bytes', () => {
      const a = parseSignRequest({ statement }, MAX);
      const reordered = { predicate: { a: [2, 1], b: 1 }, predicateType: statement.predicateType, subject: statement.subject, _type: statement._type };
      const b = parseSignRequest({ statement: reordered }, MAX);
      expect(a.payloadType).toBe(IN_TOTO_PAYLOAD_TYPE);
      expect(a.payload.equals(b.payload)).toBe(true);
      expect(a.payload.toString()).toBe(
        '{"_type":"https://in-toto.io/Statement/v1","predicate":{"a":[2,1],"b":1},"predicateType":"https://slsa.dev/provenance/v1","subject":[{"digest":{"sha256":"' + 'ab'.repeat(32) + '"},"name":"app.tar.gz"}]}',
      );
    });
  });

  describe('when the input is hostile or wrong', () => {
    it.each([
      ['not an object', [1, 2], 'invalid_request', 'not_an_object'],
      ['null', null, 'invalid_request', 'not_an_object'],
      ['payload not base64', { payloadType: 't', payload: '***' }, 'invalid_request', 'invalid_base64'],
      ['unpadded base64', { payloadType: 't', payload: 'aGk' }, 'invalid_request', 'invalid_base64'],
      ['empty payload', { payloadType: 't', payload: '' }, 'invalid_request', 'empty_payload'],
      ['payload a number', { payloadType: 't', payload: 5 }, 'invalid_request', 'wrong_type'],
      ['payloadType an array', { payloadType: ['t'], payload: 'aGk=' }, 'invalid_request', 'wrong_type'],
      ['payloadType empty', { payloadType: '', payload: 'aGk=' }, 'invalid_request', 'invalid_payload_type'],
      ['payloadType with control chars', { payloadType: 'a\nb', payload: 'aGk=' }, 'invalid_request', 'invalid_payload_type'],
      ['both forms', { statement, payloadType: 't', payload: 'aGk=' }, 'invalid_request', 'ambiguous_form'],
      ['unknown field', { payloadType: 't', payload: 'aGk=', extra: 1 }, 'invalid_request', 'unknown_field'],
      ['statement wrong _type', { statement: { ...statement, _type: 'https://in-toto.io/Statement/v0.1' } }, 'invalid_statement', 'not_in_toto_statement_v1'],
      ['statement no subject', { statement: { ...statement, subject: [] } }, 'invalid_statement', 'not_in_toto_statement_v1'],
      ['statement digest not hex', { statement: { ...statement, subject: [{ digest: { sha256: 'zz' } }] } }, 'invalid_statement', 'not_in_toto_statement_v1'],
      ['statement without predicateType', { statement: { ...statement, predicateType: 3 } }, 'invalid_statement', 'not_in_toto_statement_v1'],
      ['statement a string', { statement: 'x' }, 'invalid_statement', 'not_in_toto_statement_v1'],
    ])('refuses %s', (_name, body, code, reason) => {
      expect(refusal(body)).toEqual({ code, reason });
    });

    it('refuses a payload over the plan size with payload_too_large', () => {
      expect(refusal({ payloadType: 't', payload: Buffer.alloc(MAX + 1).toString('base64') }).code).toBe('payload_too_large');
      expect(refusal({ statement: { ...statement, predicate: { pad: 'x'.repeat(MAX) } } }).code).toBe('payload_too_large');
    });

    it('refuses a deeply nested statement predicate without overflowing the stack', () => {
      let deep: unknown = 1;
      for (let i = 0; i < 100_000; i++) deep = { d: deep };
      expect(refusal({ statement: { ...statement, predicate: deep } }, 1 << 30).code).toBe('invalid_statement');
    });
  });

  describe('when the request asks for a statement the ledger itself issues (issue 16 finding 4)', () => {
    const b64 = (x: string | Uint8Array) => Buffer.from(x).toString('base64');
    const KT = 'https://sigledger.dev/attestations/key-transition/v1';
    const RS = 'https://sigledger.dev/attestations/resign/v1';
    const doc = (predicateType: unknown, key = 'predicateType') => JSON.stringify({ _type: statement._type, subject: statement.subject, [key]: predicateType, predicate: {} });

    it.each([KT, RS, 'https://sigledger.dev/attestations/anything-new/v9', 'HTTPS://SIGLEDGER.DEV/ATTESTATIONS/KEY-TRANSITION/V1', 'https://sigledger%2Edev/attestations/resign/v1', ' https://sigledger.dev/attestations/resign/v1 ', 'https://sigledger.dev/attestations/RELEASE/v1'])(
      'refuses the statement form with predicateType %s',
      (predicateType) => {
        expect(refusal({ statement: { ...statement, predicateType } })).toEqual({ code: 'forbidden', reason: 'reserved_statement' });
      },
    );

    it.each([
      'application/vnd.in-toto+json',
      'Application/Vnd.In-Toto+JSON',
      'application/vnd.in-toto+json; charset=utf-8',
      'application/vnd.in-toto+json ;x="y"',
      'application/json',
      'application/vnd.example+json',
      'text/json',
      'text/plain',
      'application/octet-stream',
    ])('refuses a key-transition statement in the payload form under payloadType %s', (payloadType) => {
      expect(refusal({ payloadType, payload: b64(doc(KT)) })).toEqual({ code: 'forbidden', reason: 'reserved_statement' });
    });

    it.each(['PredicateType', 'PREDICATETYPE', 'predicate_type', 'predicate-type', 'predicateTyp\u0065'])('refuses a reserved predicate type under the member name %s (Go and protojson read it)', (key) => {
      expect(refusal({ payloadType: 'application/vnd.in-toto+json', payload: b64(doc(RS, key)) })).toEqual({ code: 'forbidden', reason: 'reserved_statement' });
      expect(refusal({ payloadType: 'application/octet-stream', payload: b64(doc(RS, key)) })).toEqual({ code: 'forbidden', reason: 'reserved_statement' });
    });

    it('refuses what a lenient verifier would read as reserved under a payload type that is not JSON', () => {
      const text = doc(KT);
      for (const payload of [
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]),
        Buffer.from(text, 'utf16le'),
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]),
        Buffer.from(`${text}trailing`),
        Buffer.from(`{"predicateType":"https://slsa.dev/provenance/v1","predicateType":"${RS}"}`),
        Buffer.from(`{"predicateType":"${KT}","x":"\\ud800","y":"${'\uFFFD'}"}`),
      ]) {
        expect(refusal({ payloadType: 'application/octet-stream', payload: b64(payload) })).toEqual({ code: 'forbidden', reason: 'reserved_statement' });
      }
    });

    it.each([CEREMONY_PAYLOAD_TYPE, 'APPLICATION/VND.SIGLEDGER.CEREMONY+JSON', `${CEREMONY_PAYLOAD_TYPE}; charset=utf-8`, 'application/vnd.sigledger.anything'])('refuses the ledger payload type %s', (payloadType) => {
      expect(refusal({ payloadType, payload: b64('{"action":{}}') })).toEqual({ code: 'forbidden', reason: 'reserved_payload_type' });
    });

    it('lets exactly the release predicate type through, to its scope rule, only under exactly the in-toto payload type', () => {
      expect(parseSignRequest({ statement: { ...statement, predicateType: RELEASE_PREDICATE_TYPE } }, MAX).payloadType).toBe(IN_TOTO_PAYLOAD_TYPE);
      expect(parseSignRequest({ payloadType: IN_TOTO_PAYLOAD_TYPE, payload: b64(doc(RELEASE_PREDICATE_TYPE)) }, MAX).payloadType).toBe(IN_TOTO_PAYLOAD_TYPE);
      for (const payloadType of ['application/json', 'application/vnd.in-toto+json; charset=utf-8', 'text/plain']) {
        expect(refusal({ payloadType, payload: b64(doc(RELEASE_PREDICATE_TYPE)) })).toEqual({ code: 'forbidden', reason: 'reserved_statement' });
      }
    });

    it('still signs statements and payloads outside the namespace', () => {
      expect(parseSignRequest({ payloadType: 'application/octet-stream', payload: b64(doc('https://slsa.dev/provenance/v1')) }, MAX).payload.length).toBeGreaterThan(0);
      expect(parseSignRequest({ payloadType: 'text/plain', payload: b64('a note about https://sigledger.dev/attestations/resign/v1') }, MAX).payload.length).toBeGreaterThan(0);
    });
  });

  describe('when a JSON payload type carries anything but one strict JSON text (issue 16 finding 5)', () => {
    const b64 = (x: Uint8Array | string) => Buffer.from(x).toString('base64');
    const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    it.each([
      ['byte 0xFF in a string', bytes('{"predicateType":"a', [0xff], '"}'), 'invalid_utf8'],
      ['an overlong sequence', bytes('{"a":"', [0xc0, 0xaf], '"}'), 'invalid_utf8'],
      ['CESU-8', bytes('{"a":"', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], '"}'), 'invalid_utf8'],
      ['UTF-16 with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}', 'utf16le')]), 'bom'],
      ['a UTF-8 BOM', bytes([0xef, 0xbb, 0xbf], '{}'), 'bom'],
      ['trailing data', bytes('{"a":1}x'), 'trailing_data'],
      ['a second object', bytes('{"predicateType":"a"}{"predicateType":"b"}'), 'trailing_data'],
      ['duplicate predicateType keys', bytes('{"predicateType":"a","predicateType":"b"}'), 'duplicate_key'],
      ['a duplicate key deep inside', bytes('{"predicate":{"a":{"b":1,"b":2}}}'), 'duplicate_key'],
      ['an escaped lone surrogate', bytes('{"a":"\\ud800"}'), 'lone_surrogate'],
      ['nesting deeper than 512', bytes('['.repeat(600) + ']'.repeat(600)), 'too_deep'],
      ['predicateType and PredicateType', bytes('{"predicateType":"a","PredicateType":"b"}'), 'ambiguous_field'],
      ['_type and type', bytes('{"_type":"a","type":"b"}'), 'ambiguous_field'],
      ['a subject entry naming its digest twice', bytes('{"subject":[{"digest":{"sha256":"ab"},"Digest":{"sha256":"cd"}}]}'), 'ambiguous_field'],
    ])('refuses %s with invalid_request', (_name, payload, reason) => {
      for (const payloadType of ['application/vnd.in-toto+json', 'application/json', 'application/vnd.example+json; v=1', 'Application/JSON']) {
        expect(refusal({ payloadType, payload: b64(payload) }, 1 << 20)).toEqual({ code: 'invalid_request', reason });
      }
    });

    it('refuses a statement whose canonical form holds a lone surrogate or an ambiguous field', () => {
      // JCS refuses a lone surrogate before the strict reader sees it; over HTTP the body reader refuses it first.
      expect(refusal({ statement: { ...statement, predicate: { s: '\ud800' } } }).code).toBe('invalid_statement');
      expect(refusal({ statement: { ...statement, PredicateType: 'https://slsa.dev/provenance/v1' } })).toEqual({ code: 'invalid_statement', reason: 'ambiguous_field' });
    });

    it('still signs arbitrary bytes under payload types that are not JSON', () => {
      expect(parseSignRequest({ payloadType: 'application/octet-stream', payload: b64(bytes([0xff, 0xfe, 0x00])) }, MAX).payload).toEqual(Buffer.from([0xff, 0xfe, 0x00]));
      expect(parseSignRequest({ payloadType: 'application/x-ndjson', payload: b64('{"a":1}\n{"a":2}\n') }, MAX).payload.length).toBe(16);
    });
  });
});
