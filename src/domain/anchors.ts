/**
 * Trust anchors (stream `anchors`): the keys a verifier should trust, with their validity windows,
 * and the approver set and thresholds that govern changes to them. Every change — the initial
 * key, a rotation, a revocation, an approver change, an anchors update — publishes the next
 * version as an `AnchorsPublished` event, so the feed is part of the audited, logged history.
 *
 * TUF-style chaining: a version made by a ceremony carries that ceremony's proposal and, as its
 * `signatures`, the approvers' Ed25519 signatures over the proposal's DSSE PAE. A consumer who
 * trusts version N checks N+1 with `verifyAnchorsSuccessor(N, N+1)`: a threshold of N's
 * approvers (counted once each, with N's threshold) and a threshold of N+1's own approvers (with
 * N+1's threshold: TUF's rollover rule, governance.ts) signed a proposal whose action is exactly
 * the change from N to N+1. The anchors decider applies the same check before it appends a
 * version, so the service cannot publish one that verifiers refuse. Version 1 (the initial key
 * and approvers) is trusted on first use, like a TUF root v1.
 */
import { decodeBase64Strict } from '../crypto/dsse.ts';
import { ed25519Verify, isEd25519Spki, publicKeyFromSpki } from '../crypto/ed25519.ts';
import { jcs } from '../crypto/jcs.ts';
import { isObject } from '../json.ts';
import { isCeremonyActionType, parseCeremonyAction, type CeremonyAction, type CeremonyThresholds } from './ceremony-action.ts';
import { approvalMessage, proposalDigest, type CeremonyProposal } from './ceremony.ts';
import type { Decider, DomainEvent } from './decider.ts';
import { neededApprovals, standing, type Governance } from './governance.ts';
import { LedgerError } from '../errors.ts';
import { parseRfc3339 } from './instant.ts';

export const ANCHORS_STREAM = 'anchors';

export type AnchorKey = {
  rawBytes: string;
  keyDetails: 'PKIX_ED25519';
  validFor: { start?: string; end?: string };
};

export type AnchorApprover = {
  rawBytes: string;
  keyDetails: 'PKIX_ED25519';
};

export type AnchorsCeremony = {
  ceremonyId: string;
  proposal: CeremonyProposal;
  proposalDigest: string;
};

export type AnchorsDocument = {
  version: number;
  issuedAt: string;
  /** Signing keys by key id: each value is the JSON form of a Sigstore `PublicKey`. */
  keys: Record<string, AnchorKey>;
  /** Enrolled approvers by approver id (= key id of their key). */
  approvers: Record<string, AnchorApprover>;
  /** Configured thresholds by ceremony action (absent: the built-in default). */
  thresholds: CeremonyThresholds;
  /** The ceremony that made this version; null for the initial version. */
  ceremony: AnchorsCeremony | null;
  /** The ceremony's approvals: `keyid` = approver id, `sig` = base64 Ed25519 over the proposal's DSSE PAE. */
  signatures: { keyid: string; sig: string }[];
};

export type AnchorsPublished = DomainEvent<'AnchorsPublished', AnchorsDocument>;
export type AnchorsEvent = AnchorsPublished;

export interface AnchorsState {
  readonly latest: AnchorsDocument | null;
}

export type PublishAnchors = {
  readonly type: 'PublishAnchors';
  readonly keys: Record<string, AnchorKey>;
  readonly approvers: Record<string, AnchorApprover>;
  readonly thresholds: CeremonyThresholds;
  readonly ceremony: AnchorsCeremony | null;
  readonly signatures: { keyid: string; sig: string }[];
  readonly time: string;
};

const sameContent = (a: AnchorsDocument, c: PublishAnchors): boolean =>
  jcs(a.keys) === jcs(c.keys) && jcs(a.approvers) === jcs(c.approvers) && jcs(a.thresholds) === jcs(c.thresholds) && (a.ceremony?.ceremonyId ?? null) === (c.ceremony?.ceremonyId ?? null);

/** The governance (approvers and thresholds) a version puts in force. */
export function governanceOf(doc: Pick<AnchorsDocument, 'version' | 'approvers' | 'thresholds'>): Governance {
  const approvers: Record<string, string> = {};
  for (const [id, a] of Object.entries(doc.approvers)) approvers[id] = a.rawBytes;
  return { version: doc.version, approvers, thresholds: doc.thresholds };
}

