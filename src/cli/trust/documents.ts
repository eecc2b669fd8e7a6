/**
 * Shape checks of the trust documents a verifier is handed (SPEC §2): an anchors version and
 * trusted_root.json. They run before any cryptography so that later code can rely on the types;
 * each failure is an InputError naming the document and the field.
 */
import { decodeBase64Strict } from '../../crypto/dsse.ts';
import { isEd25519Spki, keyIdOf } from '../../crypto/ed25519.ts';
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { isRfc3339 } from '../../domain/instant.ts';
import { isObject } from '../../json.ts';
import { InputError } from '../common/errors.ts';
import { printable } from '../common/printable.ts';

const HEX64_RE = /^[0-9a-f]{64}$/;

function checkKey(id: string, k: unknown, where: string, withValidity: boolean): void {
  if (!HEX64_RE.test(id)) throw new InputError(`${where}: "${printable(id, 80)}" is not a key id (64 lowercase hex characters)`);
  if (!isObject(k)) throw new InputError(`${where}.${id.slice(0, 12)}… is not an object`);
  const spki = typeof k.rawBytes === 'string' && k.rawBytes.length <= 1024 ? decodeBase64Strict(k.rawBytes) : undefined;
  if (!spki || !isEd25519Spki(spki)) throw new InputError(`${where}.${id.slice(0, 12)}…: rawBytes is not a base64 DER Ed25519 public key`);
  if (k.keyDetails !== 'PKIX_ED25519') throw new InputError(`${where}.${id.slice(0, 12)}…: keyDetails is not PKIX_ED25519`);
  if (keyIdOf(spki) !== id) throw new InputError(`${where}: ${id} is not the SHA-256 of its public key`);
  if (withValidity) {
    const v = k.validFor;
    if (!isObject(v) || (v.start !== undefined && !isRfc3339(v.start)) || (v.end !== undefined && !isRfc3339(v.end))) throw new InputError(`${where}.${id.slice(0, 12)}…: validFor must be {start?, end?} with RFC 3339 instants`);
  }
}

/** Checks the shape of an anchors document (SPEC §2) and returns it typed; throws InputError. */
export function validateAnchors(doc: unknown, what: string): AnchorsDocument {
  if (!isObject(doc)) throw new InputError(`${what} is not a JSON object`);
  if (typeof doc.version !== 'number' || !Number.isSafeInteger(doc.version) || doc.version < 1) throw new InputError(`${what}: version is not a positive integer`);
  if (!isRfc3339(doc.issuedAt)) throw new InputError(`${what}: issuedAt is not an RFC 3339 instant`);
  if (!isObject(doc.keys)) throw new InputError(`${what}: keys is not an object`);
  for (const [id, k] of Object.entries(doc.keys)) checkKey(id, k, `${what}: keys`, true);
  if (!isObject(doc.approvers)) throw new InputError(`${what}: approvers is not an object`);
  for (const [id, k] of Object.entries(doc.approvers)) checkKey(id, k, `${what}: approvers`, false);
  if (!isObject(doc.thresholds) || Object.values(doc.thresholds).some((t) => typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0)) throw new InputError(`${what}: thresholds must map actions to non-negative integers`);
  if (doc.ceremony !== null && !(isObject(doc.ceremony) && typeof doc.ceremony.ceremonyId === 'string' && isObject(doc.ceremony.proposal) && typeof doc.ceremony.proposalDigest === 'string')) {
    throw new InputError(`${what}: ceremony must be null or {ceremonyId, proposal, proposalDigest}`);
  }
  if (!Array.isArray(doc.signatures) || doc.signatures.some((s) => !isObject(s) || typeof s.keyid !== 'string' || typeof s.sig !== 'string')) throw new InputError(`${what}: signatures must be a list of {keyid, sig}`);
  return doc as unknown as AnchorsDocument;
}

/** Checks the lists of a Sigstore TrustedRoot (at least one transparency log); throws InputError. */
export function validateTrustedRoot(root: unknown, what = 'trusted_root.json'): Record<string, unknown> {
  if (!isObject(root)) throw new InputError(`${what} is not a JSON object`);
  for (const field of ['tlogs', 'timestampAuthorities', 'certificateAuthorities', 'ctlogs']) {
    if (root[field] !== undefined && !Array.isArray(root[field])) throw new InputError(`${what}: ${field} is not a list`);
  }
  if (!Array.isArray(root.tlogs) || root.tlogs.length === 0) throw new InputError(`${what} lists no transparency log`);
  return root;
}
