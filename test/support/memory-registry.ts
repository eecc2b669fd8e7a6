/**
 * A small in-memory OCI distribution registry *with* the OCI 1.1 referrers API (Debian's
 * Distribution 2.8 has none): monolithic blob uploads, manifests by tag or digest, `OCI-Subject`
 * on a pushed manifest that has a `subject`, `GET /v2/<name>/referrers/<digest>` with the
 * `artifactType` filter, and optional Basic auth. Enough for `sigledger attach` and the
 * verify/referrers route to take their referrers-API paths against a real HTTP server.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveHostile, type Hostile } from './hostile-registry.ts';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Stored {
  readonly bytes: Buffer;
  readonly mediaType: string;
}

export interface MemoryRegistry extends Hostile {
  /** Manifests pushed with a `subject`, by subject digest. */
  readonly referrers: Map<string, { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }[]>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startMemoryRegistry(options: { basic?: { username: string; password: string } } = {}): Promise<MemoryRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, Stored>(); // key: `${name}@${digest}` and `${name}:${tag}`
  const referrers: MemoryRegistry['referrers'] = new Map();
  const uploads = new Set<string>();
  const expected = options.basic ? `Basic ${Buffer.from(`${options.basic.username}:${options.basic.password}`).toString('base64')}` : undefined;

  const json = (res: ServerResponse, status: number, code: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code }] }));

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (expected && req.headers.authorization !== expected) return res.writeHead(401, { 'www-authenticate': 'Basic realm="memory"' }).end();
    if (url.pathname === '/v2/') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const m = /^\/v2\/(.+)\/(blobs\/uploads\/?|blobs|manifests|referrers)\/?([^/]*)$/.exec(url.pathname);
    if (!m) return json(res, 404, 'NOT_FOUND');
    const [, name, kind, ref] = m as unknown as [string, string, string, string];
    if (kind.startsWith('blobs/uploads')) {
      if (req.method === 'POST') {
        const id = randomUUID();
        uploads.add(id);
        return res.writeHead(202, { location: `/v2/${name}/blobs/uploads/${id}` }).end();
      }
      if (req.method === 'PUT' && uploads.delete(ref)) {
        const bytes = await body(req);
        const digest = url.searchParams.get('digest');
        if (digest !== sha256(bytes)) return json(res, 400, 'DIGEST_INVALID');
        blobs.set(digest, bytes);
        return res.writeHead(201, { 'docker-content-digest': digest, location: `/v2/${name}/blobs/${digest}` }).end();
      }
      return json(res, 404, 'BLOB_UPLOAD_UNKNOWN');
    }
    if (kind === 'blobs') {
      const bytes = blobs.get(ref);
      if (!bytes) return req.method === 'HEAD' ? res.writeHead(404).end() : json(res, 404, 'BLOB_UNKNOWN');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), 'docker-content-digest': ref });
      return res.end(req.method === 'HEAD' ? undefined : bytes);
    }
    if (kind === 'manifests') {
      const key = ref.startsWith('sha256:') ? `${name}@${ref}` : `${name}:${ref}`;
      if (req.method === 'PUT') {
        const bytes = await body(req);
        const digest = sha256(bytes);
        if (ref.startsWith('sha256:') && ref !== digest) return json(res, 400, 'DIGEST_INVALID');
        const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const stored = { bytes, mediaType };
        manifests.set(`${name}@${digest}`, stored);
        manifests.set(key, stored);
        const parsed = JSON.parse(bytes.toString('utf8')) as { subject?: { digest: string }; artifactType?: string; config?: { mediaType?: string }; annotations?: Record<string, string> };
        const headers: Record<string, string> = { 'docker-content-digest': digest, location: `/v2/${name}/manifests/${digest}` };
        if (parsed.subject) {
          const list = referrers.get(parsed.subject.digest) ?? [];
          if (!list.some((d) => d.digest === digest)) {
            list.push({ mediaType, digest, size: bytes.length, ...(parsed.artifactType ?? parsed.config?.mediaType ? { artifactType: parsed.artifactType ?? parsed.config!.mediaType! } : {}), ...(parsed.annotations ? { annotations: parsed.annotations } : {}) });
          }
          referrers.set(parsed.subject.digest, list);
          headers['oci-subject'] = parsed.subject.digest;
        }
        return res.writeHead(201, headers).end();
      }
      const stored = manifests.get(key);
      if (!stored) return json(res, 404, 'MANIFEST_UNKNOWN');
      res.writeHead(200, { 'content-type': stored.mediaType, 'content-length': String(stored.bytes.length), 'docker-content-digest': sha256(stored.bytes) });
      return res.end(req.method === 'HEAD' ? undefined : stored.bytes);
    }
    // referrers
    const type = url.searchParams.get('artifactType');
    const list = (referrers.get(ref) ?? []).filter((d) => type === null || d.artifactType === type);
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: list }));
    res.writeHead(200, { 'content-type': INDEX, 'content-length': String(index.length), ...(type !== null ? { 'oci-filters-applied': 'artifactType' } : {}) });
    return res.end(index);
  };

  const server = await serveHostile((req, res, url) => {
    handle(req, res, url).catch(() => res.writeHead(500).end());
  });
  return Object.assign(server, { referrers });
}
