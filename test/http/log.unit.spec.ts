import { describe, expect, it } from 'vitest';
import type { LogService } from '../../src/app/transparency/log-service.ts';
import { createApp } from '../../src/http/app.ts';
import type { LedgerError } from '../../src/errors.ts';
import { logRoutes, TRUSTED_ROOT_MEDIA_TYPE } from '../../src/http/log.ts';
import { expectProblem } from '../support/problem.ts';
import { baseDeps, fakeOf } from './fakes.ts';

const SIZE = 3;
const CHECKPOINT = { size: SIZE, rootHash: 'cm9vdA==', note: 'sigledger.test/log\n3\ncm9vdA==\n\n— sig\n' };
const hash = (n: number) => Buffer.alloc(32, n);

/** The log and trust routes over a fake log of SIZE entries (or none checkpointed yet). */
function logApp(checkpointed = true) {
  const calls: string[] = [];
  const reader = {
    latestCheckpoint: () => (checkpointed ? CHECKPOINT : undefined),
    size: () => SIZE,
    rootAt: (size: number) => hash(size),
    tile: (level: number, index: number) => (level === 0 && index === 0 ? Buffer.concat([hash(1), hash(2), hash(3)]) : undefined),
    entryBundle: () => undefined,
  };
  const log = fakeOf<LogService>('log', {
    reader: reader as unknown as LogService['reader'],
    inclusionProof: (index, size) => (calls.push(`inclusion ${index} ${size}`), [hash(7)]),
    consistencyProof: (from, to) => (calls.push(`consistency ${from} ${to}`), [hash(8), hash(9)]),
    trustedRoot: () => ({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [] }) as unknown as ReturnType<LogService['trustedRoot']>,
  });
  const app = createApp({ ...baseDeps().deps, log });
  return { get: (path: string) => app.request(path), calls };
}

/** A 200 with this media type that no cache may keep (the log grows). */
function expectUncached(res: Response, contentType: string): void {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe(contentType);
  expect(res.headers.get('cache-control')).toBe('no-store');
}

