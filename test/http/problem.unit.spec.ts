import { describe, expect, it } from 'vitest';
import { LedgerError, type ErrorCode } from '../../src/errors.ts';
import { problemOf, STATUS_BY_CODE } from '../../src/http/problem.ts';

describe('problem details', () => {
  describe('when the error is a LedgerError', () => {
    it('maps every code through the one table, with a stable type URI', () => {
      for (const code of Object.keys(STATUS_BY_CODE) as ErrorCode[]) {
        const p = problemOf(new LedgerError(code, `message for ${code}`));
        expect(p.status).toBe(STATUS_BY_CODE[code]);
        expect(p.code).toBe(code);
        expect(p.type).toBe(`https://sigledger.dev/problems/${code}`);
      }
      expect(problemOf(new LedgerError('concurrency_conflict', 'x')).status).toBe(409);
      expect(problemOf(new LedgerError('invalid_event', 'x')).status).toBe(400);
      expect(problemOf(new LedgerError('store_unavailable', 'x')).status).toBe(503);
    });
  });

  describe('when the error is anything else', () => {
    it('answers 500 internal without the message or a stack', () => {
      const p = problemOf(new Error('secret path /etc/shadow and stack'));
      expect(p).toEqual({ type: 'https://sigledger.dev/problems/internal', title: 'Internal Server Error', status: 500, code: 'internal', detail: 'internal error' });
    });
  });
});
