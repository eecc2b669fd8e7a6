/**
 * Trust material from a running service, over the bounded HTTP client: trusted_root.json, the
 * anchors history version by version, and the latest checkpoint. Every document is shape-checked
 * as it arrives (an unexpected answer is an InputError; an error status a FetchError).
 */
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { FetchError, InputError } from '../common/errors.ts';
import { answeredLine, getJson, httpGet } from '../common/http-client.ts';
import { LIMITS } from '../common/limits.ts';
import { decodeUtf8 } from '../common/strict-json.ts';
import { validateAnchors, validateTrustedRoot } from './documents.ts';
import type { TrustInput } from './evaluate.ts';

export const TRUSTED_ROOT_PATH = '/api/v1/trust/trusted_root.json';

/** The service's Sigstore TrustedRoot (log key, TSA chain), shape-checked. */
export async function fetchTrustedRoot(base: string): Promise<Record<string, unknown>> {
  return validateTrustedRoot(await getJson(base, TRUSTED_ROOT_PATH, LIMITS.document), `GET ${TRUSTED_ROOT_PATH}`);
}

/** The latest checkpoint text, or undefined when the log has none yet (404). */
export async function getCheckpoint(base: string): Promise<string | undefined> {
  const path = '/api/v1/log/checkpoint';
  const a = await httpGet(`${base}${path}`, LIMITS.checkpoint, 'text/plain');
  if (a.status === 404) return undefined;
  if (a.status !== 200) throw new FetchError(answeredLine(path, a));
  return decodeUtf8(a.body, `GET ${path}`);
}

/** Anchors versions `from`..`to` through `GET /api/v1/trust/anchors/versions/{n}`. */
export async function fetchAnchorsVersions(base: string, from: number, to: number): Promise<AnchorsDocument[]> {
  const out: AnchorsDocument[] = [];
  for (let v = from; v <= to; v++) {
    const path = `/api/v1/trust/anchors/versions/${v}`;
    const doc = validateAnchors(await getJson(base, path, LIMITS.document), `GET ${path}`);
    if (doc.version !== v) throw new InputError(`GET ${path} answered version ${doc.version}`);
    out.push(doc);
  }
  return out;
}

/** The latest anchors version of a service, shape-checked and bounded. */
export async function fetchLatestAnchors(base: string): Promise<AnchorsDocument> {
  const latest = validateAnchors(await getJson(base, '/api/v1/trust/anchors', LIMITS.document), 'GET /api/v1/trust/anchors');
  if (latest.version > LIMITS.anchorsVersions) throw new InputError(`the anchors history has ${latest.version} versions, more than the ${LIMITS.anchorsVersions} allowed`);
  return latest;
}

/** trusted_root.json, the whole anchors history and the latest checkpoint of a service. */
export async function fetchTrust(base: string): Promise<TrustInput> {
  const trustedRoot = await fetchTrustedRoot(base);
  const latest = await fetchLatestAnchors(base);
  const anchors = await fetchAnchorsVersions(base, 1, latest.version);
  const checkpoint = await getCheckpoint(base);
  return { kind: 'url', source: base, trustedRoot, anchors, latest, ...(checkpoint !== undefined ? { checkpoint } : {}), notes: [] };
}
