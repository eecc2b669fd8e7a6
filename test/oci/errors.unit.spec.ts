import { describe, expect, it } from 'vitest';
import { isLedgerError, LedgerError } from '../../src/errors.ts';
import { STATUS_BY_CODE } from '../../src/http/problem.ts';
import { isOciError, OciError } from '../../src/oci/errors.ts';

describe('OciError', () => {
  describe('when thrown by the OCI client', () => {
    it('is a LedgerError with its oci_* code, status and cause', () => {
      const cause = new Error('socket hang up');
      const err = new OciError('oci_unreachable', 'get manifest a/b:v1 at r.example: registry unreachable', { status: 503, cause });
      expect(err).toBeInstanceOf(LedgerError);
      expect(isLedgerError(err)).toBe(true);
      expect(err).toMatchObject({ name: 'OciError', code: 'oci_unreachable', status: 503, details: undefined });
      expect(err.cause).toBe(cause);
    });

    it('is told apart, by code too, with isOciError', () => {
      const err = new OciError('oci_timeout', 'slow');
      expect(isOciError(err)).toBe(true);
      expect(isOciError(err, 'oci_timeout')).toBe(true);
      expect(isOciError(err, 'oci_not_found')).toBe(false);
      expect(isOciError(new LedgerError('registry_error', 'x'))).toBe(false);
    });
  });

  describe('when one reaches the HTTP table untranslated', () => {
    it('has a status: an outage 503, a wrong answer 502, a bad reference 400', () => {
      expect([STATUS_BY_CODE.oci_unreachable, STATUS_BY_CODE.oci_timeout, STATUS_BY_CODE.oci_aborted]).toEqual([503, 503, 503]);
      expect([STATUS_BY_CODE.oci_bad_response, STATUS_BY_CODE.oci_not_found, STATUS_BY_CODE.oci_unauthorized, STATUS_BY_CODE.oci_too_large, STATUS_BY_CODE.oci_redirect_refused]).toEqual([502, 502, 502, 502, 502]);
      expect(STATUS_BY_CODE.oci_invalid_reference).toBe(400);
    });
  });
});
