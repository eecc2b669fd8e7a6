/**
 * OCI distribution client over node:http/https (./transport.ts, no dependency). Every operation is bounded:
 *
 * - time: one deadline per operation (`AbortSignal.timeout`, combined with the caller's signal),
 *   covering redirects, the token round trip and reading the body;
 * - size: bodies are stream-read against a limit per kind of object and refused with
 *   `oci_too_large` as soon as the declared Content-Length or the bytes read exceed it;
 * - redirects: `redirect: 'manual'`, followed only within the registry's own origin (the token
 *   realm's own origin for token requests), at most `maxRedirects` (3);
 * - content types are checked strictly (manifests against the Accept list, indexes and tokens
 *   against their exact type), digests are recomputed and compared.
 *
 * Auth: anonymous first; on 401 with `WWW-Authenticate: Basic` the configured credentials are
 * sent; on `Bearer realm=…,service=…,scope=…` a token is fetched from the realm (with the
 * credentials, if any) and the request is retried once. Messages never contain credentials,
 * tokens or response bodies (only the registry's own error codes).
 *
 * Network: every request (each redirect hop and each token request included) resolves its host
 * once and connects only to the addresses resolved (src/oci/transport.ts). With a `network`
 * policy (the service) those addresses must all be public (src/oci/address-policy.ts) unless the
 * host is allow-listed, else AddressNotAllowedError before any connection; a Bearer realm must
 * then be on the registry's own host or allow-listed. Without one (the CLI, on its user's own
 * network) any address is used.
 */
import { createHash } from 'node:crypto';
import { classifyHostLiteral, isPublicAddress } from './address-policy.ts';
import { AddressNotAllowedError, OciError, type OciErrorCode } from './errors.ts';
import { isDigest, parseDigest, parseRegistryHost, parseRepositoryName, parseTag, referrersTagFor, registryScheme, type Digest } from './reference.ts';
import { MEDIA_TYPE, parseDescriptor, parseIndex, type OciDescriptor, type OciIndex } from './types.ts';
import { isObject } from '../json.ts';
import { Lru } from '../util/lru.ts';
import { readLimited } from '../util/read-limited.ts';
import { roundTrip, socketHost, systemResolver, type ResolvedAddress, type Resolver } from './transport.ts';

/** Which addresses the client may connect to (see the module comment). */
export interface NetworkPolicy {
  /** Hosts contacted whatever they resolve to (SIGLEDGER_REGISTRIES); every other must resolve to public addresses only. */
  readonly allowListed: (url: URL) => boolean;
}

export interface OciCredentials {
  readonly username: string;
  readonly password: string;
}

