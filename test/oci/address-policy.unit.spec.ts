/**
 * Issue 16 finding 6 (SSRF by default): the address policy the service applies to every registry
 * connection — each refused range, IPv4 inside IPv6, the spellings a resolver accepts, and the
 * allow-list matcher for SIGLEDGER_REGISTRIES entries.
 */
import { describe, expect, it } from 'vitest';
import { allowListMatcher, classifyAddress, classifyHostLiteral, isPublicAddress, parseIPv4, parseIPv6 } from '../../src/oci/address-policy.ts';

describe('address policy', () => {
  describe('when an IPv4 address is in a range the service never contacts', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['169.254.169.254', 'link_local'],
      ['169.254.0.1', 'link_local'],
      ['10.0.0.1', 'private'],
      ['10.255.255.255', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['192.0.0.8', 'private'],
      ['198.18.0.1', 'private'],
      ['100.64.0.1', 'cgnat'],
      ['100.127.255.255', 'cgnat'],
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['240.0.0.1', 'reserved'],
    ];
    it.each(cases)('refuses %s (%s)', (address, kind) => {
      expect(classifyAddress(address)).toBe(kind);
      expect(isPublicAddress(address)).toBe(false);
    });
  });

  describe('when an IPv4 address is just outside those ranges', () => {
    it.each(['1.1.1.1', '8.8.8.8', '172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '169.253.255.255', '11.0.0.0', '126.255.255.255', '128.0.0.0', '223.255.255.255', '192.169.0.1', '203.0.113.7'])('allows %s', (address) => {
      expect(classifyAddress(address)).toBe('public');
    });
  });

  describe('when an IPv6 address is in a range the service never contacts', () => {
    const cases: [string, string][] = [
      ['::1', 'loopback'],
      ['0:0:0:0:0:0:0:1', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1', 'link_local'],
      ['febf:ffff::1', 'link_local'],
      ['fc00::1', 'unique_local'],
      ['fd12:3456:789a::1', 'unique_local'],
      ['fec0::1', 'private'],
      ['ff02::1', 'multicast'],
      ['100::1', 'reserved'],
      ['64:ff9b:1::a00:1', 'private'],
    ];
    it.each(cases)('refuses %s (%s)', (address, kind) => {
      expect(classifyAddress(address)).toBe(kind);
    });
  });

  describe('when an IPv6 address carries an IPv4 address', () => {
    const cases: [string, string][] = [
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['[::ffff:127.0.0.1]', 'loopback'],
      ['0:0:0:0:0:ffff:a9fe:a9fe', 'link_local'],
      ['::ffff:10.1.2.3', 'private'],
      ['::ffff:192.168.0.1', 'private'],
      ['::ffff:100.64.0.1', 'cgnat'],
      ['::ffff:0.0.0.0', 'unspecified'],
      ['::ffff:0:127.0.0.1', 'loopback'],
      ['::127.0.0.1', 'loopback'],
      ['::10.0.0.1', 'private'],
      ['64:ff9b::127.0.0.1', 'loopback'],
      ['64:ff9b::a9fe:a9fe', 'link_local'],
      ['2002:7f00:1::', 'loopback'],
      ['2002:c0a8:101::1', 'private'],
    ];
    it.each(cases)('judges %s by its IPv4 address (%s)', (address, kind) => {
      expect(classifyAddress(address)).toBe(kind);
    });

    it('allows the mapped form of a public address', () => {
      expect(classifyAddress('::ffff:8.8.8.8')).toBe('public');
      expect(classifyAddress('2002:808:808::1')).toBe('public');
      expect(classifyAddress('2606:4700:4700::1111')).toBe('public');
    });
  });

  describe('when a host is an IPv4 literal in an odd spelling', () => {
    const loopback = ['0x7f.1', '0x7f000001', '2130706433', '0177.0.0.1', '127.1', '127.0.1', '0x7F.0.0.1', '127.0.0.1.', '017700000001'];
    it.each(loopback)('reads %s as loopback', (host) => {
      expect(classifyHostLiteral(host)).toBe('loopback');
    });

    it('reads the other forms as the resolver would', () => {
      expect(parseIPv4('0x7f.1')).toBe(0x7f000001);
      expect(parseIPv4('10.1')).toBe(0x0a000001);
      expect(classifyHostLiteral('0')).toBe('unspecified');
      expect(classifyHostLiteral('0xa9.0xfe.0xa9.0xfe')).toBe('link_local');
      expect(classifyHostLiteral('3232235777')).toBe('private');
    });

    it('refuses a number that is no address rather than let a resolver guess', () => {
      for (const host of ['999.1.1.1', '1.2.3.4.5', '4294967296', '0x100000000', 'example.123', '08.0.0.1']) expect(classifyHostLiteral(host)).toBe('reserved');
    });
  });

  describe('when a host is a name', () => {
    it('calls every name under localhost loopback, trailing dot and case included', () => {
      for (const host of ['localhost', 'LOCALHOST', 'localhost.', 'registry.localhost', 'a.b.localhost.']) expect(classifyHostLiteral(host)).toBe('loopback');
    });

    it('leaves other names to the lookup', () => {
      for (const host of ['ghcr.io', 'registry.example.', '1a.de', 'localhost.example', '0x.example']) expect(classifyHostLiteral(host)).toBeUndefined();
    });
  });

  describe('when a text is not an IPv6 address', () => {
    it.each(['1::2::3', '12345::1', '::1%eth0', ':::', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3'])('refuses %s', (s) => {
      expect(parseIPv6(s)).toBeUndefined();
      expect(isPublicAddress(s)).toBe(false);
    });
  });

  describe('when SIGLEDGER_REGISTRIES entries are matched', () => {
    const allowed = allowListMatcher(['127.0.0.1:5000', 'reg.internal', '[::1]:5001', 'ghcr.io:443']);

    it('matches a host:port entry on that port only', () => {
      expect(allowed(new URL('http://127.0.0.1:5000/v2/'))).toBe(true);
      expect(allowed(new URL('http://127.0.0.1:6379/'))).toBe(false);
    });

    it('matches a bare host on every port', () => {
      expect(allowed(new URL('https://reg.internal/'))).toBe(true);
      expect(allowed(new URL('http://reg.internal:8080/'))).toBe(true);
      expect(allowed(new URL('http://other.internal/'))).toBe(false);
    });

    it('compares normalized hosts, so spellings of one address match one entry and tricks match none', () => {
      expect(allowed(new URL('http://0x7f.1:5000/'))).toBe(true);
      expect(allowed(new URL('http://[0:0::1]:5001/'))).toBe(true);
      expect(allowed(new URL('https://ghcr.io/'))).toBe(true);
      expect(allowed(new URL('http://reg.internal@127.0.0.1:6379/'))).toBe(false);
      expect(allowed(new URL('http://reg.internal.evil.example/'))).toBe(false);
      // A backslash ends the host in a URL: the match is about the host the socket will reach.
      const backslash = new URL('http://evil.example\\@127.0.0.1:6379/');
      expect(backslash.hostname).toBe('evil.example');
      expect(allowed(backslash)).toBe(false);
    });
  });
});
