/**
 * Evaluating trust material, wherever it came from (a kit directory or a service): the anchors
 * chain from version 1, the latest anchors against the history, and the checkpoint's signature
 * against the log key of trusted_root.json. Problems become reasons; nothing here throws.
 */
import { decodeBase64Strict } from '../../crypto/dsse.ts';
import { isEd25519Spki, rawFromSpki } from '../../crypto/ed25519.ts';
import { sha256Hex } from '../../crypto/hash.ts';
import { jcs } from '../../crypto/jcs.ts';
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { isObject } from '../../json.ts';
import { openCheckpoint, openNote, parseCheckpointBody, type Checkpoint } from '../../log/checkpoint.ts';
import { errorMessage, printable } from '../common/printable.ts';
import { checkAnchorsChain } from './anchors-chain.ts';

/** Trust material as read from a directory or fetched from a URL, shape-checked, not yet evaluated. */
export interface TrustInput {
  readonly kind: 'directory' | 'url';
  /** The directory (absolute) or the base URL. */
  readonly source: string;
  readonly trustedRoot: Record<string, unknown>;
  /** Versions 1..N, in order. */
  readonly anchors: readonly AnchorsDocument[];
  /** `anchors.json` of a directory / `GET /api/v1/trust/anchors` of a URL, when there is one. */
  readonly latest?: AnchorsDocument;
  /** The signed checkpoint text, when there is one. */
  readonly checkpoint?: string;
  /** Informative notes (kit.json). */
  readonly notes: readonly string[];
}

export interface TrustEvaluation {
  readonly trustedRoot: Record<string, unknown>;
  readonly reasons: string[];
  readonly notes: string[];
  /** The latest verified anchors version, when the chain verified. */
  readonly anchors?: AnchorsDocument;
  readonly checkpoint?: Checkpoint;
  readonly anchorsV1Fingerprint?: string;
  readonly trustedRootFingerprint?: string;
}

/** SHA-256 of the RFC 8785 canonical JSON: what a user compares out of band. */
export const fingerprint = (value: unknown): string => sha256Hex(jcs(value));

/** Same JSON content (RFC 8785); false for values JCS refuses (e.g. lone surrogates). */
export function sameJson(a: unknown, b: unknown): boolean {
  try {
    return jcs(a) === jcs(b);
  } catch {
    return false;
  }
}

/** The log's note key from trusted_root.json (tlogs with an Ed25519 key and an https origin). */
function logNoteKeys(root: Record<string, unknown>): { name: string; rawPublicKey: Buffer }[] {
  const keys: { name: string; rawPublicKey: Buffer }[] = [];
  for (const t of root.tlogs as unknown[]) {
    if (!isObject(t) || typeof t.baseUrl !== 'string' || !t.baseUrl.startsWith('https://') || !isObject(t.publicKey)) continue;
    const spki = typeof t.publicKey.rawBytes === 'string' ? decodeBase64Strict(t.publicKey.rawBytes) : undefined;
    if (!spki || !isEd25519Spki(spki)) continue;
    keys.push({ name: t.baseUrl.slice('https://'.length), rawPublicKey: rawFromSpki(spki) });
  }
  return keys;
}

/** The latest anchors must be the last version of the history, byte for byte (as JCS). */
function latestProblem(t: TrustInput, last: AnchorsDocument): string | undefined {
  if (!t.latest) return undefined;
  const name = t.kind === 'directory' ? 'anchors.json' : 'the latest anchors';
  if (t.latest.version > last.version) return `${name} is version ${t.latest.version} but the history stops at version ${last.version}`;
  if (!sameJson(t.latest, t.anchors[t.latest.version - 1])) return `${name} differs from anchors version ${t.latest.version} of the history`;
  if (t.latest.version < last.version) return `${name} is version ${t.latest.version} but the history goes on to version ${last.version}`;
  return undefined;
}

export function evaluateTrust(t: TrustInput): TrustEvaluation {
  const reasons: string[] = [];
  const notes: string[] = [...t.notes];
  let trustedRootFingerprint: string | undefined;
  let anchorsV1Fingerprint: string | undefined;
  try {
    trustedRootFingerprint = fingerprint(t.trustedRoot);
    anchorsV1Fingerprint = fingerprint(t.anchors[0]);
  } catch (err) {
    reasons.push(`trust documents are not plain JSON (${errorMessage(err)})`);
    return { trustedRoot: t.trustedRoot, reasons, notes };
  }
  const chain = checkAnchorsChain(t.anchors);
  if (!chain.ok) return { trustedRoot: t.trustedRoot, reasons: [...reasons, ...chain.reasons], notes, anchorsV1Fingerprint, trustedRootFingerprint };
  const last = t.anchors[t.anchors.length - 1]!;
  const latest = latestProblem(t, last);
  if (latest) reasons.push(latest);
  notes.push(...chain.steps.map((s) => `anchors ${s}`));
  let checkpoint: Checkpoint | undefined;
  if (t.checkpoint !== undefined) {
    const keys = logNoteKeys(t.trustedRoot);
    const body = openNote(t.checkpoint)?.body;
    const origin = body === undefined ? undefined : parseCheckpointBody(body)?.origin;
    const key = keys.find((k) => k.name === origin);
    checkpoint = key ? openCheckpoint(t.checkpoint, key) : undefined;
    if (!checkpoint) reasons.push(`the checkpoint ${body === undefined ? 'is not a signed note' : `is not signed by a log of trusted_root.json${origin ? ` (origin ${printable(origin, 80)})` : ''}`}`);
  }
  return { trustedRoot: t.trustedRoot, reasons, notes, ...(reasons.length === 0 ? { anchors: last } : {}), ...(checkpoint ? { checkpoint } : {}), anchorsV1Fingerprint, trustedRootFingerprint };
}