export interface OciClientOptions {
  /** `HOST[:PORT]` of the registry. */
  readonly registry: string;
  /** Default: `http` for loopback and `insecureRegistries`, else `https`. */
  readonly scheme?: 'http' | 'https';
  readonly insecureRegistries?: readonly string[];
  /** Basic credentials (sent on a Basic challenge, or to the token realm on a Bearer challenge). */
  readonly credentials?: OciCredentials;
  /** Time bound of one operation, all round trips included. Default 15 s. */
  readonly timeoutMs?: number;
  /** Default 4 MiB (the distribution spec's manifest limit). */
  readonly maxManifestBytes?: number;
  /** Default 32 MiB. */
  readonly maxBlobBytes?: number;
  /** Token endpoint answers. Default 64 KiB. */
  readonly maxTokenBytes?: number;
  /** Default 3. */
  readonly maxRedirects?: number;
  readonly userAgent?: string;
  /** May a Bearer challenge send us (and the credentials) to this token realm host? Default: any https realm; with `network`, the registry's own host or an allow-listed one. */
  readonly allowRealm?: (host: string) => boolean;
  /** Address policy (the service); none: any address (the CLI). */
  readonly network?: NetworkPolicy;
  /** Name resolution (default node:dns lookup, every address). */
  readonly resolve?: Resolver;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface ManifestResult {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly bytes: Uint8Array;
  readonly json: Record<string, unknown>;
}

export interface PushedManifest {
  readonly digest: Digest;
  readonly size: number;
  /** The `OCI-Subject` header: set by registries with a referrers API (no fallback index needed). */
  readonly ociSubject: string | undefined;
}

export interface ReferrersResult {
  readonly manifests: readonly OciDescriptor[];
  /** `referrers_api`: OCI 1.1 `GET /v2/<name>/referrers/<digest>`; `referrers_tag`: the 404 fallback. */
  readonly source: 'referrers_api' | 'referrers_tag';
}

const DEFAULTS = {
  timeoutMs: 15_000,
  maxManifestBytes: 4 * 1024 * 1024,
  maxBlobBytes: 32 * 1024 * 1024,
  maxTokenBytes: 64 * 1024,
  maxRedirects: 3,
  maxErrorBodyBytes: 16 * 1024,
  maxReferrerPages: 16,
  /** Bearer tokens kept (one per repository scope), least recently used dropped first. */
  maxTokens: 256,
} as const;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export const sha256Digest = (bytes: Uint8Array): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Media type of a Content-Type header value (parameters dropped, lower-cased). */
const mediaTypeOf = (h: string | null): string => (h ?? '').split(';')[0]!.trim().toLowerCase();

interface Op {
  readonly what: string;
  readonly signal: AbortSignal;
  readonly deadline: AbortSignal;
  readonly external: AbortSignal | undefined;
  readonly timeoutMs: number;
}

interface Req {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  readonly url: URL;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  /** Auth scope, e.g. `repository:team/app:pull`. */
  readonly scope: string;
}

interface Challenge {
  readonly scheme: string;
  readonly params: Record<string, string>;
}

/** Parses one `WWW-Authenticate` challenge: `Scheme k="v", k2=v2`. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/gy;
  const rest = m[2]!;
  re.lastIndex = 0;
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    while (rest[re.lastIndex] === ' ') re.lastIndex++;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export class OciClient {
  readonly registry: string;
  readonly baseUrl: URL;
  private readonly credentials: OciCredentials | undefined;
  private readonly timeoutMs: number;
  private readonly maxManifestBytes: number;
  private readonly maxBlobBytes: number;
  private readonly maxTokenBytes: number;
  private readonly maxRedirects: number;
  private readonly userAgent: string;
  private readonly allowRealm: ((host: string) => boolean) | undefined;
  private readonly network: NetworkPolicy | undefined;
  private readonly resolve: Resolver;
  /** Bearer tokens by scope. */
  private readonly tokens = new Lru<string, string>({ capacity: DEFAULTS.maxTokens });
  private basic = false;

  constructor(options: OciClientOptions) {
    this.registry = parseRegistryHost(options.registry);
    const scheme = options.scheme ?? registryScheme(this.registry, options.insecureRegistries);
    this.baseUrl = new URL(`${scheme}://${this.registry}/`);
    this.credentials = options.credentials;
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULTS.maxManifestBytes;
    this.maxBlobBytes = options.maxBlobBytes ?? DEFAULTS.maxBlobBytes;
    this.maxTokenBytes = options.maxTokenBytes ?? DEFAULTS.maxTokenBytes;
    this.maxRedirects = options.maxRedirects ?? DEFAULTS.maxRedirects;
    this.userAgent = options.userAgent ?? 'sigledger-oci/0.1';
    this.network = options.network;
    this.resolve = options.resolve ?? systemResolver;
    this.allowRealm = options.allowRealm;
  }

  // ---------------------------------------------------------------- operations

  /** Uploads a blob (HEAD; if absent monolithic POST + PUT) and returns its descriptor. */
  async pushBlob(repo: string, bytes: Uint8Array, mediaType = 'application/octet-stream', call: CallOptions = {}): Promise<OciDescriptor> {
    const name = parseRepositoryName(repo);
    const digest = sha256Digest(bytes);
    const descriptor: OciDescriptor = { mediaType, digest, size: bytes.length };
    if (bytes.length > this.maxBlobBytes) throw new OciError('oci_too_large', `blob of ${bytes.length} bytes exceeds the ${this.maxBlobBytes}-byte limit`);
    return this.operation(`push blob ${name}@${digest}`, call, async (op) => {
      const scope = `repository:${name}:pull,push`;
      const head = await this.send(op, { method: 'HEAD', url: this.url(`v2/${name}/blobs/${digest}`), scope });
      await discard(head);
      if (head.status === 200) return descriptor;
      if (head.status !== 404) throw await this.statusError(op, head);

      const start = await this.send(op, { method: 'POST', url: this.url(`v2/${name}/blobs/uploads/`), headers: { 'content-length': '0' }, scope });
      if (start.status !== 202) throw await this.statusError(op, start);
      await discard(start);
      const location = this.sameOriginLocation(op, start, 'upload location');
      location.searchParams.append('digest', digest);
      const put = await this.send(op, {
        method: 'PUT',
        url: location,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
        body: bytes,
        scope,
      });
      if (put.status !== 201) throw await this.statusError(op, put);
      await discard(put);
      this.checkDigestHeader(op, put, digest);
      return descriptor;
    });
  }

