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
      expect(err.details).toEqual({ reason: code, registry: REGISTRY, retryAfterSeconds: 5 });
      expect(err.message).toMatch(/^registry registry\.example:5000 unavailable: /);
      expect(err.cause).toBeInstanceOf(OciError);
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
