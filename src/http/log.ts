/**
 * Transparency-log routes (SPEC §2, C2SP formats) and the TrustedRoot. Every number in a path or
 * query is an attacker's: strictly decimal, a safe integer, and within the log, else 400; a query
 * parameter given twice is refused (`repeated_parameter`), never read as its first value.
 */
import { Hono } from 'hono';
import type { LogService } from '../app/transparency/log-service.ts';
import type { TsaService } from '../app/timestamping/tsa-service.ts';
import { trustedRootDocument } from '../app/trust/trusted-root.ts';
import { LedgerError } from '../errors.ts';
import { singleQuery } from './query.ts';
import { decodeEntryBundle, encodeEntryBundle, parseTilePath, TILE_WIDTH, tileWidthAt } from '../log/tiles.ts';

export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot.v0.2+json';

function parseCount(raw: string | undefined, name: string): number {
  if (raw === undefined || raw === '') throw new LedgerError('bad_request', `query parameter "${name}" is required`, { reason: 'missing_parameter', parameter: name });
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new LedgerError('bad_request', `"${name}" must be a non-negative integer below 2^53`, { reason: 'invalid_number', parameter: name });
  }
  return Number(raw);
}

export function logRoutes(deps: { log: LogService; tsa?: TsaService }): Hono {
  const app = new Hono();
  const { log } = deps;

  app.get('/api/v1/log/checkpoint', (c) => {
    const cp = log.reader.latestCheckpoint();
    if (!cp) throw new LedgerError('not_found', 'no checkpoint has been published yet');
    return c.body(cp.note, 200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  });

  app.get('/api/v1/log/entries/:index', (c) => {
    const index = parseCount(c.req.param('index'), 'index');
    const cp = log.reader.latestCheckpoint();
    if (!cp || index >= cp.size) throw new LedgerError('bad_request', `index ${index} is not below the checkpointed log size ${cp?.size ?? 0}`, { reason: 'index_out_of_range' });
    const entry = log.tlogEntry(index, cp);
    if (!entry) throw new LedgerError('not_found', `no entry ${index}`);
    const { logIndex, canonicalizedBody, inclusionProof } = entry;
    return c.json({ logIndex: Number(logIndex), canonicalizedBody, inclusionProof });
  });

  app.get('/api/v1/log/proof/inclusion', (c) => {
    const index = parseCount(singleQuery(c, 'index'), 'index');
    const treeSize = parseCount(singleQuery(c, 'treeSize'), 'treeSize');
    const size = log.reader.size();
    if (treeSize > size) throw new LedgerError('bad_request', `treeSize ${treeSize} is beyond the log size ${size}`, { reason: 'tree_size_out_of_range' });
    if (index >= treeSize) throw new LedgerError('bad_request', `index ${index} is not below treeSize ${treeSize}`, { reason: 'index_out_of_range' });
    return c.json({
      logIndex: index,
      treeSize,
      rootHash: log.reader.rootAt(treeSize).toString('base64'),
      hashes: log.inclusionProof(index, treeSize).map((h) => h.toString('base64')),
    });
  });

  app.get('/api/v1/log/proof/consistency', (c) => {
    const from = parseCount(singleQuery(c, 'from'), 'from');
    const to = parseCount(singleQuery(c, 'to'), 'to');
    const size = log.reader.size();
    if (to > size) throw new LedgerError('bad_request', `to ${to} is beyond the log size ${size}`, { reason: 'tree_size_out_of_range' });
    if (from > to) throw new LedgerError('bad_request', `from ${from} is greater than to ${to}`, { reason: 'from_after_to' });
    if (from === 0) throw new LedgerError('bad_request', 'from must be at least 1 (every tree is consistent with the empty one)', { reason: 'from_zero' });
    return c.json({ from, to, hashes: log.consistencyProof(from, to).map((h) => h.toString('base64')) });
  });

  app.get('/api/v1/log/tile/*', (c) => {
    const path = new URL(c.req.url).pathname.slice('/api/v1/log/'.length);
    const tile = path.length <= 200 ? parseTilePath(path) : undefined;
    if (!tile) throw new LedgerError('bad_request', 'not a C2SP tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])', { reason: 'invalid_tile_path' });
    const size = log.reader.size();
    const width = tile.width ?? TILE_WIDTH;
    const headers = { 'content-type': 'application/octet-stream', 'cache-control': tile.width === undefined ? 'public, max-age=31536000, immutable' : 'no-store' };
    // Entry bundles have the width of the level-0 tile with the same index.
    if (tileWidthAt(tile.kind === 'entries' ? 0 : tile.level, tile.index, size) < width) throw new LedgerError('not_found', 'no such tile (yet)');
    if (tile.kind === 'entries') {
      const bundle = log.reader.entryBundle(tile.index);
      if (!bundle) throw new LedgerError('not_found', 'no such entry bundle (yet)');
      const body = width === TILE_WIDTH ? bundle : encodeEntryBundle(decodeEntryBundle(bundle).slice(0, width));
      return c.body(new Uint8Array(body), 200, headers);
    }
    const hashes = log.reader.tile(tile.level, tile.index);
    if (!hashes || hashes.length < width * 32) throw new LedgerError('not_found', 'no such tile (yet)');
    return c.body(new Uint8Array(hashes.subarray(0, width * 32)), 200, headers);
  });

  app.get('/api/v1/trust/trusted_root.json', (c) => {
    return c.body(JSON.stringify(trustedRootDocument(log, deps.tsa)), 200, { 'content-type': TRUSTED_ROOT_MEDIA_TYPE });
  });

  return app;
}