  /** PUTs a manifest under a tag or its digest; returns the digest of the bytes sent. */
  async pushManifest(
    repo: string,
    reference: string,
    manifest: Uint8Array | Record<string, unknown>,
    mediaType: string,
    call: CallOptions = {},
  ): Promise<PushedManifest> {
    const name = parseRepositoryName(repo);
    const ref = isDigest(reference) ? reference : parseTag(reference);
    const bytes = manifest instanceof Uint8Array ? manifest : new TextEncoder().encode(JSON.stringify(manifest));
    const digest = sha256Digest(bytes);
    if (isDigest(ref) && ref !== digest) throw new OciError('oci_invalid_reference', `manifest digest ${digest} does not match the reference ${ref}`);
    if (bytes.length > this.maxManifestBytes) throw new OciError('oci_too_large', `manifest of ${bytes.length} bytes exceeds the ${this.maxManifestBytes}-byte limit`);
    return this.operation(`push manifest ${name}:${ref}`, call, async (op) => {
      const res = await this.send(op, {
        method: 'PUT',
        url: this.url(`v2/${name}/manifests/${ref}`),
        headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
        body: bytes,
        scope: `repository:${name}:pull,push`,
      });
      if (res.status !== 201) throw await this.statusError(op, res);
      await discard(res);
      this.checkDigestHeader(op, res, digest);
      return { digest, size: bytes.length, ociSubject: res.headers.get('oci-subject') ?? undefined };
    });
  }

  /** GETs a manifest; its Content-Type must be one of `accept`; the digest is recomputed. */
  async getManifest(repo: string, reference: string, accept: readonly string[], call: CallOptions & { maxBytes?: number } = {}): Promise<ManifestResult> {
    const name = parseRepositoryName(repo);
    const ref = isDigest(reference) ? reference : parseTag(reference);
    if (accept.length === 0) throw new TypeError('getManifest: accept must name at least one media type');
    const limit = Math.min(call.maxBytes ?? this.maxManifestBytes, this.maxManifestBytes);
    return this.operation(`get manifest ${name}:${ref}`, call, (op) => this.fetchManifest(op, name, ref, accept, limit));
  }

  /** GETs a blob and verifies its digest. */
  async getBlob(repo: string, digest: string, call: CallOptions & { maxBytes?: number } = {}): Promise<Uint8Array> {
    const name = parseRepositoryName(repo);
    const d = parseDigest(digest);
    const limit = Math.min(call.maxBytes ?? this.maxBlobBytes, this.maxBlobBytes);
    return this.operation(`get blob ${name}@${d}`, call, async (op) => {
      const res = await this.send(op, { method: 'GET', url: this.url(`v2/${name}/blobs/${d}`), scope: `repository:${name}:pull` });
      if (res.status !== 200) throw await this.statusError(op, res);
      const bytes = await this.readBody(op, res, limit);
      if (sha256Digest(bytes) !== d) throw new OciError('oci_bad_response', `${op.what}: content does not match its digest`);
      return bytes;
    });
  }

