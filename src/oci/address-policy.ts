/**
 * Which network addresses the service may connect to when it speaks to a registry a caller names
 * (issue 16, network boundaries). Pure: no I/O; the OCI client resolves a name, hands every
 * address here, and connects only to addresses this module called public.
 *
 * Refused (not `public`): loopback (127/8, ::1), link-local (169.254/16, fe80::/10), private
 * (10/8, 172.16/12, 192.168/16, and the reserved 192.0.0/24, 198.18/15, fec0::/10, 64:ff9b:1::/48),
 * unique-local (fc00::/7), unspecified ("this network" 0/8, ::), carrier-grade NAT (100.64/10),
 * multicast (224/4, ff00::/8), broadcast and the reserved 240/4, the IPv6 discard prefix 100::/64,
 * and every IPv6 form that carries an IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible
 * ::/96, SIIT ::ffff:0:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by that IPv4 address.
 * Names under `localhost` are loopback by name (RFC 6761) before any lookup.
 *
 * Literals are read in every spelling a resolver might accept — inet_aton forms (`0x7f.1`,
 * `2130706433`, `0177.0.0.1`), bracketed IPv6 (`[::ffff:127.0.0.1]`), trailing dots — so that no
 * spelling reaches a socket unjudged. Allow-list entries (`SIGLEDGER_REGISTRIES`: `host` or
 * `host:port`, a bare host allowing all its ports) are compared with a URL's normalized host and
 * effective port.
 */

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'link_local'
  | 'private'
  | 'unique_local'
  | 'unspecified'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

/** An IPv4 address as the resolver's inet_aton reads it: 1 to 4 parts, decimal, octal (0…) or hex (0x…). */
export function parseIPv4(text: string): number | undefined {
  let s = text;
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s === '') return undefined;
  const parts = s.split('.');
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(p)) v = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) v = p.length === 1 ? 0 : parseInt(p.slice(1), 8);
    else if (/^[1-9][0-9]*$/.test(p)) v = Number(p);
    else return undefined;
    if (!Number.isFinite(v) || p.length > 40) return undefined;
    values.push(v);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255)) return undefined;
  if (last >= 256 ** (4 - values.length)) return undefined;
  let n = 0;
  for (const v of values) n = n * 256 + v;
  return n * 256 ** (4 - values.length) + last;
}