export const anchorsDecider: Decider<AnchorsState, PublishAnchors, AnchorsEvent> = {
  initialState: () => ({ latest: null }),
  evolve: (_state, event) => ({ latest: event.data }),
  decide(command, state) {
    // Publishing what is already the latest version decides nothing (safe to repeat after a crash).
    if (state.latest && sameContent(state.latest, command)) return [];
    const doc = nextDocument(command, state);
    if (state.latest) {
      // The check every verifier applies: a version that fails it is never published.
      const check = verifyAnchorsSuccessor(state.latest, doc);
      if (!check.ok) {
        throw new LedgerError('key_state_conflict', `anchors version ${doc.version} would not verify against version ${state.latest.version}: ${check.reasons.join('; ')}`, {
          reason: 'anchors_successor_invalid',
          version: doc.version,
        });
      }
    }
    return [{ type: 'AnchorsPublished', data: doc }];
  },
};

function nextDocument(command: PublishAnchors, state: AnchorsState): AnchorsDocument {
  return {
    version: (state.latest?.version ?? 0) + 1,
    issuedAt: command.time,
    keys: command.keys,
    approvers: command.approvers,
    thresholds: command.thresholds,
    ceremony: command.ceremony,
    signatures: command.signatures,
  };
}

// ---------------------------------------------------------------------------------------------
// Verification of a successor version

export interface SuccessorVerification {
  readonly ok: boolean;
  /** Why not, in words ("signed by 1/2 approvers of version 3"). */
  readonly reasons: readonly string[];
  readonly signedBy: readonly string[];
  readonly threshold: number;
}

function keysAdded(prev: Record<string, unknown>, next: Record<string, unknown>): string[] {
  return Object.keys(next).filter((k) => !Object.hasOwn(prev, k));
}
function keysRemoved(prev: Record<string, unknown>, next: Record<string, unknown>): string[] {
  return Object.keys(prev).filter((k) => !Object.hasOwn(next, k));
}

/** Whether instant `a` is after `b`; one that does not read as RFC 3339 makes the answer "after" (fail closed). */
const isAfter = (a: string | undefined, b: string | undefined): boolean => (parseRfc3339(a) ?? Infinity) > (parseRfc3339(b) ?? -Infinity);

/** The change from prev to next must be exactly what the proposal's action says. */
function checkChange(prev: AnchorsDocument, next: AnchorsDocument, action: CeremonyAction, reasons: string[]): void {
  const addedKeys = keysAdded(prev.keys, next.keys);
  const removedKeys = keysRemoved(prev.keys, next.keys);
  if (removedKeys.length > 0) reasons.push(`keys were removed (${removedKeys.join(', ')}); anchors only end a key's validity`);
  for (const [id, k] of Object.entries(prev.keys)) {
    const n = next.keys[id];
    if (!n) continue;
    if (n.rawBytes !== k.rawBytes) reasons.push(`key ${id} changed its public key`);
    if (k.validFor.start !== n.validFor.start) reasons.push(`key ${id} changed the start of its validity`);
    if (k.validFor.end !== undefined && (n.validFor.end === undefined || isAfter(n.validFor.end, k.validFor.end))) reasons.push(`key ${id} extended its validity`);
  }
  const approverChange = jcs(prev.approvers) !== jcs(next.approvers);
  const thresholdChange = jcs(prev.thresholds) !== jcs(next.thresholds);
  const newKey = action.type === 'rotate-key' || action.type === 'revoke-key' ? action.newKey : undefined;
  const expectAdded = newKey ? [newKey.keyId] : [];
  const endChanged = Object.keys(prev.keys).filter((id) => next.keys[id] && prev.keys[id]!.validFor.end !== next.keys[id]!.validFor.end);
  switch (action.type) {
    case 'rotate-key':
    case 'revoke-key': {
      if (jcs(addedKeys.sort()) !== jcs(expectAdded)) reasons.push(`the proposal adds ${expectAdded.length ? expectAdded.join(', ') : 'no key'} but the anchors add ${addedKeys.length ? addedKeys.join(', ') : 'none'}`);
      const added = newKey ? next.keys[newKey.keyId] : undefined;
      if (newKey && added && added.rawBytes !== newKey.publicKey) reasons.push(`key ${newKey.keyId} is not the public key the proposal names`);
      if (approverChange || thresholdChange) reasons.push(`a ${action.type} ceremony cannot change approvers or thresholds`);
      if (action.type === 'revoke-key') {
        const target = action.keyId;
        const k = next.keys[target];
        if (!k || k.validFor.end === undefined) reasons.push(`the revoked key ${target} has no end of validity`);
        else if (action.compromisedSince !== undefined && isAfter(k.validFor.end, action.compromisedSince)) reasons.push(`key ${target}'s validity ends after compromisedSince`);
        for (const id of endChanged) if (id !== target && !(prev.keys[id]!.validFor.end === undefined && expectAdded.length > 0)) reasons.push(`key ${id}'s validity changed but the proposal revokes ${target}`);
      } else if (endChanged.some((id) => prev.keys[id]!.validFor.end !== undefined)) reasons.push('a rotation may only end the validity of keys that had none');
      break;
    }
    case 'update-anchors':
    case 'enroll-approver':
    case 'remove-approver': {
      if (addedKeys.length > 0 || endChanged.length > 0) reasons.push(`a ${action.type} ceremony cannot change signing keys`);
      if (action.type === 'update-anchors' && approverChange) reasons.push('an update-anchors ceremony cannot change approvers');
      if (action.type === 'enroll-approver') {
        const added = keysAdded(prev.approvers, next.approvers);
        if (jcs(added) !== jcs([action.approverId]) || keysRemoved(prev.approvers, next.approvers).length > 0) reasons.push(`the proposal enrolls ${action.approverId} but the approvers changed otherwise`);
        else if (next.approvers[action.approverId]!.rawBytes !== action.publicKey) reasons.push('the enrolled approver key is not the one the proposal names');
      }
      if (action.type === 'remove-approver') {
        const removed = keysRemoved(prev.approvers, next.approvers);
        if (jcs(removed) !== jcs([action.approverId]) || keysAdded(prev.approvers, next.approvers).length > 0) reasons.push(`the proposal removes ${action.approverId} but the approvers changed otherwise`);
      }
      if (action.type !== 'update-anchors' && thresholdChange) reasons.push(`a ${action.type} ceremony cannot change thresholds`);
      if (action.type === 'update-anchors' && thresholdChange && jcs(action.thresholds ?? null) !== jcs(next.thresholds)) reasons.push('the thresholds are not the ones the proposal names');
      break;
    }
  }
}

