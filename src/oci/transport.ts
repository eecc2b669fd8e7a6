/**
 * One HTTP(S) round trip for the OCI client over node:http / node:https, answered as a WHATWG
 * `Response` (body a byte stream the client reads with its limits; redirects are never followed
 * here). The socket connects only to the addresses the caller hands in — already resolved and,
 * where a network policy applies, already checked (src/oci/address-policy.ts) — through a `lookup`
 * that returns exactly those, so a DNS answer that changes between the check and the connect
 * (rebinding) cannot move the connection. TLS still verifies the certificate against the name
 * (SNI and `servername` are the URL's host).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { OciError } from './errors.ts';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

export interface TransportRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  readonly signal: AbortSignal;
  /** Where to connect (resolved, checked). */
  readonly addresses: readonly ResolvedAddress[];
}

// Idle sockets are kept (unref'd by the agent, at most 8 per host) until the peer closes them.
const AGENT_OPTIONS = { keepAlive: true, maxFreeSockets: 8 } as const;
const agents = { http: new HttpAgent(AGENT_OPTIONS), https: new HttpsAgent(AGENT_OPTIONS) };

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** A `lookup` that answers only the given addresses, whatever the name. */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return ((_hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    const family = options?.family === 4 || options?.family === 'IPv4' ? 4 : options?.family === 6 || options?.family === 'IPv6' ? 6 : 0;
    const list = addresses.filter((a) => family === 0 || a.family === family);
    if (list.length === 0) {
      const err = Object.assign(new Error('no address of the requested family'), { code: 'ENOTFOUND' });
      return void process.nextTick(callback, err);
    }
    if (options?.all) return void process.nextTick(callback, null, list.map((a) => ({ address: a.address, family: a.family })));
    process.nextTick(callback, null, list[0]!.address, list[0]!.family);
  }) as unknown as LookupFunction;
}

/** The URL's host as a socket wants it: IPv6 without brackets. */
export const socketHost = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Sends one request and resolves with the answer's status, headers and unread body. Transport
 * failures reject with an Error whose `cause` is the socket's error (its `code` for the CLI).
 */
export function roundTrip(req: TransportRequest): Promise<Response> {
  const { url, signal } = req;
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') return Promise.reject(new OciError('oci_bad_response', `unsupported scheme ${url.protocol}`));
  const host = socketHost(url);
  return new Promise<Response>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const fail = (e: unknown) => reject(Object.assign(new Error('request failed', { cause: e })));
    const options = {
      method: req.method,
      protocol: url.protocol,
      hostname: host,
      port: url.port === '' ? (https ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: req.headers,
      agent: https ? agents.https : agents.http,
      lookup: pinnedLookup(req.addresses),
      signal,
      ...(https && isIP(host) === 0 ? { servername: host } : {}),
    };
    const request = (https ? httpsRequest : httpRequest)(options, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        return reject(new OciError('oci_bad_response', `answer with status ${status}`));
      }
      // Aborting after the headers must also end a body that is still being read.
      const onAbort = () => res.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      res.once('close', () => signal.removeEventListener('abort', onAbort));
      res.on('error', () => undefined);
      const headers = new Headers();
      try {
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      } catch {
        res.destroy();
        return reject(new OciError('oci_bad_response', 'answer with an invalid header'));
      }
      const nullBody = req.method === 'HEAD' || NULL_BODY_STATUSES.has(status);
      if (nullBody) res.resume();
      const body = nullBody ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status, headers }));
    });
    request.on('error', (e) => (signal.aborted ? reject(signal.reason) : fail(e)));
    if (req.body !== undefined) request.end(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength));
    else request.end();
  });
}

/** Resolves a name to every address it has (a literal to itself). */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const family = isIP(hostname);
  if (family !== 0) return [{ address: hostname, family: family as 4 | 6 }];
  const list = await dnsLookup(hostname, { all: true, verbatim: true });
  return list.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};
