/**
 * Request bodies are an attacker's input: the size limit is enforced while the body streams in
 * (a declared Content-Length over the limit is refused before reading a byte; a chunked body is
 * cut off as soon as it passes the limit), bytes must be UTF-8, and JSON must parse.
 *
 * A body must also arrive in time: one not complete within the body deadline (default
 * DEFAULT_BODY_TIMEOUT_MS; the listener sets the configured one per request, a route may ask for
 * another) is answered 408 `request_timeout` and its connection is closed. Routes read their body
 * before they take a shared concurrency slot, so a slow sender holds a socket, never a slot.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { parseStrictJsonText } from '../crypto/strict-json.ts';
import { LedgerError } from '../errors.ts';
import { readLimited } from '../util/read-limited.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** How long a request body may take to arrive when nothing else is configured. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** The body deadline the listener configured for a request (see setBodyTimeout). */
const bodyTimeouts = new WeakMap<IncomingMessage, number>();

/** Sets the body deadline (ms) of one request; the HTTP listener calls it for every request. */
export function setBodyTimeout(incoming: IncomingMessage, ms: number): void {
  bodyTimeouts.set(incoming, ms);
}

export interface ReadBodyOptions {
  /** This route's body deadline in ms (default: the listener's, else DEFAULT_BODY_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

function timedOut(ms: number): LedgerError {
  return new LedgerError('request_timeout', `the request body did not arrive within ${Math.ceil(ms / 1000)} s`, { reason: 'body_timeout', timeoutSeconds: Math.ceil(ms / 1000) });
}

function tooLarge(limit: number): LedgerError {
  return new LedgerError('payload_too_large', `request body is larger than the ${limit} bytes allowed`, { limit });
}

function checkDeclaredLength(declared: string | null | undefined, limit: number): void {
  if (declared === null || declared === undefined) return;
  if (!/^\d{1,16}$/.test(declared.trim())) throw new LedgerError('bad_request', 'Content-Length is not a number', { reason: 'invalid_content_length' });
  if (Number(declared) > limit) throw tooLarge(limit);
}

/**
 * On @hono/node-server the body is read straight from the IncomingMessage: materialising a
 * WHATWG Request and ReadableStream per request costs more than signing it.
 */
function readIncoming(incoming: IncomingMessage, limit: number, timeoutMs: number): Promise<Uint8Array> {
  checkDeclaredLength(incoming.headers['content-length'], limit);
  if (incoming.complete && incoming.readableEnded) return Promise.resolve(new Uint8Array(0));
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    // The rest of a late body is discarded as it comes (the answer says `connection: close`).
    const timer = setTimeout(() => {
      cleanup();
      reject(timedOut(timeoutMs));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onAbort);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        cleanup();
        incoming.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onAbort = () => {
      cleanup();
      reject(new LedgerError('bad_request', 'the request body could not be read completely', { reason: 'body_aborted' }));
    };
    const onClose = () => {
      if (!incoming.complete) onAbort();
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onAbort);
    incoming.on('close', onClose);
  });
}

/** Reads at most `limit` bytes of the request body; throws `payload_too_large` (413) beyond it. */
export async function readBody(c: Context, limit: number, options: ReadBodyOptions = {}): Promise<Uint8Array> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const timeoutMs = options.timeoutMs ?? (incoming ? bodyTimeouts.get(incoming) : undefined) ?? DEFAULT_BODY_TIMEOUT_MS;
  try {
    if (incoming && typeof incoming.on === 'function') return await readIncoming(incoming, limit, timeoutMs);
    return await readBodyLimited(c.req.raw, limit, timeoutMs);
  } catch (err) {
    // A refused body may still be streaming in: the answer closes the connection.
    if (err instanceof LedgerError && (err.code === 'request_timeout' || err.code === 'payload_too_large')) c.header('connection', 'close');
    throw err;
  }
}

/**
 * Reads at most `limit` bytes of a WHATWG request body within `timeoutMs`; throws
 * `payload_too_large` (413) beyond the size, `request_timeout` (408) past the deadline.
 */
export async function readBodyLimited(req: Request, limit: number, timeoutMs: number = DEFAULT_BODY_TIMEOUT_MS): Promise<Uint8Array> {
  checkDeclaredLength(req.headers.get('content-length'), limit);
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    return await readLimited(req.body, limit, () => tooLarge(limit), deadline);
  } catch (err) {
    if (err instanceof LedgerError) throw err;
    if (deadline.aborted) throw timedOut(timeoutMs);
    throw new LedgerError('bad_request', 'the request body could not be read completely', { reason: 'body_aborted' });
  }
}

/** Requires a JSON media type, reads within `limit`, decodes strict UTF-8 and parses. */
export async function readJsonBody(c: Context, limit: number, options: ReadBodyOptions = {}): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw new LedgerError('unsupported_media_type', 'the request body must be application/json', { reason: 'not_json' });
  }
  const bytes = await readBody(c, limit, options);
  if (bytes.byteLength === 0) throw new LedgerError('bad_request', 'the request body is empty', { reason: 'empty_body' });
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new LedgerError('bad_request', 'the request body is not valid UTF-8', { reason: 'invalid_utf8' });
  }
  try {
    return parseStrictJsonText(text);
  } catch {
    throw new LedgerError('bad_request', 'the request body is not valid JSON', { reason: 'malformed_json' });
  }
}
