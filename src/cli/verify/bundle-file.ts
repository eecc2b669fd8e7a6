/**
 * The file `sigledger verify --bundle` reads: a Sigstore bundle, or a sigledger answer that holds
 * one in `.bundle` (POST /api/v1/signer/sign/dsse, GET /api/v1/bundles/{id} and
 * GET /api/v1/bundles/{id}/versions/{n} all do), so a user can verify what the service answered
 * without cutting it out first. What the bundle states is read here; that it is true is for
 * @sigstore/verify.
 */
import type { Bundle } from '@sigstore/bundle';
import { isObject } from '../../json.ts';
import { openNote, parseCheckpointBody } from '../../log/checkpoint.ts';
import { parseLedgerBundle } from '../../sigstore/bundle-verifier.ts';
import { readJsonFile } from '../common/bounded-read.ts';
import { InputError } from '../common/errors.ts';
import { LIMITS } from '../common/limits.ts';
import { printable } from '../common/printable.ts';

/** What to pass instead, said whenever the file is neither a bundle nor an answer holding one. */
export const WHAT_TO_PASS =
  'pass a Sigstore bundle (a kit\'s bundles/<bundleId>/v<n>.bundle.json), or the JSON answer of POST /api/v1/signer/sign/dsse or of GET /api/v1/bundles/{bundleId}';

/** What the bundle says about itself, before verification. */
export interface BundleFacts {
  payloadType?: string;
  keyId?: string;
  logIndex?: string;
  signedAt?: string;
  /** Size and root of the checkpoint the bundle's inclusion proof names. */
  proofCheckpoint?: { size: number; rootHash: Buffer };
  payload?: Buffer;
}

export interface BundleFile {
  readonly bundle: Bundle;
  /** Set when the bundle was the `.bundle` of a sigledger answer. */
  readonly unwrapped?: string;
}

/** What the answer around the bundle claims about it (none of it is covered by a signature). */
interface Wrapper {
  readonly keyId?: string;
  readonly logIndex?: string;
}

/** The answer's keyId: a string, as the service answers it. */
function claimedKeyId(value: unknown): string {
  if (typeof value !== 'string') throw new InputError(`the answer's keyId is not a string: ${WHAT_TO_PASS}`);
  return value;
}

/** The answer's logIndex: a non-negative safe integer, or its decimal string (as in a bundle). */
function claimedLogIndex(value: unknown): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^(?:0|[1-9]\d{0,15})$/.test(value)) return value;
  throw new InputError(`the answer's logIndex is not a log index: ${WHAT_TO_PASS}`);
}

/**
 * The bundle itself, or the `.bundle` of a sigledger answer (which has no mediaType of its own).
 * The answer's bundleId and version are printed as what the answer claims, not as verified; its
 * keyId and logIndex must be the bundle's own, or the file is refused.
 */
function unwrap(json: unknown): { json: unknown; unwrapped?: string; wrapper?: Wrapper } {
  if (!isObject(json)) throw new InputError(`the bundle file is not a JSON object, so not a Sigstore bundle: ${WHAT_TO_PASS}`);
  if (json.mediaType !== undefined) return { json };
  if (isObject(json.bundle)) {
    const id = typeof json.bundleId === 'string' ? ` of bundle ${printable(json.bundleId, 64)}` : '';
    const version = typeof json.version === 'number' ? ` version ${json.version}` : typeof json.latestVersion === 'number' ? ` (latest version, ${json.latestVersion})` : '';
    const claims = id || version ? ' (the answer\'s own claim; not covered by the signature)' : '';
    const wrapper: Wrapper = {
      ...(json.keyId !== undefined ? { keyId: claimedKeyId(json.keyId) } : {}),
      ...(json.logIndex !== undefined ? { logIndex: claimedLogIndex(json.logIndex) } : {}),
    };
    return { json: json.bundle, unwrapped: `bundle: read from the "bundle" field of a sigledger answer${id}${version}${claims}`, wrapper };
  }
  throw new InputError(`the bundle file is not a Sigstore bundle (it has no mediaType) nor a sigledger answer holding one in "bundle": ${WHAT_TO_PASS}`);
}

/** Refuses an answer whose keyId or logIndex is not the one of the bundle it holds. */
function assertWrapperAgrees(wrapper: Wrapper, facts: BundleFacts): void {
  if (wrapper.keyId !== undefined && wrapper.keyId !== facts.keyId) {
    throw new InputError(`the answer says keyId ${printable(wrapper.keyId, 80)} but the bundle in its "bundle" field is signed by ${printable(facts.keyId ?? 'no key', 80)}`);
  }
  if (wrapper.logIndex !== undefined && wrapper.logIndex !== facts.logIndex) {
    throw new InputError(`the answer says logIndex ${printable(wrapper.logIndex, 20)} but the bundle in its "bundle" field has log index ${printable(facts.logIndex ?? 'none', 20)}`);
  }
}

/** Fills `facts` as far as the bundle is consistent (what was read is printed even when the rest is not). */
function readFacts(bundle: Bundle, facts: BundleFacts): void {
  if (bundle.content.$case !== 'dsseEnvelope' || bundle.verificationMaterial.content.$case !== 'publicKey') throw new InputError('the bundle is not a keyful DSSE bundle');
  const envelope = bundle.content.dsseEnvelope;
  facts.payloadType = envelope.payloadType;
  facts.payload = Buffer.from(envelope.payload);
  facts.keyId = bundle.verificationMaterial.content.publicKey.hint;
  const entry = bundle.verificationMaterial.tlogEntries[0];
  if (entry) {
    // @sigstore/verify proves the inclusion proof's index; the entry's own must be that one.
    if (entry.inclusionProof && entry.logIndex !== entry.inclusionProof.logIndex) throw new InputError(`the bundle's log index ${printable(entry.logIndex, 20)} is not the one its inclusion proof proves (${printable(entry.inclusionProof.logIndex, 20)})`);
    facts.logIndex = entry.logIndex;
    const cpBody = entry.inclusionProof?.checkpoint?.envelope ? openNote(entry.inclusionProof.checkpoint.envelope)?.body : undefined;
    const cp = cpBody === undefined ? undefined : parseCheckpointBody(cpBody);
    if (cp) facts.proofCheckpoint = { size: cp.size, rootHash: cp.rootHash };
  }
}

/** Reads, unwraps and parses the bundle file into `facts`; InputError (a reason of the verdict) otherwise. */
export async function readBundleFile(path: string, facts: BundleFacts): Promise<BundleFile> {
  const { json, unwrapped, wrapper } = unwrap(await readJsonFile(path, LIMITS.bundle, 'the bundle file'));
  const parsed = parseLedgerBundle(json);
  if (!parsed.ok) throw new InputError(`the bundle ${unwrapped ? 'in the "bundle" field of the file' : 'file'} ${parsed.detail}`);
  readFacts(parsed.bundle, facts);
  if (wrapper) assertWrapperAgrees(wrapper, facts);
  return { bundle: parsed.bundle, ...(unwrapped ? { unwrapped } : {}) };
}
