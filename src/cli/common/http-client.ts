/**
 * The CLI's HTTP client for a sigledger service: every request has a deadline that covers the
 * body, and at most `limit` bytes are read (declared or streamed), so a hostile or stuck
 * service cannot hang or exhaust the verifier.
 */
import { FetchError, UsageError } from './errors.ts';
import { LIMITS } from './limits.ts';
import { printable } from './printable.ts';
import { parseStrictJson } from './strict-json.ts';

/** The service's base URL (http or https, no query or fragment, no trailing slash); UsageError otherwise. */
export function baseUrl(raw: string, flag = '--url'): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${flag} must be an http(s) URL, got "${printable(raw, 80)}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${flag} must be an http(s) URL`);
  if (u.search || u.hash) throw new UsageError(`${flag} must not carry a query or fragment`);
  return u.toString().replace(/\/+$/, '');
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: Buffer;
}

export interface HttpRequest {
  /** Most bytes of the answer read. */
  readonly limit: number;
  readonly accept?: string;
  readonly method?: 'GET' | 'POST';
  /** A JSON request body (sent as application/json). */
  readonly json?: unknown;
}

/** One request with a deadline covering the body and at most `limit` bytes read; FetchError otherwise. */
export async function httpRequest(url: string, req: HttpRequest): Promise<HttpAnswer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), LIMITS.requestTimeoutMs);
  const where = new URL(url).origin;
  const tooLarge = () => new FetchError(`${where} answered ${new URL(url).pathname} with more than ${req.limit} bytes`);
  try {
    const res = await fetch(url, {
      method: req.method ?? 'GET',
      signal: controller.signal,
      headers: { accept: req.accept ?? 'application/json', ...(req.json !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(req.json !== undefined ? { body: JSON.stringify(req.json) } : {}),
    });
    const declared = res.headers.get('content-length');
    if (declared !== null && /^\d{1,16}$/.test(declared) && Number(declared) > req.limit) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > req.limit) throw tooLarge();
        chunks.push(Buffer.from(value));
      }
    }
    return { status: res.status, body: Buffer.concat(chunks, total) };
  } catch (err) {
    if (err instanceof FetchError) throw err;
    const reason = controller.signal.aborted ? `no complete answer within ${LIMITS.requestTimeoutMs / 1000} s` : ((err as { cause?: { code?: string } }).cause?.code ?? 'network error');
    throw new FetchError(`cannot reach ${where} (${reason})`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** GET with the deadline and the size bound. */
export const httpGet = (url: string, limit: number, accept = 'application/json'): Promise<HttpAnswer> => httpRequest(url, { limit, accept });

/** "GET /path answered HTTP 404: not_found: no bundle …" from a problem+json answer (or its status alone). */
export function answeredLine(path: string, a: HttpAnswer): string {
  let detail = '';
  try {
    const p = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
    if (typeof p.code === 'string') detail = `: ${printable(p.code, 60)}${typeof p.detail === 'string' ? `: ${printable(p.detail, 200)}` : ''}`;
  } catch {
    /* not a problem document */
  }
  return `GET ${path} answered HTTP ${a.status}${detail}`;
}

/** GET a JSON document: 200 and strict JSON, else FetchError / InputError. */
export async function getJson(base: string, path: string, limit: number): Promise<unknown> {
  const a = await httpGet(`${base}${path}`, limit);
  if (a.status !== 200) throw new FetchError(answeredLine(path, a));
  return parseStrictJson(a.body, `GET ${path}`);
}
