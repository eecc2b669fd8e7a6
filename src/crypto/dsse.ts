/**
 * DSSE v1 (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md):
 *   PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body
 * with lengths in bytes as ASCII decimal. Envelopes may carry several signatures.
 */
import type { KeyObject } from 'node:crypto';
import { ed25519Sign, ed25519Verify } from './ed25519.ts';

export interface DsseSignature {
  readonly keyid: string;
  readonly sig: string;
}

export interface DsseEnvelope {
  readonly payloadType: string;
  readonly payload: string;
  readonly signatures: readonly DsseSignature[];
}

/** The JSON form an event stores of a DSSE envelope (exactly its three fields, mutable for JSON folds). */
export type EnvelopeJson = {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
};

export const envelopeJson = (e: DsseEnvelope): EnvelopeJson => ({ payloadType: e.payloadType, payload: e.payload, signatures: e.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })) });

export interface DsseSigner {
  readonly keyId: string;
  sign(pae: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface DsseVerifier {
  readonly keyId: string;
  verify(pae: Uint8Array, signature: Uint8Array): boolean;
}

const PREFIX = Buffer.from('DSSEv1 ', 'ascii');
const SP = Buffer.from(' ', 'ascii');

export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    PREFIX,
    Buffer.from(String(type.length), 'ascii'),
    SP,
    type,
    SP,
    Buffer.from(String(payload.length), 'ascii'),
    SP,
    payload,
  ]);
}

/** Signs `payload` with every signer, in the order given. */
export async function signEnvelope(payloadType: string, payload: Uint8Array, signers: readonly DsseSigner[]): Promise<DsseEnvelope> {
  const message = pae(payloadType, payload);
  const signatures: DsseSignature[] = [];
  for (const s of signers) signatures.push({ keyid: s.keyId, sig: Buffer.from(await s.sign(message)).toString('base64') });
  return { payloadType, payload: Buffer.from(payload).toString('base64'), signatures };
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (padded, no whitespace); undefined when malformed. */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (typeof s !== 'string' || !BASE64_RE.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

export interface EnvelopeVerification {
  /** Distinct key ids whose signature verified. */
  readonly verifiedKeyIds: ReadonlySet<string>;
  readonly failures: readonly { keyid: string; reason: 'unknown-key' | 'bad-signature' | 'malformed' }[];
}

/** Verifies every signature against the verifiers by key id; counts each key once. */
export function verifyEnvelope(envelope: DsseEnvelope, verifiers: readonly DsseVerifier[]): EnvelopeVerification {
  const byId = new Map(verifiers.map((v) => [v.keyId, v]));
  const payload = decodeBase64Strict(envelope.payload);
  const verified = new Set<string>();
  const failures: EnvelopeVerification['failures'][number][] = [];
  if (!payload) return { verifiedKeyIds: verified, failures: envelope.signatures.map((s) => ({ keyid: s.keyid, reason: 'malformed' as const })) };
  const message = pae(envelope.payloadType, payload);
  for (const s of envelope.signatures) {
    const verifier = byId.get(s.keyid);
    const sig = decodeBase64Strict(s.sig);
    if (!verifier) failures.push({ keyid: s.keyid, reason: 'unknown-key' });
    else if (!sig) failures.push({ keyid: s.keyid, reason: 'malformed' });
    else if (verifier.verify(message, sig)) verified.add(s.keyid);
    else failures.push({ keyid: s.keyid, reason: 'bad-signature' });
  }
  return { verifiedKeyIds: verified, failures };
}

export const ed25519DsseSigner = (keyId: string, privateKey: KeyObject): DsseSigner => ({
  keyId,
  sign: (m) => ed25519Sign(privateKey, m),
});

export const ed25519DsseVerifier = (keyId: string, publicKey: KeyObject): DsseVerifier => ({
  keyId,
  verify: (m, s) => ed25519Verify(publicKey, m, s),
});
