/**
 * The bundles of a kit, from the service: each bundle's version list, then every version (and
 * its re-signing attestation), checked to be Sigstore bundles before anything is written.
 */
import { isObject } from '../../json.ts';
import { FetchError, InputError } from '../common/errors.ts';
import { getJson } from '../common/http-client.ts';
import { LIMITS } from '../common/limits.ts';
import { printable } from '../common/printable.ts';

export interface BundleSummary {
  readonly bundleId: string;
  readonly latestVersion: number;
  readonly versions: unknown[];
}

export interface BundleVersion {
  readonly bundle: Record<string, unknown>;
  readonly attestation?: unknown;
}

/** GET /api/v1/bundles/{id}: the version list. */
export async function fetchSummary(base: string, id: string): Promise<BundleSummary> {
  const path = `/api/v1/bundles/${id}`;
  const body = await getJson(base, path, LIMITS.bundle * 2);
  if (!isObject(body) || typeof body.latestVersion !== 'number' || !Number.isSafeInteger(body.latestVersion) || body.latestVersion < 1 || !Array.isArray(body.versions)) {
    throw new InputError(`GET ${path} is not a bundle history`);
  }
  if (body.latestVersion > LIMITS.bundleVersions) throw new InputError(`bundle ${id} has ${body.latestVersion} versions, more than the ${LIMITS.bundleVersions} allowed`);
  return { bundleId: id, latestVersion: body.latestVersion, versions: body.versions };
}

/** The summary of a bundle a previous kit holds: one the service does not know is said to be the kit's. */
export async function fetchKeptSummary(base: string, id: string): Promise<BundleSummary> {
  try {
    return await fetchSummary(base, id);
  } catch (err) {
    if (!(err instanceof FetchError) || !/ answered HTTP 404/.test(err.message)) throw err;
    throw new FetchError(`bundle ${id}, already in the kit, is not on ${base} (${err.message}); nothing was written: export into a new directory, or from the service that wrote this kit`);
  }
}

/** GET /api/v1/bundles/{id}/versions/{n}, its bundle and attestation parsed as Sigstore bundles. */
export async function fetchVersion(base: string, id: string, version: number): Promise<BundleVersion> {
  const { bundleFromJSON } = await import('@sigstore/bundle');
  const path = `/api/v1/bundles/${id}/versions/${version}`;
  const body = await getJson(base, path, LIMITS.bundle * 2);
  if (!isObject(body) || body.version !== version || !isObject(body.bundle)) throw new InputError(`GET ${path} is not that bundle version`);
  for (const field of ['bundle', 'attestation'] as const) {
    if (body[field] === undefined) continue;
    try {
      bundleFromJSON(body[field]);
    } catch (err) {
      throw new InputError(`GET ${path}: ${field} is not a Sigstore bundle (${printable((err as Error).message, 200)})`);
    }
  }
  return { bundle: body.bundle, ...(body.attestation !== undefined ? { attestation: body.attestation } : {}) };
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
