/**
 * A Sigstore bundle as an OCI referrer of an image: what `sigledger attach` pushes and what the
 * `verify/referrers` route looks for. The artifact is an OCI 1.1 image manifest with
 * `artifactType` = the bundle media type, the empty config, one layer (the bundle JSON) and
 * `subject` = the image. The manifest carries no timestamps, so attaching the same bundle to the
 * same image twice gives the same manifest digest (idempotent).
 *
 * A bundle vouches for an image only when its DSSE payload is an in-toto Statement whose
 * `subject` names the image's manifest digest: a valid bundle over anything else (an SBOM of
 * another image, say) attached to an image says nothing about that image.
 */
import { artifactManifest, MEDIA_TYPE, type OciDescriptor } from './types.ts';
import type { Digest } from './reference.ts';
import { statementOf } from '../domain/release.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../domain/sign-request.ts';
import { isObject } from '../json.ts';

export const BUNDLE_ARTIFACT_TYPE = MEDIA_TYPE.sigstoreBundle;
/** Annotations cosign and sigstore-js also set on bundle referrers. */
export const BUNDLE_CONTENT_ANNOTATION = 'dev.sigstore.bundle.content';
export const BUNDLE_PREDICATE_TYPE_ANNOTATION = 'dev.sigstore.bundle.predicateType';

const MAX_SUBJECTS = 1024;

export type SubjectCheck =
  | { readonly ok: true; readonly predicateType: string | undefined; readonly subjectName: string | undefined }
  | { readonly ok: false; readonly why: string };

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Does the bundle's DSSE payload (an in-toto Statement) name `digest` as a subject? Only looks at
 * the payload; it does not verify any signature. `bundle` is untrusted JSON. The payload is read
 * with the domain's `statementOf`, as the ledger read it when it decided whether to sign it.
 */
export function bundleNamesDigest(bundle: unknown, digest: Digest): SubjectCheck {
  if (!isObject(bundle) || !isObject(bundle.dsseEnvelope)) return { ok: false, why: 'the bundle carries no DSSE envelope' };
  const { payloadType, payload } = bundle.dsseEnvelope;
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return { ok: false, why: `the DSSE payload is not an in-toto statement (payloadType ${JSON.stringify(String(payloadType).slice(0, 80))})` };
  if (typeof payload !== 'string' || payload.length % 4 !== 0 || !B64_RE.test(payload)) return { ok: false, why: 'the DSSE payload is not base64' };
  const statement = statementOf(payloadType, Buffer.from(payload, 'base64'));
  if (!statement) return { ok: false, why: 'the DSSE payload is not a UTF-8 JSON object' };
  if (!Array.isArray(statement.subject)) return { ok: false, why: 'the in-toto statement has no subject list' };
  if (statement.subject.length > MAX_SUBJECTS) return { ok: false, why: `the in-toto statement has more than ${MAX_SUBJECTS} subjects` };
  const hex = digest.slice('sha256:'.length);
  const match = statement.subject.find((s) => isObject(s) && isObject(s.digest) && typeof s.digest.sha256 === 'string' && s.digest.sha256.toLowerCase() === hex);
  if (!match) return { ok: false, why: `no subject of the in-toto statement has the digest ${digest}` };
  return {
    ok: true,
    predicateType: typeof statement.predicateType === 'string' ? statement.predicateType : undefined,
    subjectName: isObject(match) && typeof match.name === 'string' ? match.name : undefined,
  };
}

/** The artifact manifest for a bundle layer referring to `subject` (no timestamps: deterministic). */
export function bundleArtifactManifest(bundleLayer: OciDescriptor, subject: OciDescriptor, predicateType?: string): Record<string, unknown> {
  const annotations: Record<string, string> = { [BUNDLE_CONTENT_ANNOTATION]: 'dsse-envelope' };
  if (predicateType !== undefined && predicateType.length <= 512) annotations[BUNDLE_PREDICATE_TYPE_ANNOTATION] = predicateType;
  return artifactManifest({ artifactType: BUNDLE_ARTIFACT_TYPE, layers: [{ mediaType: BUNDLE_ARTIFACT_TYPE, digest: bundleLayer.digest, size: bundleLayer.size }], subject, annotations });
}