  /**
   * Referrers of `digest`: the OCI 1.1 referrers API, or — when the registry answers 404 — the
   * referrers tag schema (`sha256-<hex>` image index). `artifactType` is filtered client-side
   * unless the registry says it applied the filter.
   */
  async listReferrers(repo: string, digest: string, options: CallOptions & { artifactType?: string; maxPages?: number } = {}): Promise<ReferrersResult> {
    const maxPages = Math.min(options.maxPages ?? DEFAULTS.maxReferrerPages, DEFAULTS.maxReferrerPages);
    const name = parseRepositoryName(repo);
    const d = parseDigest(digest);
    const { artifactType } = options;
    const keep = (list: readonly OciDescriptor[]) => (artifactType === undefined ? list : list.filter((m) => m.artifactType === artifactType));
    return this.operation(`list referrers of ${name}@${d}`, options, async (op) => {
      const scope = `repository:${name}:pull`;
      let url = this.url(`v2/${name}/referrers/${d}`);
      if (artifactType !== undefined) url.searchParams.set('artifactType', artifactType);
      const manifests: OciDescriptor[] = [];
      for (let page = 0; ; page++) {
        const res = await this.send(op, { method: 'GET', url, headers: { accept: MEDIA_TYPE.imageIndex }, scope });
        if (res.status === 404 && page === 0) {
          await discard(res);
          const fallback = await this.readFallbackIndex(op, name, d);
          return { manifests: keep(fallback?.index.manifests ?? []), source: 'referrers_tag' };
        }
        if (res.status !== 200) throw await this.statusError(op, res);
        this.expectContentType(op, res, [MEDIA_TYPE.imageIndex]);
        const index = parseIndex(parseJson(op, await this.readBody(op, res, this.maxManifestBytes)), op.what);
        manifests.push(...index.manifests);
        const next = nextLink(res.headers.get('link'));
        if (next === undefined) break;
        if (page + 1 >= maxPages) throw new OciError('oci_bad_response', `${op.what}: more than ${maxPages} pages`);
        url = new URL(next, url);
        if (url.origin !== this.baseUrl.origin) throw new OciError('oci_redirect_refused', `${op.what}: next page on another origin refused`);
      }
      return { manifests: keep(manifests), source: 'referrers_api' };
    });
  }

  /**
   * Adds `descriptor` to the referrers tag schema index of `subject` (read-modify-write of tag
   * `sha256-<hex>`). Idempotent: a descriptor whose digest is already listed changes nothing.
   * Not atomic against a concurrent writer (Distribution 2.8 has no conditional PUT).
   */
  async addReferrerToFallbackIndex(
    repo: string,
    subject: string,
    descriptor: OciDescriptor,
    call: CallOptions = {},
  ): Promise<{ digest: Digest; changed: boolean }> {
    const name = parseRepositoryName(repo);
    const d = parseDigest(subject);
    const entry = parseDescriptor(descriptor, 'referrer descriptor');
    return this.operation(`update referrers index of ${name}@${d}`, call, async (op) => {
      const current = await this.readFallbackIndex(op, name, d);
      if (current?.index.manifests.some((m) => m.digest === entry.digest)) return { digest: current.digest, changed: false };
      const index: OciIndex = {
        ...(current?.index ?? {}),
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.imageIndex,
        manifests: [...(current?.index.manifests ?? []), entry],
      };
      const bytes = new TextEncoder().encode(JSON.stringify(index));
      if (bytes.length > this.maxManifestBytes) throw new OciError('oci_too_large', `${op.what}: index would exceed ${this.maxManifestBytes} bytes`);
      const res = await this.send(op, {
        method: 'PUT',
        url: this.url(`v2/${name}/manifests/${referrersTagFor(d)}`),
        headers: { 'content-type': MEDIA_TYPE.imageIndex, 'content-length': String(bytes.length) },
        body: bytes,
        scope: `repository:${name}:pull,push`,
      });
      if (res.status !== 201) throw await this.statusError(op, res);
      await discard(res);
      const digest = sha256Digest(bytes);
      this.checkDigestHeader(op, res, digest);
      return { digest, changed: true };
    });
  }

  // ---------------------------------------------------------------- internals

  private url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  private async readFallbackIndex(op: Op, name: string, subject: Digest): Promise<{ digest: Digest; index: OciIndex } | undefined> {
    let m: ManifestResult;
    try {
      m = await this.fetchManifest(op, name, referrersTagFor(subject), [MEDIA_TYPE.imageIndex]);
    } catch (e) {
      if (e instanceof OciError && e.code === 'oci_not_found') return undefined;
      throw e;
    }
    return { digest: m.digest, index: parseIndex(m.json, `${op.what} (referrers tag ${referrersTagFor(subject)})`) };
  }

