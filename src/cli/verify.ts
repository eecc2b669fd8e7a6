/**
 * `sigledger verify --bundle FILE --trust DIR_OR_URL [--artifact FILE] [--json]`: offline
 * verification of a bundle (SPEC §1). Exit 0 valid, 1 invalid, 2 usage.
 *
 * Trust comes from a directory (trust/trust-dir.ts: no network at all) or a service URL
 * (trust/trust-client.ts: bounded in time and size). The anchors history is checked from version
 * 1 (trust/anchors-chain.ts); version 1 is trusted on first use, as TUF's root v1, and so is
 * `trusted_root.json` (both fingerprints are printed so they can be compared out of band). The
 * bundle (verify/bundle-file.ts: a bundle, or a sigledger answer holding one) is then verified
 * with the real `@sigstore/verify` and the latest anchors version's keys (each key's validity
 * window bounds the signing times it may verify), with the default thresholds (tlog 1, timestamp 1).
 *
 * Every file and response is hostile input, and every failure becomes a reason on stdout, never a
 * stack trace.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Bundle } from '@sigstore/bundle';
import { trustMaterialOf, verifyLedgerBundle } from '../sigstore/bundle-verifier.ts';
import { exists, requireFile } from './common/bounded-read.ts';
import { InputError, UsageError } from './common/errors.ts';
import { baseUrl } from './common/http-client.ts';
import { errorMessage, printable } from './common/printable.ts';
import { evaluateTrust, type TrustEvaluation } from './trust/evaluate.ts';
import { fetchTrust } from './trust/trust-client.ts';
import { loadTrustDir } from './trust/trust-dir.ts';
import { checkArtifact, type ArtifactCheck } from './verify/artifact.ts';
import { readBundleFile, type BundleFacts } from './verify/bundle-file.ts';
import { verdictJson, verdictLines } from './verify/report.ts';

export interface VerifyOptions {
  readonly bundle: string;
  readonly trust: string;
  readonly artifact?: string;
  readonly json: boolean;
}

export interface VerifyIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** Usage first: files that cannot be read and trust that is neither a URL nor a trust directory. */
async function trustSourceOf(options: VerifyOptions): Promise<{ source: string; isUrl: boolean }> {
  await requireFile(options.bundle, '--bundle');
  if (options.artifact !== undefined) await requireFile(options.artifact, '--artifact');
  if (/^https?:\/\//i.test(options.trust)) return { source: baseUrl(options.trust, '--trust'), isUrl: true };
  const dir = resolve(options.trust);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`--trust ${printable(options.trust, 200)} is neither an http(s) URL nor a directory`);
  if (!(await exists(join(dir, 'trusted_root.json'))) || !(await exists(join(dir, 'anchors')))) {
    throw new UsageError(`--trust ${printable(options.trust, 200)} has no trusted_root.json and anchors/ (write one with \`sigledger kit export\`)`);
  }
  return { source: dir, isUrl: false };
}

/** The trust, evaluated; its problems as reasons. A FetchError (service unreachable) propagates: exit 1. */
async function loadTrust(source: string, isUrl: boolean, reasons: string[], notes: string[]): Promise<TrustEvaluation | undefined> {
  try {
    const input = isUrl ? await fetchTrust(source) : await loadTrustDir(source);
    const trust = evaluateTrust(input);
    reasons.push(...trust.reasons.map((r) => `trust: ${r}`));
    notes.push(`trust: ${input.kind === 'url' ? `fetched from ${printable(input.source, 200)}` : `directory ${printable(input.source, 200)} (offline)`}, anchors versions 1..${input.anchors.length}`);
    notes.push(...trust.notes.map((n) => `trust: ${n}`));
    if (trust.anchorsV1Fingerprint) notes.push(`trust: anchors version 1 is trusted on first use, as TUF root v1: compare its fingerprint sha256:${trust.anchorsV1Fingerprint} (SHA-256 of its JCS) out of band`);
    if (trust.trustedRootFingerprint) notes.push(`trust: trusted_root.json (log key, TSA chain) is trusted as given: fingerprint sha256:${trust.trustedRootFingerprint} (SHA-256 of its JCS)`);
    return trust;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    reasons.push(`trust: ${err.message}`);
    return undefined;
  }
}

