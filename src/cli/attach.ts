/**
 * `sigledger attach --registry URL --image [HOST[:PORT]/]NAME@sha256:<hex> --bundle FILE [--json]`:
 * attaches a Sigstore bundle to an image as an OCI referrer (SPEC §1). The bundle file's exact
 * bytes become the one layer of an OCI 1.1 artifact manifest (artifactType
 * `application/vnd.dev.sigstore.bundle.v0.3+json`, the empty config, `subject` = the image), pushed
 * by its digest. A registry with a referrers API indexes it itself (it answers `OCI-Subject`);
 * otherwise (e.g. Distribution 2.8) the referrers tag schema index `sha256-<hex>` is updated.
 *
 * The manifest carries no timestamps, so attaching the same bundle again gives the same digest and
 * leaves the index unchanged. Only a bundle whose in-toto statement names the image's digest is
 * attached: nothing is pushed otherwise. Exit 0 attached, 1 failure, 2 usage.
 */
import { bundleArtifactManifest, bundleNamesDigest, BUNDLE_ARTIFACT_TYPE } from '../oci/bundle-artifact.ts';
import { OciClient, sha256Digest, type OciCredentials } from '../oci/client.ts';
import { OciError } from '../oci/errors.ts';
import { isDigest, isLoopbackRegistry, isRepositoryName, parseRegistryHost, referrersTagFor, type Digest } from '../oci/reference.ts';
import { EMPTY_JSON, MEDIA_TYPE, type OciDescriptor } from '../oci/types.ts';
import { ConfigError } from '../errors.ts';
import { isObject } from '../json.ts';
import { readBounded, requireFile } from './common/bounded-read.ts';
import { InputError, UsageError } from './common/errors.ts';
import { LIMITS } from './common/limits.ts';
import { printable } from './common/printable.ts';
import { parseStrictJson } from './common/strict-json.ts';

export interface AttachOptions {
  readonly registry: string;
  readonly image: string;
  readonly bundle: string;
  readonly json: boolean;
}

export interface AttachIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** Per registry operation, all round trips included (a bundle blob may be tens of MiB). */
const OPERATION_TIMEOUT_MS = 60_000;

/** Media types a pinned image manifest may have. */
const SUBJECT_MEDIA_TYPES = [MEDIA_TYPE.imageManifest, MEDIA_TYPE.imageIndex, MEDIA_TYPE.dockerManifest, MEDIA_TYPE.dockerManifestList] as const;


