/**
 * One bundle referrer of an image digest, checked: its artifact manifest (which must name the
 * digest as its subject), its bundle layer, the in-toto statement inside (which must name the
 * digest too) and the bundle's signature, log inclusion and timestamp against the ledger's trust.
 *
 * Everything here comes from the registry, an attacker's: sizes are bounded before anything is
 * fetched, JSON is read defensively, and a failure is an untrusted verdict with a short reason —
 * except a registry that did not answer in time, which is an outage (the bundle that would verify
 * may be the one not read) and is handed back for the caller to decide.
 */
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { isObject } from '../../json.ts';
import { BUNDLE_ARTIFACT_TYPE, bundleNamesDigest } from '../../oci/bundle-artifact.ts';
import type { OciClient } from '../../oci/client.ts';
import { OciError } from '../../oci/errors.ts';
import type { Digest } from '../../oci/reference.ts';
import { MEDIA_TYPE, type OciDescriptor } from '../../oci/types.ts';
import { parseLedgerBundle, verifyLedgerBundle, type trustMaterialOf } from '../../sigstore/bundle-verifier.ts';
import { isTransient } from './registry-failure.ts';
import type { BundleVerdict, BundleVerdictReason } from './verdict.ts';

/** Largest bundle blob fetched (a bundle of a 4 MiB payload, base64, with proofs). */
export const MAX_BUNDLE_BYTES = 8 * 1024 * 1024;
/** Manifest of one bundle artifact (an image manifest with one layer is a few hundred bytes). */
const MAX_ARTIFACT_MANIFEST_BYTES = 64 * 1024;
/** predicateType kept in a verdict. */
const MAX_PREDICATE_TYPE = 512;

export type TrustMaterial = ReturnType<typeof trustMaterialOf>;

export interface ReferrerTarget {
  readonly client: OciClient;
  /** Repository name inside the registry. */
  readonly name: string;
  /** The image digest the bundle must vouch for. */
  readonly subject: Digest;
  readonly signal: AbortSignal;
}

export interface ReferrerTrust {
  readonly material: TrustMaterial;
  readonly keys: AnchorsDocument['keys'];
}

export type ReferrerResult = { readonly verdict: BundleVerdict; readonly keyId?: string; readonly signedAt?: string; readonly logIndex?: string } | { readonly outage: OciError };

export async function checkReferrer(target: ReferrerTarget, referrer: OciDescriptor, trust: ReferrerTrust): Promise<ReferrerResult> {
  const untrusted = (reason: BundleVerdictReason, detail: string, keyId?: string) => ({ verdict: { digest: referrer.digest, verdict: 'untrusted' as const, reason, detail, ...(keyId ? { keyId } : {}) } });
  let bytes: Uint8Array;
  try {
    const read = await readBundleLayer(target, referrer);
    if ('untrusted' in read) return untrusted(read.untrusted, read.detail);
    bytes = read.bytes;
  } catch (err) {
    if (!(err instanceof OciError)) throw err;
    if (isTransient(err)) return { outage: err };
    return untrusted('unreadable', `${err.code}: ${err.message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return untrusted('not_a_bundle', 'the bundle layer is not UTF-8 JSON');
  }
  const parsed = parseLedgerBundle(json);
  if (!parsed.ok) return untrusted('not_a_bundle', `the bundle ${parsed.detail}`);
  const names = bundleNamesDigest(json, target.subject);
  if (!names.ok) return untrusted('subject_mismatch', names.why);
  const predicateType = names.predicateType !== undefined ? { predicateType: names.predicateType.slice(0, MAX_PREDICATE_TYPE) } : {};
  const check = verifyLedgerBundle(trust.material, trust.keys, parsed.bundle);
  if (!check.ok) return { verdict: { ...untrusted(check.reason, check.detail, check.keyId).verdict, ...predicateType } };
  return {
    verdict: { digest: referrer.digest, verdict: 'trusted', reason: 'verified', keyId: check.keyId, ...predicateType },
    keyId: check.keyId,
    ...(check.signedAt ? { signedAt: check.signedAt } : {}),
    ...(check.logIndex ? { logIndex: check.logIndex } : {}),
  };
}

/** The referrer's artifact manifest, then its bundle layer's bytes; throws OciError. */
async function readBundleLayer({ client, name, subject, signal }: ReferrerTarget, referrer: OciDescriptor): Promise<{ bytes: Uint8Array } | { untrusted: BundleVerdictReason; detail: string }> {
  if (referrer.size > MAX_ARTIFACT_MANIFEST_BYTES) return { untrusted: 'unreadable', detail: `oci_too_large: the artifact manifest is said to be ${referrer.size} bytes (limit ${MAX_ARTIFACT_MANIFEST_BYTES})` };
  const manifest = await client.getManifest(name, referrer.digest, [MEDIA_TYPE.imageManifest], { signal, maxBytes: MAX_ARTIFACT_MANIFEST_BYTES });
  const { subject: named, layers } = manifest.json;
  if (!isObject(named) || named.digest !== subject) return { untrusted: 'unreadable', detail: 'the artifact manifest does not name the digest as its subject' };
  const layer = (Array.isArray(layers) ? layers : []).find((l) => isObject(l) && l.mediaType === BUNDLE_ARTIFACT_TYPE);
  if (!isObject(layer) || typeof layer.digest !== 'string' || typeof layer.size !== 'number') {
    return { untrusted: 'not_a_bundle', detail: `the artifact has no layer of type ${BUNDLE_ARTIFACT_TYPE}` };
  }
  if (layer.size > MAX_BUNDLE_BYTES) return { untrusted: 'unreadable', detail: `oci_too_large: the bundle layer is said to be ${layer.size} bytes (limit ${MAX_BUNDLE_BYTES})` };
  return { bytes: await client.getBlob(name, layer.digest, { maxBytes: MAX_BUNDLE_BYTES, signal }) };
}
