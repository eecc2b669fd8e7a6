import { describe, expect, it } from 'vitest';
import { clientKeyOf, UNKNOWN_CLIENT } from '../../src/http/client-address.ts';

describe('clientKeyOf', () => {
  describe('when the peer is IPv4', () => {
    it('keys each address on its own, also when IPv4-mapped', () => {
      expect(clientKeyOf('192.0.2.1')).toBe('192.0.2.1');
      expect(clientKeyOf('192.0.2.2')).toBe('192.0.2.2');
      expect(clientKeyOf('::ffff:192.0.2.1')).toBe('192.0.2.1');
      expect(clientKeyOf('::ffff:c000:201')).toBe('192.0.2.1');
    });
  });

  describe('when the peer is IPv6', () => {
    it('keys the addresses of one /64 together, whatever their spelling', () => {
      const key = clientKeyOf('2001:db8:1:2::1');
      expect(key).toBe('2001:db8:1:2::/64');
      expect(clientKeyOf('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe(key);
      expect(clientKeyOf('2001:DB8:1:2:a:b:c:d%eth0')).toBe(key);
      expect(clientKeyOf('2001:db8:1:3::1')).not.toBe(key);
      expect(clientKeyOf('::1')).toBe('0:0:0:0::/64');
      expect(clientKeyOf('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64');
    });
  });

  describe('when there is no usable address', () => {
    it('answers the one unknown client', () => {
      expect(clientKeyOf(undefined)).toBe(UNKNOWN_CLIENT);
      expect(clientKeyOf('')).toBe(UNKNOWN_CLIENT);
      expect(clientKeyOf('not an address')).toBe(UNKNOWN_CLIENT);
    });
  });
});