/** `http://host:port` or `https://host[:port]`, nothing else: the registry host and its scheme. */
export function parseRegistryUrl(raw: string): { host: string; scheme: 'http' | 'https' } {
  // Userinfo in the URL may be a password: never echo it.
  const shown = printable(raw.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@'), 200);
  const usage = (why: string) => new UsageError(`--registry ${shown} ${why} (expected http://HOST:PORT or https://HOST[:PORT])`);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw usage('is not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usage('is not an http(s) URL');
  if (u.username !== '' || u.password !== '') throw usage('must not carry credentials (use SIGLEDGER_REGISTRY_USERNAME / SIGLEDGER_REGISTRY_PASSWORD)');
  if (u.pathname !== '/' && u.pathname !== '') throw usage('must not have a path');
  if (u.search !== '' || u.hash !== '' || /[?#]/.test(raw)) throw usage('must not have a query or fragment');
  try {
    return { host: parseRegistryHost(u.host), scheme: u.protocol === 'http:' ? 'http' : 'https' };
  } catch {
    throw usage('does not name a registry host');
  }
}

/** Does the first path component of a reference name a registry host (Docker's rule, or the registry itself)? */
const looksLikeHost = (component: string, registry: string): boolean =>
  component.toLowerCase() === registry.toLowerCase() || component.includes('.') || component.includes(':') || component.startsWith('[') || component === 'localhost';

/** `NAME@sha256:<hex>` or `HOST[:PORT]/NAME@sha256:<hex>`, where HOST must be the registry's. */
export function parseAttachImage(raw: string, registry: string): { name: string; digest: Digest } {
  const shown = printable(raw, 200);
  const at = raw.indexOf('@');
  const rest = at >= 0 ? raw.slice(0, at) : raw;
  const slash = rest.indexOf('/');
  const hasHost = slash > 0 && looksLikeHost(rest.slice(0, slash), registry);
  const host = hasHost ? rest.slice(0, slash) : undefined;
  const name = hasHost ? rest.slice(slash + 1) : rest;
  if (at < 0 || name.includes(':')) throw new UsageError(`--image ${shown}: pin the image by digest ([HOST[:PORT]/]NAME@sha256:<64 hex>); tags are refused`);
  const digest = raw.slice(at + 1);
  if (!isDigest(digest)) throw new UsageError(`--image ${shown}: the digest must be sha256:<64 lowercase hex>`);
  if (host !== undefined && host.toLowerCase() !== registry.toLowerCase()) throw new UsageError(`--image ${shown} names the registry ${printable(host, 100)}, not --registry's ${registry}`);
  if (!isRepositoryName(name)) throw new UsageError(`--image ${shown}: the repository name must be lowercase [a-z0-9] components separated by . _ __ - and /`);
  return { name, digest };
}

/** `SIGLEDGER_REGISTRY_USERNAME` + `SIGLEDGER_REGISTRY_PASSWORD`: both or neither. */
export function registryCredentials(env: NodeJS.ProcessEnv): OciCredentials | undefined {
  const username = env.SIGLEDGER_REGISTRY_USERNAME ?? '';
  const password = env.SIGLEDGER_REGISTRY_PASSWORD ?? '';
  if (username === '' && password === '') return undefined;
  if (username === '' || password === '') throw new ConfigError('set both SIGLEDGER_REGISTRY_USERNAME and SIGLEDGER_REGISTRY_PASSWORD, or neither');
  if (username.includes(':')) throw new ConfigError('SIGLEDGER_REGISTRY_USERNAME must not contain ":" (Basic auth)');
  return { username, password };
}


/** A Sigstore bundle v0.3 with a DSSE envelope whose in-toto statement names `digest`. */
async function checkBundle(bytes: Uint8Array, digest: Digest): Promise<{ predicateType: string | undefined }> {
  const json = parseStrictJson(bytes, 'the bundle file');
  if (!isObject(json)) throw new InputError('the bundle file is not a JSON object, so not a Sigstore bundle');
  if (json.mediaType !== BUNDLE_ARTIFACT_TYPE) throw new InputError(`the bundle file is not a Sigstore bundle v0.3 (mediaType ${printable(JSON.stringify(json.mediaType ?? null), 100)})`);
  const { bundleFromJSON } = await import('@sigstore/bundle');
  let bundle: ReturnType<typeof bundleFromJSON>;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    throw new InputError(`the bundle file is not a Sigstore bundle (${printable((err as Error).message.split('\n')[0] ?? '', 200)})`);
  }
  if (bundle.content.$case !== 'dsseEnvelope') throw new InputError('the bundle carries no DSSE envelope');
  const check = bundleNamesDigest(json, digest);
  if (!check.ok) throw new InputError(`refusing to attach: ${check.why} (the bundle must be an in-toto statement about the image)`);
  return { predicateType: check.predicateType };
}

export async function attach(options: AttachOptions, io: AttachIo): Promise<number> {
  // Usage first: the registry, the image, the credentials and the bundle file.
  const { host, scheme } = parseRegistryUrl(options.registry);
  const { name, digest } = parseAttachImage(options.image, host);
  const credentials = registryCredentials(io.env);
  if (credentials && scheme === 'http' && !isLoopbackRegistry(host)) io.err(`sigledger attach: warning: sending registry credentials to ${host} over plain HTTP`);
  const image = `${host}/${name}@${digest}`;
  await requireFile(options.bundle, '--bundle');
  try {
    const bytes = await readBounded(options.bundle, LIMITS.bundle, 'the bundle file').catch((err: unknown) => {
      throw err instanceof InputError ? err : new UsageError(`cannot read --bundle ${printable(options.bundle, 200)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    });
    const { predicateType } = await checkBundle(bytes, digest);

    const client = new OciClient({ registry: host, scheme, ...(credentials ? { credentials } : {}), timeoutMs: OPERATION_TIMEOUT_MS, maxBlobBytes: LIMITS.bundle });
    let subject: OciDescriptor;
    try {
      const m = await client.getManifest(name, digest, SUBJECT_MEDIA_TYPES);
      subject = { mediaType: m.mediaType, digest: m.digest, size: m.size };
    } catch (err) {
      if (err instanceof OciError && err.code === 'oci_not_found') throw new OciError('oci_not_found', `image not found in registry: ${image}`, { status: err.status, cause: err });
      throw err;
    }
    await client.pushBlob(name, EMPTY_JSON, MEDIA_TYPE.empty);
    const layer = await client.pushBlob(name, bytes, BUNDLE_ARTIFACT_TYPE);
    const manifest = bundleArtifactManifest(layer, subject, predicateType);
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
    const pushed = await client.pushManifest(name, sha256Digest(manifestBytes), manifestBytes, MEDIA_TYPE.imageManifest);
    const artifact = { digest: pushed.digest, size: pushed.size, artifactType: BUNDLE_ARTIFACT_TYPE };

    // A registry with a referrers API names the subject it indexed; any other needs the fallback index.
    let index: { digest: Digest; changed: boolean } | null = null;
    if (pushed.ociSubject !== digest) {
      const annotations = manifest.annotations as Record<string, string> | undefined;
      index = await client.addReferrerToFallbackIndex(name, digest, {
        mediaType: MEDIA_TYPE.imageManifest,
        digest: pushed.digest,
        size: pushed.size,
        artifactType: BUNDLE_ARTIFACT_TYPE,
        ...(annotations ? { annotations } : {}),
      });
    }

    if (options.json) {
      io.out(JSON.stringify({ image, subject, artifact, referrers: index === null ? 'api' : 'tag', index }));
    } else {
      const tag = referrersTagFor(digest);
      const how = index === null ? 'referrers API' : index.changed ? `referrers tag ${tag} updated` : `already listed in referrers tag ${tag}`;
      io.out(`attached ${printable(options.bundle, 200)} to ${image} as ${pushed.digest} (${how})`);
    }
    return 0;
  } catch (err) {
    if (err instanceof OciError) {
      io.err(`sigledger attach: ${err.code}: ${printable(err.message)}`);
      return 1;
    }
    throw err;
  }
}
