import { describe, expect, it } from 'vitest';
import { IN_TOTO_PAYLOAD_TYPE, parseSignRequest } from '../../src/domain/sign-request.ts';
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
});