/** @sigstore/verify against trust that verified, and the trusted checkpoint against the bundle's. */
function verifyAgainst(trust: TrustEvaluation & { anchors: NonNullable<TrustEvaluation['anchors']> }, bundle: Bundle, facts: BundleFacts, reasons: string[], notes: string[]): void {
  let material: ReturnType<typeof trustMaterialOf> | undefined;
  try {
    material = trustMaterialOf(trust.trustedRoot, trust.anchors.keys);
  } catch (err) {
    reasons.push(`trust: trusted_root.json cannot be used (${errorMessage(err)})`);
  }
  if (material) {
    const check = verifyLedgerBundle(material, trust.anchors.keys, bundle);
    if (check.ok) {
      if (check.signedAt) facts.signedAt = check.signedAt;
    } else reasons.push(check.reason === 'unknown_key' ? `${check.detail} (anchors version ${trust.anchors.version})` : printable(check.detail));
  }
  const key = facts.keyId ? trust.anchors.keys[facts.keyId] : undefined;
  if (key) notes.push(`key: ${facts.keyId} valid from ${key.validFor.start ?? 'the beginning'} until ${key.validFor.end ?? 'further notice'} (anchors version ${trust.anchors.version})`);
  // The kit's checkpoint against the bundle's: same size must mean the same root (no split view).
  const cp = trust.checkpoint;
  if (!cp) return;
  notes.push(`checkpoint: ${printable(cp.origin, 80)} size ${cp.size}, signature verified with the log key of trusted_root.json`);
  if (facts.proofCheckpoint && facts.proofCheckpoint.size === cp.size && !facts.proofCheckpoint.rootHash.equals(cp.rootHash)) {
    reasons.push(`the bundle's inclusion proof names a checkpoint of size ${cp.size} whose root differs from the trusted checkpoint's (a split view of the log)`);
  }
  if (facts.logIndex !== undefined && /^\d{1,16}$/.test(facts.logIndex) && Number(facts.logIndex) >= cp.size) notes.push(`checkpoint: the bundle's log index ${facts.logIndex} is beyond it (the bundle is newer than the checkpoint)`);
}

export async function verify(options: VerifyOptions, io: VerifyIo): Promise<number> {
  const { source, isUrl } = await trustSourceOf(options);
  const reasons: string[] = [];
  const notes: string[] = [];
  const trust = await loadTrust(source, isUrl, reasons, notes);

  const facts: BundleFacts = {};
  let bundle: Bundle | undefined;
  try {
    const file = await readBundleFile(options.bundle, facts);
    bundle = file.bundle;
    if (file.unwrapped) notes.unshift(file.unwrapped);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    reasons.push(err.message);
  }
  if (bundle && trust?.anchors) verifyAgainst({ ...trust, anchors: trust.anchors }, bundle, facts, reasons, notes);

  let artifact: ArtifactCheck | undefined;
  if (options.artifact !== undefined && facts.payload) artifact = await checkArtifact(options.artifact, facts, reasons, notes);

  const verdict = { bundlePath: options.bundle, trustSource: source, trustKind: isUrl ? ('url' as const) : ('directory' as const), reasons, notes, facts, ...(trust ? { trust } : {}), ...(options.artifact !== undefined ? { artifactPath: options.artifact } : {}), ...(artifact ? { artifact } : {}) };
  if (options.json) io.out(verdictJson(verdict));
  else for (const line of verdictLines(verdict)) io.out(line);
  return reasons.length === 0 ? 0 : 1;
}
