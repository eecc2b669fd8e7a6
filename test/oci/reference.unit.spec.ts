import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../src/oci/client.ts';
import { OciError } from '../../src/oci/errors.ts';
import { parseDigest, parseImageReference, parseRepository, referrersTagFor, registryScheme } from '../../src/oci/reference.ts';

const HEX = 'ab'.repeat(32);

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof OciError ? e.code : `not an OciError: ${String(e)}`;
  }
};

describe('oci references', () => {
  describe('when a repository is HOST[:PORT]/NAME', () => {
    it('splits registry and name', () => {
      expect(parseRepository('ghcr.io/acme/scanner')).toEqual({ registry: 'ghcr.io', name: 'acme/scanner' });
      expect(parseRepository('127.0.0.1:5000/a.b/c_d/e__f/g-h')).toEqual({ registry: '127.0.0.1:5000', name: 'a.b/c_d/e__f/g-h' });
      expect(parseRepository('[::1]:5000/x')).toEqual({ registry: '[::1]:5000', name: 'x' });
      expect(parseRepository('localhost/x')).toEqual({ registry: 'localhost', name: 'x' });
    });
  });

  describe('when a repository breaks the grammar', () => {
    it.each([
      ['no host', 'scanner'],
      ['empty name', 'ghcr.io/'],
      ['upper-case name', 'ghcr.io/Acme/scanner'],
      ['a scheme', 'https://ghcr.io/acme'],
      ['userinfo', 'user:pw@ghcr.io/acme'],
      ['a tag', 'ghcr.io/acme:latest'],
      ['a bad port', 'ghcr.io:99999/acme'],
      ['a trailing separator', 'ghcr.io/acme-'],
      ['double slash', 'ghcr.io/acme//x'],
      ['dot-dot', 'ghcr.io/acme/../x'],
      ['whitespace', 'ghcr.io/ac me'],
      ['too long', `ghcr.io/${'a'.repeat(260)}`],
      ['an IPv6 literal no URL accepts', '[1]/x'],
      ['an IPv6 zone id', '[fe80::1%eth0]:5000/x'],
    ])('refuses %s with oci_invalid_reference', (_why, s) => {
      expect(code(() => parseRepository(s))).toBe('oci_invalid_reference');
    });
  });

  describe('when digests and image references are parsed', () => {
    it('accepts only sha256:<64 lowercase hex>', () => {
      expect(parseDigest(`sha256:${HEX}`)).toBe(`sha256:${HEX}`);
      for (const bad of [`sha256:${HEX.toUpperCase()}`, `sha256:${HEX.slice(2)}`, `sha512:${HEX}${HEX}`, HEX, `sha256:${HEX}\n`]) {
        expect(code(() => parseDigest(bad))).toBe('oci_invalid_reference');
      }
    });

    it('reads REPO@DIGEST and REPO:TAG, and names the referrers tag', () => {
      expect(parseImageReference(`127.0.0.1:5000/acme/scanner@sha256:${HEX}`)).toEqual({ registry: '127.0.0.1:5000', name: 'acme/scanner', digest: `sha256:${HEX}` });
      expect(parseImageReference('ghcr.io/acme/scanner:v1.2')).toEqual({ registry: 'ghcr.io', name: 'acme/scanner', tag: 'v1.2' });
      expect(code(() => parseImageReference('ghcr.io/acme/scanner'))).toBe('oci_invalid_reference');
      expect(referrersTagFor(`sha256:${HEX}`)).toBe(`sha256-${HEX}`);
    });
  });

  describe('when choosing the scheme', () => {
    it('uses http for loopback and listed insecure registries, https otherwise', () => {
      expect(registryScheme('127.0.0.1:5000')).toBe('http');
      expect(registryScheme('localhost:5000')).toBe('http');
      expect(registryScheme('[::1]:5000')).toBe('http');
      expect(registryScheme('registry.internal:5000', ['registry.internal:5000'])).toBe('http');
      expect(registryScheme('registry.internal:5000', ['registry.internal'])).toBe('http');
      expect(registryScheme('registry.internal:5000', ['other:5000'])).toBe('https');
      expect(registryScheme('127.0.0.1.example.com')).toBe('https');
    });
  });

  describe('when a WWW-Authenticate challenge is parsed', () => {
    it('reads scheme and quoted / bare parameters', () => {
      expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual({
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
      });
      expect(parseChallenge('Basic realm=reg')).toEqual({ scheme: 'basic', params: { realm: 'reg' } });
    });
  });
});