  private async fetchManifest(op: Op, name: string, ref: string, accept: readonly string[], limit = this.maxManifestBytes): Promise<ManifestResult> {
    const res = await this.send(op, { method: 'GET', url: this.url(`v2/${name}/manifests/${ref}`), headers: { accept: accept.join(', ') }, scope: `repository:${name}:pull` });
    if (res.status !== 200) throw await this.statusError(op, res);
    const mediaType = this.expectContentType(op, res, accept);
    const bytes = await this.readBody(op, res, limit);
    const digest = sha256Digest(bytes);
    if (isDigest(ref) && ref !== digest) throw new OciError('oci_bad_response', `${op.what}: content does not match the requested digest`);
    this.checkDigestHeader(op, res, digest);
    const json = parseJson(op, bytes);
    if (!isObject(json)) throw new OciError('oci_bad_response', `${op.what}: manifest is not a JSON object`);
    if (json.mediaType !== undefined && json.mediaType !== mediaType) throw new OciError('oci_bad_response', `${op.what}: manifest mediaType does not match its Content-Type`);
    return { mediaType, digest, size: bytes.length, bytes, json };
  }

  /** Runs `fn` under one deadline; maps transport failures to OciError. */
  private async operation<T>(what: string, call: CallOptions, fn: (op: Op) => Promise<T>): Promise<T> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = call.signal ? AbortSignal.any([deadline, call.signal]) : deadline;
    const op: Op = { what: `${what} at ${this.registry}`, signal, deadline, external: call.signal, timeoutMs: this.timeoutMs };
    try {
      return await fn(op);
    } catch (e) {
      throw this.transportError(op, e);
    }
  }

  private transportError(op: Op, e: unknown): OciError | AddressNotAllowedError {
    if (e instanceof OciError || e instanceof AddressNotAllowedError) return e;
    if (op.deadline.aborted) return new OciError('oci_timeout', `${op.what}: no complete answer within ${op.timeoutMs} ms`);
    if (op.external?.aborted) return new OciError('oci_aborted', `${op.what}: aborted`);
    const cause = (e as { cause?: { code?: unknown } }).cause ?? (e as { code?: unknown });
    const code = typeof cause?.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(cause.code) ? ` (${cause.code})` : '';
    return new OciError('oci_unreachable', `${op.what}: registry unreachable${code}`, { cause: e });
  }

  /** One request with same-origin redirects and one auth retry. The body is left unread. */
  private async send(op: Op, req: Req, origin = this.baseUrl.origin, authenticate = true): Promise<Response> {
    let url = req.url;
    const { method, body } = req;
    let redirects = 0;
    let authRetried = false;
    for (;;) {
      if (url.origin !== origin) throw new OciError('oci_redirect_refused', `${op.what}: request to another origin refused`);
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      if (body === undefined) delete headers['content-length'];
      const auth = authenticate ? this.authorization(req.scope) : undefined;
      if (auth) headers.authorization = auth;
      let res: Response;
      try {
        const addresses = await this.addressesFor(url, op.signal);
        res = await roundTrip({ method, url, headers, ...(body !== undefined ? { body } : {}), signal: op.signal, addresses });
      } catch (e) {
        throw this.transportError(op, e);
      }
      if (REDIRECT_STATUSES.has(res.status)) {
        await discard(res);
        const next = this.sameOriginLocation(op, res, 'redirect', url, origin);
        if (++redirects > this.maxRedirects) throw new OciError('oci_redirect_refused', `${op.what}: more than ${this.maxRedirects} redirects`);
        if (res.status !== 307 && res.status !== 308 && method !== 'GET' && method !== 'HEAD') {
          throw new OciError('oci_redirect_refused', `${op.what}: a ${res.status} redirect of ${method} would drop its body`);
        }
        url = next;
        continue;
      }
      if (res.status === 401 && authenticate && !authRetried) {
        authRetried = true;
        const header = res.headers.get('www-authenticate');
        await discard(res);
        await this.respondToChallenge(op, header, req.scope);
        continue;
      }
      return res;
    }
  }

  /**
   * The addresses to connect to for `url`: resolved once; with a network policy and a host that
   * is not allow-listed, every one must be public (a literal is judged in any spelling, a name
   * under `localhost` without a lookup).
   */
  private async addressesFor(url: URL, signal: AbortSignal): Promise<readonly ResolvedAddress[]> {
    const host = socketHost(url);
    const checked = this.network !== undefined && !this.network.allowListed(url);
    if (checked) {
      const literal = classifyHostLiteral(host);
      if (literal !== undefined && literal !== 'public') throw new AddressNotAllowedError(url.host);
    }
    const addresses = await abortable(this.resolve(host), signal);
    if (addresses.length === 0) throw Object.assign(new Error('no address'), { cause: { code: 'ENOTFOUND' } });
    if (checked && !addresses.every((a) => isPublicAddress(a.address))) throw new AddressNotAllowedError(url.host);
    return addresses;
  }

  private authorization(scope: string): string | undefined {
    const token = this.tokens.get(scope);
    if (token !== undefined) return `Bearer ${token}`;
    if (this.basic && this.credentials) return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    return undefined;
  }

  private async respondToChallenge(op: Op, header: string | null, scope: string): Promise<void> {
    const challenge = header ? parseChallenge(header) : undefined;
    if (!challenge) throw new OciError('oci_unauthorized', `${op.what}: 401 without a usable WWW-Authenticate challenge`, { status: 401 });
    if (challenge.scheme === 'basic') {
      if (!this.credentials) throw new OciError('oci_unauthorized', `${op.what}: registry requires credentials (Basic) and none are configured`, { status: 401 });
      if (this.basic) throw new OciError('oci_unauthorized', `${op.what}: credentials refused`, { status: 401 });
      this.basic = true;
      return;
    }
    if (challenge.scheme !== 'bearer') throw new OciError('oci_unauthorized', `${op.what}: unsupported auth scheme ${JSON.stringify(challenge.scheme.slice(0, 20))}`, { status: 401 });
    this.tokens.delete(scope);
    this.tokens.set(scope, await this.fetchToken(op, challenge.params, scope));
  }

  private async fetchToken(op: Op, params: Record<string, string>, scope: string): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm ?? '');
    } catch {
      throw new OciError('oci_unauthorized', `${op.what}: Bearer challenge without a valid realm URL`, { status: 401 });
    }
    if (realm.username || realm.password || realm.hash) throw new OciError('oci_unauthorized', `${op.what}: Bearer realm must not carry credentials or a fragment`);
    const realmOk = realm.protocol === 'https:' || (realm.protocol === 'http:' && this.baseUrl.protocol === 'http:');
    if (!realmOk) throw new OciError('oci_unauthorized', `${op.what}: Bearer realm ${realm.origin} must use https`);
    const realmAllowed = this.allowRealm
      ? this.allowRealm(realm.host.toLowerCase())
      : this.network === undefined || realm.host === this.baseUrl.host || this.network.allowListed(realm);
    if (!realmAllowed) throw new OciError('oci_unauthorized', `${op.what}: Bearer realm ${realm.origin} is not an allowed host`);
    if (params.service !== undefined) realm.searchParams.set('service', params.service);
    const scopes = new Set([scope, ...(params.scope ? [params.scope] : [])]);
    for (const s of scopes) realm.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.credentials) headers.authorization = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    const tokenOp: Op = { ...op, what: `${op.what} (token from ${realm.origin})` };
    const res = await this.send(tokenOp, { method: 'GET', url: realm, headers, scope: '' }, realm.origin, false);
    if (res.status === 401 || res.status === 403) {
      await discard(res);
      throw new OciError('oci_unauthorized', `${tokenOp.what}: token request refused (${res.status})`, { status: res.status });
    }
    if (res.status !== 200) throw await this.statusError(tokenOp, res);
    this.expectContentType(tokenOp, res, ['application/json']);
    const json = parseJson(tokenOp, await this.readBody(tokenOp, res, this.maxTokenBytes));
    const token = isObject(json) ? (json.token ?? json.access_token) : undefined;
    if (typeof token !== 'string' || token === '' || token.length > 16_384 || !/^[\x21-\x7e]+$/.test(token)) {
      throw new OciError('oci_bad_response', `${tokenOp.what}: answer has no usable token`);
    }
    return token;
  }

  private sameOriginLocation(op: Op, res: Response, what: string, base: URL = this.baseUrl, origin = this.baseUrl.origin): URL {
    const loc = res.headers.get('location');
    if (!loc) throw new OciError('oci_bad_response', `${op.what}: ${what} without a Location header`, { status: res.status });
    let next: URL;
    try {
      next = new URL(loc, base);
    } catch {
      throw new OciError('oci_bad_response', `${op.what}: ${what} has an invalid Location`, { status: res.status });
    }
    if (next.origin !== origin || next.username || next.password) {
      throw new OciError('oci_redirect_refused', `${op.what}: ${what} to another origin (${safeOrigin(next)}) refused`, { status: res.status });
    }
    return next;
  }

  private expectContentType(op: Op, res: Response, allowed: readonly string[]): string {
    const type = mediaTypeOf(res.headers.get('content-type'));
    if (!allowed.some((a) => a.toLowerCase() === type)) {
      void discard(res);
      throw new OciError('oci_bad_response', `${op.what}: unexpected Content-Type ${JSON.stringify(type.slice(0, 100))} (expected ${allowed.join(' or ')})`, { status: res.status });
    }
    return type;
  }

  private checkDigestHeader(op: Op, res: Response, digest: Digest): void {
    const header = res.headers.get('docker-content-digest');
    if (header && header.startsWith('sha256:') && header !== digest) {
      throw new OciError('oci_bad_response', `${op.what}: Docker-Content-Digest does not match the content`, { status: res.status });
    }
  }

  /** Reads the body, refusing (and cancelling the stream) beyond `limit` bytes. */
  private async readBody(op: Op, res: Response, limit: number): Promise<Uint8Array> {
    const declared = res.headers.get('content-length');
    if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) {
      await discard(res);
      throw new OciError('oci_too_large', `${op.what}: answer of ${declared} bytes exceeds the ${limit}-byte limit`, { status: res.status });
    }
    const tooLarge = new OciError('oci_too_large', `${op.what}: answer exceeds the ${limit}-byte limit`, { status: res.status });
    try {
      return await readLimited(res.body, limit, () => tooLarge);
    } catch (e) {
      if (e === tooLarge) throw e;
      throw this.transportError(op, e);
    }
  }

  /** Error for an unexpected status; reads (bounded) the registry's error codes. */
  private async statusError(op: Op, res: Response): Promise<OciError> {
    let codes = '';
    try {
      if (mediaTypeOf(res.headers.get('content-type')) === 'application/json') {
        const body = JSON.parse(new TextDecoder().decode(await this.readBody(op, res, DEFAULTS.maxErrorBodyBytes))) as { errors?: { code?: unknown }[] };
        const list = (Array.isArray(body.errors) ? body.errors : [])
          .map((e) => e?.code)
          .filter((c): c is string => typeof c === 'string' && /^[A-Z_]{1,64}$/.test(c))
          .slice(0, 5);
        if (list.length) codes = ` [${list.join(', ')}]`;
      } else {
        await discard(res);
      }
    } catch (e) {
      if (e instanceof OciError && (e.code === 'oci_timeout' || e.code === 'oci_aborted')) return e;
      /* unreadable error body: the status says enough */
    }
    const code: OciErrorCode =
      res.status === 404
        ? 'oci_not_found'
        : res.status === 401 || res.status === 403
          ? 'oci_unauthorized'
          : res.status === 413
            ? 'oci_too_large'
            : res.status === 502 || res.status === 503 || res.status === 504
              ? 'oci_unreachable'
              : 'oci_bad_response';
    return new OciError(code, `${op.what}: HTTP ${res.status}${codes}`, { status: res.status });
  }
}

/** `promise`, or the signal's reason as soon as it aborts (a lookup cannot be cancelled). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* already closed */
  }
}

function parseJson(op: Op, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new OciError('oci_bad_response', `${op.what}: answer is not valid JSON`);
  }
}

function safeOrigin(u: URL): string {
  return `${u.protocol}//${u.host}`;
}

/** The `rel="next"` target of a Link header, if any. */
function nextLink(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)/i.test(m[2]!)) return m[1];
  }
  return undefined;
}
