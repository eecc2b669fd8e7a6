/** Bundles and keys (SPEC §2): read-only views answered from the read models. */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { AnchorsService } from '../app/trust/anchors-service.ts';
import type { KeyringService } from '../app/keys/keyring-service.ts';
import type { SigningService } from '../app/signing/signing-service.ts';
import { isBundleId } from '../domain/bundle.ts';
import { parseRfc3339 } from '../domain/instant.ts';
import { isKeyId, type KeyEntry } from '../domain/keyring.ts';
import { LedgerError } from '../errors.ts';
import { anchorsProjection, type Anchors } from '../projections/anchors.ts';
import type { ReadModelReader } from '../store/read-model.ts';
import { StreamLimiter } from './sse-limits.ts';

export interface RegistryRouteDeps {
  readonly signing: SigningService;
  readonly keyring: KeyringService;
  readonly readModel: ReadModelReader;
  /** Publishes anchors and notifies the SSE stream. */
  readonly anchors?: AnchorsService;
  /** Caps and timeouts of SSE streams, shared with the audit tail (default: DEFAULT_STREAM_LIMITS). */
  readonly streams?: StreamLimiter;
}

const SSE_KEEPALIVE_MS = 15_000;

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** SPEC §2 key registry entry. */
export function keyView(k: KeyEntry) {
  return {
    keyId: k.keyId,
    algorithm: k.algorithm,
    publicKey: k.publicKey,
    status: k.status,
    validFor: { ...(k.validFor.start ? { start: k.validFor.start } : {}), ...(k.validFor.end ? { end: k.validFor.end } : {}) },
    backend: k.backend,
  };
}

const MAX_VERSION = 1_000_000_000;

export function registryRoutes(deps: RegistryRouteDeps): Hono {
  const app = new Hono();
  const streams = deps.streams ?? new StreamLimiter();

  // A key is published once it has been activated (generated keys wait for their ceremony).
  const published = (k: KeyEntry) => k.status !== 'generated';

  app.get('/api/v1/keys', (c) => c.json(deps.keyring.list().filter(published).map(keyView)));

  app.get('/api/v1/keys/:keyId', (c) => {
    const keyId = c.req.param('keyId');
    if (!isKeyId(keyId)) throw new LedgerError('not_found', 'no such key (key ids are 64 lowercase hex characters)');
    const entry = deps.keyring.get(keyId);
    if (!entry || !published(entry)) throw new LedgerError('not_found', `no key ${keyId}`);
    return c.json(keyView(entry));
  });

  app.get('/api/v1/trust/anchors', (c) => {
    const at = c.req.query('at');
    let anchors;
    if (at !== undefined) {
      const ms = RFC3339_RE.test(at) ? parseRfc3339(at) : undefined; // calendar-valid: 2026-02-30 is refused, not shifted
      const instant = ms === undefined ? undefined : new Date(ms);
      if (!instant || Number.isNaN(instant.getTime())) throw new LedgerError('bad_request', '"at" must be an RFC 3339 instant, e.g. 2026-11-01T00:00:00Z', { reason: 'invalid_time' });
      anchors = anchorsProjection.at(deps.readModel, instant.toISOString());
      if (!anchors) throw new LedgerError('not_found', `no anchors were published at or before ${instant.toISOString()}`);
    } else {
      anchors = anchorsProjection.latest(deps.readModel);
      if (!anchors) throw new LedgerError('not_ready', 'no anchors have been published yet');
    }
    const etag = `"anchors-v${anchors.version}"`;
    const headers = { etag, 'cache-control': 'no-cache' };
    const inm = c.req.header('if-none-match');
    if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}`)) return c.body(null, 304, headers);
    return c.json(anchors, 200, headers);
  });

  /** One anchors version: a verifier walks 1..latest to check the whole chain (offline kits). */
  app.get('/api/v1/trust/anchors/versions/:version', (c) => {
    const raw = c.req.param('version');
    if (!/^[1-9]\d{0,9}$/.test(raw) || Number(raw) > MAX_VERSION) throw new LedgerError('bad_request', 'version must be a positive integer', { reason: 'invalid_version' });
    const anchors = anchorsProjection.byVersion(deps.readModel, Number(raw));
    if (!anchors) throw new LedgerError('not_found', `no anchors version ${raw}`);
    return c.json(anchors);
  });

  /**
   * One SSE event per anchors version (`id` = version, `event: anchors`, `data` = the document).
   * A client resumes with `Last-Event-ID` (or `?after=`): versions after it are sent first.
   * Without either, the stream starts with the latest version.
   */
  app.get('/api/v1/trust/anchors/stream', (c) => {
    const anchors = deps.anchors;
    if (!anchors) throw new LedgerError('not_found', 'no anchors stream on this instance');
    // Hono answers HEAD with this handler and drops the body without cancelling it: subscribe to nothing.
    if (c.req.method === 'HEAD') return c.body(null, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const raw = c.req.header('last-event-id') ?? c.req.query('after');
    let after: number | undefined;
    if (raw !== undefined) {
      if (!/^\d{1,10}$/.test(raw)) throw new LedgerError('bad_request', 'Last-Event-ID / after must be an anchors version number', { reason: 'invalid_event_id' });
      after = Number(raw);
    }
    // Over the stream caps: refused before anything is subscribed.
    const lease = streams.acquire(c);
    return streamSSE(c, async (stream) => {
      lease.attach(stream);
      let sent = after ?? 0;
      const queue: Anchors[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = anchors.subscribe((v) => {
        queue.push(v);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      const initial = after === undefined ? [anchors.latest()].filter((v): v is Anchors => v !== undefined) : anchors.since(after);
      try {
        for (const v of initial) {
          if (!(await lease.write(() => stream.writeSSE({ id: String(v.version), event: 'anchors', data: JSON.stringify(v) })))) return;
          sent = v.version;
        }
        while (!stream.aborted && !stream.closed) {
          const v = queue.shift();
          if (v) {
            if (v.version <= sent) continue;
            if (!(await lease.write(() => stream.writeSSE({ id: String(v.version), event: 'anchors', data: JSON.stringify(v) })))) return;
            sent = v.version;
            continue;
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, SSE_KEEPALIVE_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
          if (queue.length === 0 && !stream.aborted && !(await lease.write(() => stream.write(': keep-alive\n\n')))) return;
        }
      } finally {
        unsubscribe();
        lease.release();
      }
    });
  });

  app.get('/api/v1/bundles/:bundleId', async (c) => {
    const bundleId = c.req.param('bundleId');
    if (!isBundleId(bundleId)) throw new LedgerError('not_found', 'no such bundle (bundle ids are 64 lowercase hex characters)');
    const view = await deps.signing.bundle(bundleId);
    if (!view) throw new LedgerError('not_found', `no bundle ${bundleId}`);
    return c.json(view);
  });

  app.get('/api/v1/bundles/:bundleId/versions/:version', async (c) => {
    const bundleId = c.req.param('bundleId');
    const raw = c.req.param('version');
    if (!isBundleId(bundleId)) throw new LedgerError('not_found', 'no such bundle (bundle ids are 64 lowercase hex characters)');
    if (!/^[1-9]\d{0,9}$/.test(raw) || Number(raw) > MAX_VERSION) throw new LedgerError('bad_request', 'version must be a positive integer', { reason: 'invalid_version' });
    const view = await deps.signing.bundleVersion(bundleId, Number(raw));
    if (!view) throw new LedgerError('not_found', `bundle ${bundleId} has no version ${raw}`);
    return c.json(view);
  });

  return app;
}
