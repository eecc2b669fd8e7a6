import { readFileSync } from 'node:fs';
import * as ed from '@noble/ed25519';
import { describe, expect, it } from 'vitest';
import { decodeBase64Strict, ed25519DsseSigner, ed25519DsseVerifier, pae, signEnvelope, verifyEnvelope } from '../../src/crypto/dsse.ts';
import { keyIdOf, privateKeyFromSeed, publicKeyFromSpki, rawFromSpki, spkiOf } from '../../src/crypto/ed25519.ts';

interface Vectors {
  ed25519SeedHex: string;
  publicKeySpkiDerBase64: string;
  keyId: string;
  vectors: { payloadType: string; payloadBase64: string; paeHex: string; envelope: { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] } }[];
}
const V = JSON.parse(readFileSync(new URL('../vectors/dsse.json', import.meta.url), 'utf8')) as Vectors;

const priv = privateKeyFromSeed(Buffer.from(V.ed25519SeedHex, 'hex'));
const spki = spkiOf(priv);
const keyId = keyIdOf(spki);

describe('dsse', () => {
  describe('when given the shared vectors (RFC 8032 test-1 key)', () => {
    it('derives the SPKI and key id', () => {
      expect(spki.toString('base64')).toBe(V.publicKeySpkiDerBase64);
      expect(keyId).toBe(V.keyId);
    });

    for (const v of V.vectors) {
      it(`builds the PAE and the byte-identical envelope for type "${v.payloadType}"`, async () => {
        const payload = Buffer.from(v.payloadBase64, 'base64');
        expect(pae(v.payloadType, payload).toString('hex')).toBe(v.paeHex);
        const env = await signEnvelope(v.payloadType, payload, [ed25519DsseSigner(keyId, priv)]);
        expect(env).toEqual(v.envelope);
        const check = verifyEnvelope(v.envelope, [ed25519DsseVerifier(keyId, publicKeyFromSpki(spki))]);
        expect([...check.verifiedKeyIds]).toEqual([keyId]);
      });

      it(`verifies the "${v.payloadType}" signature independently with @noble/ed25519`, async () => {
        const sig = Buffer.from(v.envelope.signatures[0]!.sig, 'base64');
        expect(await ed.verifyAsync(sig, Buffer.from(v.paeHex, 'hex'), rawFromSpki(spki))).toBe(true);
      });
    }
  });

  describe('when an envelope is tampered with', () => {
    it('reports a bad signature, an unknown key and malformed base64, and counts a key once', async () => {
      const v = V.vectors[0]!;
      const verifier = ed25519DsseVerifier(keyId, publicKeyFromSpki(spki));
      const flipped = { ...v.envelope, payload: Buffer.from('hello worle').toString('base64') };
      expect(verifyEnvelope(flipped, [verifier]).failures).toEqual([{ keyid: keyId, reason: 'bad-signature' }]);
      const other = { ...v.envelope, signatures: [{ keyid: 'ff'.repeat(32), sig: v.envelope.signatures[0]!.sig }] };
      expect(verifyEnvelope(other, [verifier]).failures[0]!.reason).toBe('unknown-key');
      const malformed = { ...v.envelope, signatures: [{ keyid: keyId, sig: 'not base64!' }] };
      expect(verifyEnvelope(malformed, [verifier]).failures[0]!.reason).toBe('malformed');
      const doubled = { ...v.envelope, signatures: [...v.envelope.signatures, ...v.envelope.signatures] };
      expect(verifyEnvelope(doubled, [verifier]).verifiedKeyIds.size).toBe(1);
    });

    it('decodes only strict padded base64', () => {
      expect(decodeBase64Strict('aGk=')?.toString()).toBe('hi');
      for (const bad of ['aGk', 'a Gk=', 'aGk=\n', '****', 'aGk==']) expect(decodeBase64Strict(bad)).toBeUndefined();
    });
  });
});
