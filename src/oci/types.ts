/**
 * OCI image-spec media types and descriptors used by the client, and strict shape checks for
 * what registries send back.
 */
import { isObject } from '../json.ts';
import { OciError } from './errors.ts';
import { isDigest, type Digest } from './reference.ts';

export const MEDIA_TYPE = {
  imageManifest: 'application/vnd.oci.image.manifest.v1+json',
  imageIndex: 'application/vnd.oci.image.index.v1+json',
  imageConfig: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  empty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  sigstoreBundle: 'application/vnd.dev.sigstore.bundle.v0.3+json',
} as const;

/** The OCI empty descriptor's content `{}` and its digest. */
export const EMPTY_JSON = new TextEncoder().encode('{}');
export const EMPTY_JSON_DIGEST: Digest = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export interface OciDescriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface OciIndex {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MEDIA_TYPE.imageIndex;
  readonly manifests: readonly OciDescriptor[];
  readonly [extra: string]: unknown;
}

const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
export const isMediaType = (s: unknown): s is string => typeof s === 'string' && MEDIA_TYPE_RE.test(s);

const bad = (what: string, why: string): OciError => new OciError('oci_bad_response', `${what}: ${why}`);

/** Validates one descriptor as found in an index / manifest (extra fields are dropped). */
export function parseDescriptor(v: unknown, what: string): OciDescriptor {
  if (!isObject(v)) throw bad(what, 'descriptor is not an object');
  const { mediaType, digest, size, artifactType, annotations } = v;
  if (!isMediaType(mediaType)) throw bad(what, 'descriptor has no valid mediaType');
  if (typeof digest !== 'string' || !isDigest(digest)) throw bad(what, 'descriptor digest is not sha256:<64 hex>');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(what, 'descriptor size is not a non-negative integer');
  if (artifactType !== undefined && !isMediaType(artifactType)) throw bad(what, 'descriptor artifactType is not a media type');
  let notes: Record<string, string> | undefined;
  if (annotations !== undefined) {
    if (!isObject(annotations) || !Object.values(annotations).every((x) => typeof x === 'string')) throw bad(what, 'descriptor annotations are not a string map');
    notes = annotations as Record<string, string>;
  }
  return { mediaType, digest, size, ...(artifactType !== undefined ? { artifactType } : {}), ...(notes ? { annotations: notes } : {}) };
}

/** Validates an OCI image index (referrers API answer or referrers tag schema index). */
export function parseIndex(v: unknown, what: string): OciIndex {
  if (!isObject(v)) throw bad(what, 'index is not a JSON object');
  if (v.schemaVersion !== 2) throw bad(what, 'index schemaVersion is not 2');
  if (v.mediaType !== undefined && v.mediaType !== MEDIA_TYPE.imageIndex) throw bad(what, 'index mediaType is not an OCI image index');
  if (!Array.isArray(v.manifests)) throw bad(what, 'index has no manifests array');
  return { ...v, schemaVersion: 2, mediaType: MEDIA_TYPE.imageIndex, manifests: v.manifests.map((d, i) => parseDescriptor(d, `${what} manifests[${i}]`)) };
}

/**
 * An OCI 1.1 artifact manifest (image manifest with `artifactType`, the empty config and one
 * layer per blob), as `sigledger attach` pushes it for a bundle.
 */
export function artifactManifest(input: {
  artifactType: string;
  layers: readonly OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Readonly<Record<string, string>>;
}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.imageManifest,
    artifactType: input.artifactType,
    config: { mediaType: MEDIA_TYPE.empty, digest: EMPTY_JSON_DIGEST, size: EMPTY_JSON.length },
    layers: input.layers,
    ...(input.subject ? { subject: { mediaType: input.subject.mediaType, digest: input.subject.digest, size: input.subject.size } } : {}),
    ...(input.annotations ? { annotations: input.annotations } : {}),
  };
}
