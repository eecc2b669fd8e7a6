import { describe, expect, it } from 'vitest';
import { registryFailure } from '../../../src/app/release/registry-failure.ts';
import { OciError, type OciErrorCode } from '../../../src/oci/errors.ts';

const REGISTRY = 'registry.example:5000';
const failure = (code: OciErrorCode) => registryFailure(new OciError(code, `list referrers of a/b at ${REGISTRY}: ${code}`), REGISTRY);

describe('registryFailure', () => {
  describe('when the registry did not answer in time or at all', () => {
    it.each(['oci_unreachable', 'oci_timeout', 'oci_aborted'] as const)('makes %s an outage (registry_unavailable, Retry-After)', (code) => {
      const err = failure(code);
      expect(err.code).toBe('registry_unavailable');
      expect(err.details).toEqual({ reason: 'oci_unreachable', registry: REGISTRY, retryAfterSeconds: 5 });
      expect(err.message).toMatch(/^registry registry\.example:5000 unavailable: /);
      expect(err.cause).toBeInstanceOf(OciError);
    });

    it('tells a caller nothing about why: refused, reset, TLS failure and timeout read the same', () => {
      const causes = [
        new OciError('oci_unreachable', `list referrers of a/b at ${REGISTRY}: registry unreachable (ECONNREFUSED)`),
        new OciError('oci_unreachable', `list referrers of a/b at ${REGISTRY}: registry unreachable (ERR_SSL_WRONG_VERSION_NUMBER)`),
        new OciError('oci_unreachable', `list referrers of a/b at ${REGISTRY}: registry unreachable (ECONNRESET)`),
        new OciError('oci_timeout', `list referrers of a/b at ${REGISTRY}: no complete answer within 1000 ms`),
      ];
      const seen = causes.map((c) => registryFailure(c, REGISTRY)).map((e) => JSON.stringify({ code: e.code, message: e.message, details: e.details }));
      expect(new Set(seen).size).toBe(1);
      expect(seen[0]).not.toMatch(/ECONN|SSL|within|timeout/i);
    });
  });

  describe('when the registry answered wrongly', () => {
    it.each(['oci_bad_response', 'oci_not_found', 'oci_unauthorized', 'oci_too_large', 'oci_redirect_refused'] as const)('makes %s a registry_error naming it', (code) => {
      const err = failure(code);
      expect(err.code).toBe('registry_error');
      expect(err.details).toEqual({ reason: code, registry: REGISTRY });
      expect(err.message).toMatch(/^registry registry\.example:5000 answered wrongly: /);
    });
  });

  describe('when the reference does not parse', () => {
    it("is the caller's invalid_request", () => {
      const err = failure('oci_invalid_reference');
      expect(err.code).toBe('invalid_request');
      expect(err.details).toEqual({ reason: 'invalid_reference' });
    });
  });
});