/** An IPv6 address (brackets allowed, a zone id is refused) as 8 groups of 16 bits. */
export function parseIPv6(text: string): number[] | undefined {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(piece)) return undefined;
        const octets = piece.split('.').map(Number);
        if (octets.some((o) => o > 255)) return undefined;
        out.push(octets[0]! * 256 + octets[1]!, octets[2]! * 256 + octets[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return undefined;
  return [...head, ...Array<number>(missing).fill(0), ...tail];
}

const inV4 = (n: number, base: string, bits: number): boolean => {
  const b = parseIPv4(base)!;
  const size = 2 ** (32 - bits);
  return Math.floor(n / size) === Math.floor(b / size);
};

export function classifyIPv4(n: number): AddressClass {
  if (n === 0xffffffff) return 'broadcast';
  if (inV4(n, '0.0.0.0', 8)) return 'unspecified';
  if (inV4(n, '127.0.0.0', 8)) return 'loopback';
  if (inV4(n, '169.254.0.0', 16)) return 'link_local';
  if (inV4(n, '10.0.0.0', 8) || inV4(n, '172.16.0.0', 12) || inV4(n, '192.168.0.0', 16)) return 'private';
  if (inV4(n, '192.0.0.0', 24) || inV4(n, '198.18.0.0', 15)) return 'private';
  if (inV4(n, '100.64.0.0', 10)) return 'cgnat';
  if (inV4(n, '224.0.0.0', 4)) return 'multicast';
  if (inV4(n, '240.0.0.0', 4)) return 'reserved';
  return 'public';
}

const v4Of = (hi: number, lo: number): number => hi * 65536 + lo;

export function classifyIPv6(g: readonly number[]): AddressClass {
  const zeroUpTo = (k: number) => g.slice(0, k).every((x) => x === 0);
  if (zeroUpTo(8)) return 'unspecified';
  if (zeroUpTo(7) && g[7] === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d, SIIT ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d: the IPv4 address decides.
  if (zeroUpTo(5) && g[5] === 0xffff) return classifyIPv4(v4Of(g[6]!, g[7]!));
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return classifyIPv4(v4Of(g[6]!, g[7]!));
  if (zeroUpTo(6)) return classifyIPv4(v4Of(g[6]!, g[7]!));
  // NAT64 well-known prefix 64:ff9b::/96 carries an IPv4 address; its local-use 64:ff9b:1::/48 is private.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return classifyIPv4(v4Of(g[6]!, g[7]!));
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'private';
  // 6to4 2002:AABB:CCDD::/48 carries the IPv4 address AA.BB.CC.DD.
  if (g[0] === 0x2002) return classifyIPv4(v4Of(g[1]!, g[2]!));
  if (g[0] === 0x100 && g[1] === 0 && g[2] === 0 && g[3] === 0) return 'reserved';
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return 'unique_local';
  if ((first & 0xffc0) === 0xfe80) return 'link_local';
  if ((first & 0xffc0) === 0xfec0) return 'private';
  if ((first & 0xff00) === 0xff00) return 'multicast';
  return 'public';
}

/** A host without its brackets, lower-cased, one trailing dot dropped. */
export function bareHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.') && !h.includes(':')) h = h.slice(0, -1);
  return h;
}

/**
 * What a host is before any lookup: an IP literal (any spelling) classified, a name under
 * `localhost` as loopback, or `undefined` for a name only a lookup can tell about.
 */
export function classifyHostLiteral(host: string): AddressClass | undefined {
  const h = bareHost(host);
  if (h.includes(':')) {
    const g = parseIPv6(h);
    return g ? classifyIPv6(g) : 'reserved';
  }
  if (h === 'localhost' || h.endsWith('.localhost')) return 'loopback';
  // As the URL standard decides: a host whose last label is a number is an IPv4 address or nothing.
  const last = h.split('.').pop()!;
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(last)) {
    const n = parseIPv4(h);
    // A number that is no address (e.g. 999.1.1.1, example.123): never let a resolver guess.
    return n === undefined ? 'reserved' : classifyIPv4(n);
  }
  return undefined;
}

/** The class of an address a resolver returned (canonical IPv4 or IPv6 text). */
export function classifyAddress(address: string): AddressClass {
  return classifyHostLiteral(address) ?? 'reserved';
}

export const isPublicAddress = (address: string): boolean => classifyAddress(address) === 'public';

// ------------------------------------------------------------------------------------------ allow-list

interface AllowEntry {
  readonly hostname: string;
  readonly port: number | undefined;
}

const DEFAULT_PORT: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443 };

/** The effective port of a URL (its scheme's default when none is written). */
export const portOf = (url: URL): number => (url.port !== '' ? Number(url.port) : (DEFAULT_PORT[url.protocol] ?? 0));

function parseEntry(entry: string): AllowEntry | undefined {
  const e = entry.trim().toLowerCase();
  if (e === '') return undefined;
  let url: URL;
  try {
    url = new URL(`http://${e}/`);
  } catch {
    return undefined;
  }
  // `host:80` is written out: the URL drops a default port, the entry must not lose it.
  const written = /:(\d{1,5})$/.exec(e);
  return { hostname: url.hostname, port: written ? Number(written[1]) : undefined };
}

/**
 * A matcher for `SIGLEDGER_REGISTRIES`-style entries (`host` = every port, `host:port` = that
 * one): does the URL's host (as the URL parser normalized it) and effective port match one?
 */
export function allowListMatcher(entries: readonly string[]): (url: URL) => boolean {
  const parsed = entries.map(parseEntry).filter((e): e is AllowEntry => e !== undefined);
  return (url) => {
    const hostname = url.hostname.toLowerCase();
    const port = portOf(url);
    return parsed.some((e) => e.hostname === hostname && (e.port === undefined || e.port === port));
  };
}