/**
 * Checks that `next` is a valid successor of `prev` (which the caller already trusts): the
 * version follows, a ceremony made it, a threshold of `prev`'s approvers approved that ceremony's
 * proposal, and the change is exactly the proposal's action.
 */
export function verifyAnchorsSuccessor(prev: AnchorsDocument, next: AnchorsDocument): SuccessorVerification {
  const reasons: string[] = [];
  if (next.version !== prev.version + 1) reasons.push(`version ${next.version} does not follow version ${prev.version}`);
  const ceremony = next.ceremony;
  if (!ceremony || !isObject(ceremony.proposal)) return { ok: false, reasons: [...reasons, `version ${next.version} names no ceremony`], signedBy: [], threshold: 0 };
  const proposal = ceremony.proposal;
  if (!isObject(proposal.action) || !isCeremonyActionType(proposal.action.type)) return { ok: false, reasons: [...reasons, 'the proposal has no known action'], signedBy: [], threshold: 0 };
  let digestOk = false;
  try {
    digestOk = proposalDigest(proposal) === ceremony.proposalDigest;
  } catch {
    digestOk = false;
  }
  if (!digestOk) reasons.push('proposalDigest is not the SHA-256 of the proposal');
  const message = approvalMessage(proposal);
  const signedBy = new Set<string>();
  for (const s of Array.isArray(next.signatures) ? next.signatures : []) {
    const approver = prev.approvers[s?.keyid];
    if (!approver || signedBy.has(s.keyid)) continue;
    const spki = decodeBase64Strict(approver.rawBytes);
    const sig = typeof s.sig === 'string' ? decodeBase64Strict(s.sig) : undefined;
    if (spki && isEd25519Spki(spki) && sig && ed25519Verify(publicKeyFromSpki(spki), message, sig)) signedBy.add(s.keyid);
  }
  const action = parseCeremonyAction(proposal.action);
  if (!action) return { ok: false, reasons: [...reasons, `the proposal's ${proposal.action.type} action lacks a parameter or has a mistyped one`], signedBy: [...signedBy].sort(), threshold: 0 };
  // Both halves of the rollover rule, computed as the ceremony computed them before executing.
  const rule = standing(governanceOf(prev), action, signedBy);
  if (rule.counted.length < rule.threshold) reasons.push(`signed by ${rule.counted.length}/${rule.threshold} approvers of version ${prev.version}`);
  if (rule.nextCounted < rule.nextThreshold) reasons.push(`signed by ${rule.nextCounted}/${rule.nextThreshold} of version ${next.version}'s own approvers`);
  checkChange(prev, next, action, reasons);
  return { ok: reasons.length === 0, reasons, signedBy: [...signedBy].sort(), threshold: neededApprovals(rule) };
}