describe('log and trust routes (unit)', () => {
  describe('when the checkpoint is read', () => {
    it('answers the signed note as text, never cached', async () => {
      const res = await logApp().get('/api/v1/log/checkpoint');
      expectUncached(res, 'text/plain; charset=utf-8');
      expect(await res.text()).toBe(CHECKPOINT.note);
    });

    it('answers 404 before the first checkpoint', async () => {
      await expectProblem(await logApp(false).get('/api/v1/log/checkpoint'), 404, 'not_found');
    });
  });

  describe('when an inclusion proof is asked for', () => {
    it('answers the root at the tree size and the proof hashes in base64', async () => {
      const { get, calls } = logApp();
      const res = await get('/api/v1/log/proof/inclusion?index=1&treeSize=3');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ logIndex: 1, treeSize: 3, rootHash: hash(3).toString('base64'), hashes: [hash(7).toString('base64')] });
      expect(calls).toEqual(['inclusion 1 3']);
    });

    it.each([
      ['a missing index', '?treeSize=3', 'missing_parameter'],
      ['a signed index', '?index=-1&treeSize=3', 'invalid_number'],
      ['an exponent', '?index=1e2&treeSize=3', 'invalid_number'],
      ['a number beyond 2^53', '?index=9007199254740993&treeSize=3', 'invalid_number'],
      ['a tree beyond the log', '?index=0&treeSize=4', 'tree_size_out_of_range'],
      ['an index outside the tree', '?index=3&treeSize=3', 'index_out_of_range'],
    ])('answers %s with 400 bad_request and its reason, proving nothing', async (_name, query, reason) => {
      const { get, calls } = logApp();
      await expectProblem(await get(`/api/v1/log/proof/inclusion${query}`), 400, 'bad_request', { reason });
      expect(calls).toEqual([]);
    });
  });

  describe('when a consistency proof is asked for', () => {
    it('answers the proof hashes', async () => {
      const { get, calls } = logApp();
      const res = await get('/api/v1/log/proof/consistency?from=1&to=3');
      expect(await res.json()).toEqual({ from: 1, to: 3, hashes: [hash(8), hash(9)].map((h) => h.toString('base64')) });
      expect(calls).toEqual(['consistency 1 3']);
    });

    it.each([
      ['from 0', '?from=0&to=2', 'from_zero'],
      ['from after to', '?from=3&to=2', 'from_after_to'],
      ['to beyond the log', '?from=1&to=4', 'tree_size_out_of_range'],
    ])('answers %s with 400 bad_request', async (_name, query, reason) => {
      await expectProblem(await logApp().get(`/api/v1/log/proof/consistency${query}`), 400, 'bad_request', { reason });
    });
  });

  describe('when tiles and entries are read', () => {
    it('answers a partial tile as bytes, never cached', async () => {
      const res = await logApp().get('/api/v1/log/tile/0/000.p/3');
      expectUncached(res, 'application/octet-stream');
      expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.concat([hash(1), hash(2), hash(3)]));
    });

    it('answers 404 for a full tile the log has not grown to yet, and 400 for a path that is not a tile', async () => {
      await expectProblem(await logApp().get('/api/v1/log/tile/0/000'), 404, 'not_found');
      await expectProblem(await logApp().get('/api/v1/log/tile/0/0'), 400, 'bad_request', { reason: 'invalid_tile_path' });
      await expectProblem(await logApp().get(`/api/v1/log/tile/0/${'x001/'.repeat(60)}000`), 400, 'bad_request', { reason: 'invalid_tile_path' });
    });

    it('answers 400 for an entry beyond the checkpoint', async () => {
      await expectProblem(await logApp().get('/api/v1/log/entries/3'), 400, 'bad_request', { reason: 'index_out_of_range' });
      await expectProblem(await logApp(false).get('/api/v1/log/entries/0'), 400, 'bad_request', { reason: 'index_out_of_range' });
    });
  });

  describe('when a query parameter is repeated (issue 16: one reading of a query)', () => {
    it.each([
      ['treeSize twice, the first one valid', '/api/v1/log/proof/inclusion?index=0&treeSize=3&treeSize=999999', 'treeSize'],
      ['treeSize twice, the second one valid', '/api/v1/log/proof/inclusion?index=0&treeSize=999999&treeSize=3', 'treeSize'],
      ['index twice', '/api/v1/log/proof/inclusion?index=0&index=1&treeSize=3', 'index'],
      ['treeSize once plainly and once percent-encoded', '/api/v1/log/proof/inclusion?index=0&treeSize=3&tree%53ize=2', 'treeSize'],
      ['from twice', '/api/v1/log/proof/consistency?from=1&from=2&to=3', 'from'],
      ['to twice (same value)', '/api/v1/log/proof/consistency?from=1&to=3&to=3', 'to'],
    ])('refuses %s with 400 repeated_parameter and computes no proof', async (_what, path, parameter) => {
      const { get, calls } = logApp();
      await expectProblem(await get(path), 400, 'bad_request', { reason: 'repeated_parameter', parameter });
      expect(calls).toEqual([]);
    });

    it('refuses it in the route itself too (without the app-wide middleware)', async () => {
      const log = fakeOf<LogService>('log', { reader: { size: () => SIZE, rootAt: () => hash(1) } as unknown as LogService['reader'], inclusionProof: () => [] });
      const app = logRoutes({ log });
      app.onError((err, c) => c.json({ reason: (err as LedgerError).details?.reason }, 400));
      const res = await app.request('/api/v1/log/proof/inclusion?index=0&treeSize=1&treeSize=3');
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ reason: 'repeated_parameter' });
    });
  });

  describe('when the trusted root is fetched', () => {
    it('answers the log’s TrustedRoot with the Sigstore media type', async () => {
      const res = await logApp().get('/api/v1/trust/trusted_root.json');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(TRUSTED_ROOT_MEDIA_TYPE);
      expect(await res.json()).toEqual({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [] });
    });
  });
});
