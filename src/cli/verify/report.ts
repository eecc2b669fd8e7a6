/** What `sigledger verify` prints: one JSON object (--json) or lines for a human. */
import { printable } from '../common/printable.ts';
import type { TrustEvaluation } from '../trust/evaluate.ts';
import type { ArtifactCheck } from './artifact.ts';
import type { BundleFacts } from './bundle-file.ts';

export interface Verdict {
  readonly bundlePath: string;
  readonly trustSource: string;
  readonly trustKind: 'url' | 'directory';
  readonly reasons: readonly string[];
  readonly notes: readonly string[];
  readonly facts: BundleFacts;
  readonly trust?: TrustEvaluation;
  readonly artifactPath?: string;
  readonly artifact?: ArtifactCheck;
}

export function verdictJson(v: Verdict): string {
  const { facts, trust } = v;
  return JSON.stringify({
    valid: v.reasons.length === 0,
    reasons: v.reasons,
    notes: v.notes,
    bundle: { path: v.bundlePath, ...(facts.payloadType !== undefined ? { payloadType: facts.payloadType } : {}), ...(facts.keyId ? { keyId: facts.keyId } : {}), ...(facts.logIndex !== undefined ? { logIndex: facts.logIndex } : {}), ...(facts.signedAt ? { signedAt: facts.signedAt } : {}) },
    trust: {
      source: v.trustSource,
      kind: v.trustKind,
      ...(trust?.anchors ? { anchorsVersion: trust.anchors.version } : {}),
      ...(trust?.anchorsV1Fingerprint ? { anchorsV1Sha256: trust.anchorsV1Fingerprint } : {}),
      ...(trust?.trustedRootFingerprint ? { trustedRootSha256: trust.trustedRootFingerprint } : {}),
      ...(trust?.checkpoint ? { checkpoint: { origin: trust.checkpoint.origin, size: trust.checkpoint.size } } : {}),
    },
    ...(v.artifactPath !== undefined ? { artifact: { path: v.artifactPath, ...(v.artifact ?? {}) } } : {}),
  });
}

export function verdictLines(v: Verdict): string[] {
  const { facts } = v;
  const lines = [`${v.reasons.length === 0 ? 'VALID' : 'INVALID'}: ${printable(v.bundlePath, 200)}`, ...v.reasons.map((r) => `reason: ${r}`)];
  if (facts.payloadType !== undefined) {
    lines.push(`bundle: DSSE ${printable(facts.payloadType, 80)}, key ${printable(facts.keyId ?? '?', 80)}${facts.logIndex !== undefined ? `, log index ${printable(facts.logIndex, 20)}` : ''}${facts.signedAt ? `, signed at ${facts.signedAt} (RFC 3161 timestamp)` : ''}`);
  }
  lines.push(...v.notes);
  return lines;
}
