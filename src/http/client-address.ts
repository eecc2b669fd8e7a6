/**
 * Who a caller without a token is, for per-client limits: the peer address of the TCP
 * connection (never a header such as X-Forwarded-For, which any caller can write). IPv4
 * addresses count one by one; IPv6 addresses count per /64, because one host is routinely given a
 * whole /64 and could otherwise take a fresh address for every request; an IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`) is its IPv4 address. Behind a reverse proxy every caller shares
 * the proxy's address: limit per client at the proxy, or raise the per-client limits.
 */
import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { Context } from 'hono';

/** The client of a request that came without a socket (in-process `app.request`). */
export const UNKNOWN_CLIENT = 'unknown';

/** Expands an IPv6 address to its eight 16-bit groups (undefined when it is not one). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.split('%')[0]!.toLowerCase();
  let tail: number[] = [];
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (v4) {
    if (!isIPv4(v4[1]!)) return undefined;
    const b = v4[1]!.split('.').map(Number);
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    text = text.slice(0, -v4[1]!.length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = [...(rest === undefined ? [] : parse(rest)), ...tail];
  const fill = 8 - left.length - right.length;
  if (rest === undefined ? fill !== 0 : fill < 0) return undefined;
  const groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** The per-client key of a peer address: IPv4 as is, IPv6 by its /64 (`2001:db8:1:2::/64`). */
export function clientKeyOf(address: string | undefined): string {
  if (!address) return UNKNOWN_CLIENT;
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return UNKNOWN_CLIENT;
  const g = ipv6Groups(address);
  if (!g) return UNKNOWN_CLIENT;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** The per-client key of the request's peer (UNKNOWN_CLIENT without a Node socket). */
export function clientOf(c: Context): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return clientKeyOf(incoming?.socket?.remoteAddress);
}
