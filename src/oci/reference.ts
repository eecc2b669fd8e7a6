/**
 * Strict parsing of OCI references: `HOST[:PORT]/NAME`, `HOST[:PORT]/NAME@sha256:<hex>`,
 * `HOST[:PORT]/NAME:TAG`, and digests. The first path component is always the registry host
 * (no Docker Hub defaulting). NAME follows the OCI distribution-spec grammar.
 */
import { OciError } from './errors.ts';

/** OCI distribution-spec repository name grammar. */
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,61}[a-zA-Z0-9])';
const HOSTNAME_RE = new RegExp(`^${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*$`);
const IPV6_RE = /^\[[0-9a-fA-F:.]+(?:%[A-Za-z0-9]+)?\]$/;
/** Docker / distribution reference limit on the whole `host/name`. */
const MAX_REPOSITORY_LENGTH = 255;

export type Digest = `sha256:${string}`;

export interface RepositoryRef {
  /** `host` or `host:port` (IPv6 in brackets), as written. */
  readonly registry: string;
  /** Repository name inside the registry, e.g. `team/scanner`. */
  readonly name: string;
}

export interface ImageRef extends RepositoryRef {
  readonly digest?: Digest;
  readonly tag?: string;
}

const invalid = (what: string, value: string, why: string): OciError =>
  new OciError('oci_invalid_reference', `invalid ${what} ${JSON.stringify(value.slice(0, 300))}: ${why}`);

export const isDigest = (s: string): s is Digest => DIGEST_RE.test(s);

export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw invalid('digest', s, 'expected sha256:<64 lowercase hex>');
  return s;
}

export const isRepositoryName = (s: string): boolean => s.length <= MAX_REPOSITORY_LENGTH && NAME_RE.test(s);

export function parseRepositoryName(s: string): string {
  if (!isRepositoryName(s)) throw invalid('repository name', s, 'expected lowercase path components [a-z0-9] separated by . _ __ - and /');
  return s;
}

export function parseTag(s: string): string {
  if (!TAG_RE.test(s)) throw invalid('tag', s, 'expected [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}');
  return s;
}

/** `host`, `host:port` or `[v6]:port`; returns it unchanged when valid. */
export function parseRegistryHost(s: string): string {
  let host = s;
  let port: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) throw invalid('registry host', s, 'unterminated IPv6 literal');
    host = s.slice(0, end + 1);
    const rest = s.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw invalid('registry host', s, 'unexpected characters after IPv6 literal');
      port = rest.slice(1);
    }
    if (!IPV6_RE.test(host)) throw invalid('registry host', s, 'bad IPv6 literal');
  } else {
    const colon = s.indexOf(':');
    if (colon >= 0) {
      host = s.slice(0, colon);
      port = s.slice(colon + 1);
    }
    if (!HOSTNAME_RE.test(host)) throw invalid('registry host', s, 'expected a host name or IP address');
  }
  if (port !== undefined && !(/^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    throw invalid('registry host', s, 'port must be 1-65535');
  }
  // What the grammar lets through must also be a host a URL can have (e.g. not `[1]`, no zone ids).
  try {
    new URL(`https://${s}/`);
  } catch {
    throw invalid('registry host', s, 'not a valid host for a URL');
  }
  return s;
}

/** `HOST[:PORT]/NAME` — no tag, no digest, no scheme. */
export function parseRepository(s: string): RepositoryRef {
  if (s.length > MAX_REPOSITORY_LENGTH) throw invalid('repository', s, `longer than ${MAX_REPOSITORY_LENGTH} characters`);
  if (/[@\s]/.test(s) || s.includes('://')) throw invalid('repository', s, 'expected HOST[:PORT]/NAME');
  const slash = s.indexOf('/');
  if (slash <= 0) throw invalid('repository', s, 'expected HOST[:PORT]/NAME');
  const registry = parseRegistryHost(s.slice(0, slash));
  const name = s.slice(slash + 1);
  if (!NAME_RE.test(name)) throw invalid('repository', s, 'NAME must follow the OCI name grammar (lowercase [a-z0-9] components separated by . _ __ - and /)');
  return { registry, name };
}

/** `HOST[:PORT]/NAME@sha256:<hex>` or `HOST[:PORT]/NAME:TAG` (or both, tag first). */
export function parseImageReference(s: string): ImageRef {
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash && lastSlash > 0) {
    tag = parseTag(rest.slice(lastColon + 1));
    rest = rest.slice(0, lastColon);
  }
  if (digest === undefined && tag === undefined) throw invalid('image reference', s, 'expected HOST[:PORT]/NAME@sha256:<hex> or HOST[:PORT]/NAME:TAG');
  const repo = parseRepository(rest);
  return { ...repo, ...(digest !== undefined ? { digest } : {}), ...(tag !== undefined ? { tag } : {}) };
}

/** `HOST[:PORT]/NAME@sha256:<hex>`: an image pinned by its manifest digest (no tag). */
export function parsePinnedImage(s: string): ImageRef & { readonly digest: Digest } {
  const ref = parseImageReference(s);
  if (ref.digest === undefined || ref.tag !== undefined) throw invalid('image reference', s, 'expected HOST[:PORT]/NAME@sha256:<64 hex> (pinned by digest, no tag)');
  return ref as ImageRef & { readonly digest: Digest };
}

/** The referrers tag schema's tag for a subject digest: `sha256-<hex>`. */
export const referrersTagFor = (digest: Digest): string => digest.replace(':', '-');

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

/** Registry host without its port (IPv6 keeps its brackets). */
export function hostWithoutPort(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(0, registry.indexOf(']') + 1);
  const colon = registry.indexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

export function isLoopbackRegistry(registry: string): boolean {
  const host = hostWithoutPort(registry).toLowerCase();
  return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * `http` for loopback registries and those listed in `insecure` (entries `host` or `host:port`),
 * `https` for all others.
 */
export function registryScheme(registry: string, insecure: readonly string[] = []): 'http' | 'https' {
  if (isLoopbackRegistry(registry)) return 'http';
  const lower = registry.toLowerCase();
  const host = hostWithoutPort(lower);
  return insecure.some((e) => {
    const x = e.trim().toLowerCase();
    return x !== '' && (x === lower || x === host);
  })
    ? 'http'
    : 'https';
}
