import { describe, expect, it } from 'vitest';
import { envelopeJson, type DsseEnvelope } from '../../src/crypto/dsse.ts';
import { sha256Hex } from '../../src/crypto/hash.ts';
import { awaitsResigning, bundleDecider, bundleIdOf, isBundleId, latestVersion, type BundleResigned, type BundleResignFailed, type BundleSigned, type RecordResignFailure, type ResignBundle, type ResigningAttested, type SignBundle } from '../../src/domain/bundle.ts';
import { DeciderSpecification } from '../support/decider.ts';

const spec = DeciderSpecification.for(bundleDecider);

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);
const T1 = '2026-11-01T00:00:00.000Z';
const T2 = '2026-12-01T00:00:00.000Z';
const PAYLOAD = Buffer.from('hello').toString('base64');
const PAYLOAD_SHA = sha256Hex(Buffer.from('hello'));
const BUNDLE_ID = bundleIdOf('acme', 'text/plain', PAYLOAD_SHA);

const envelope = (keyids: string[], payload = PAYLOAD, payloadType = 'text/plain'): DsseEnvelope => ({ payloadType, payload, signatures: keyids.map((keyid) => ({ keyid, sig: `sig-by-${keyid.slice(0, 4)}` })) });
const attestation = (keyids: string[]): DsseEnvelope => envelope(keyids, Buffer.from('{"_type":"statement"}').toString('base64'), 'application/vnd.in-toto+json');

const sign: SignBundle = {
  type: 'SignBundle',
  bundleId: BUNDLE_ID,
  tenant: 'acme',
  payloadType: 'text/plain',
  payloadSha256: PAYLOAD_SHA,
  keyId: OLD,
  envelope: envelope([OLD]),
  idempotencyKey: null,
  timestamps: ['tsr-1'],
  time: T1,
};
const signed: BundleSigned = {
  type: 'BundleSigned',
  data: { bundleId: BUNDLE_ID, tenant: 'acme', version: 1, payloadType: 'text/plain', payloadSha256: PAYLOAD_SHA, keyId: OLD, envelope: envelopeJson(envelope([OLD])), idempotencyKey: null, signedAt: T1, timestamps: ['tsr-1'] },
};

const resign: ResignBundle = {
  type: 'ResignBundle',
  bundleId: BUNDLE_ID,
  oldKeyId: OLD,
  newKeyId: NEW,
  fromVersion: 1,
  envelope: envelope([NEW]),
  attestation: attestation([NEW]),
  reason: 'monthly rotation',
  rotationId: 'rot-1',
  ceremonyId: 'c-1',
  timestamps: ['tsr-2'],
  attestationTimestamps: ['tsr-3'],
  time: T2,
};
const resigned: BundleResigned = {
  type: 'BundleResigned',
  data: { bundleId: BUNDLE_ID, version: 2, fromVersion: 1, keyId: NEW, oldKeyId: OLD, envelope: envelopeJson(envelope([NEW])), reason: 'monthly rotation', rotationId: 'rot-1', ceremonyId: 'c-1', resignedAt: T2, timestamps: ['tsr-2'] },
};
const attested: ResigningAttested = { type: 'ResigningAttested', data: { bundleId: BUNDLE_ID, version: 2, rotationId: 'rot-1', envelope: envelopeJson(attestation([NEW])), timestamps: ['tsr-3'] } };

const recordFailure: RecordResignFailure = { type: 'RecordResignFailure', bundleId: BUNDLE_ID, version: 1, keyId: OLD, rotationId: 'rot-1', reason: 'signature_invalid', time: T2 };
const failed: BundleResignFailed = { type: 'BundleResignFailed', data: { bundleId: BUNDLE_ID, version: 1, keyId: OLD, rotationId: 'rot-1', reason: 'signature_invalid', failedAt: T2 } };

describe('bundleDecider (unit)', () => {
  describe('when a payload is signed for the first time', () => {
    it('records version 1 with the envelope as JSON and the timestamps', () => {
      spec.given([]).when(sign).then([signed]);
    });

    it('keeps the caller idempotency key hash', () => {
      spec
        .given([])
        .when({ ...sign, idempotencyKey: 'c'.repeat(64) })
        .then([{ ...signed, data: { ...signed.data, idempotencyKey: 'c'.repeat(64) } }]);
    });
  });

  describe('when the bundle already exists', () => {
    it('decides nothing: signing the same payload again finds the existing bundle', () => {
      spec.given([signed]).when(sign).thenNothingHappened();
      spec.given([signed]).when({ ...sign, keyId: NEW, envelope: envelope([NEW]), time: T2 }).thenNothingHappened();
    });
  });

  describe('when a signing breaks a rule', () => {
    it('refuses a bundle id that is not the one of tenant, payload type and payload', () => {
      spec.given([]).when({ ...sign, tenant: 'other' }).thenThrows('invalid_request');
      spec.given([]).when({ ...sign, bundleId: 'f'.repeat(64) }).thenThrows('invalid_request');
    });

    it('refuses an envelope without exactly one signature by the signing key', () => {
      spec.given([]).when({ ...sign, envelope: envelope([]) }).thenThrows('invalid_request');
      spec.given([]).when({ ...sign, envelope: envelope([OLD, OLD]) }).thenThrows('invalid_request');
      spec.given([]).when({ ...sign, envelope: envelope([NEW]) }).thenThrows('invalid_request');
    });
  });

  describe('when a rotation re-signs the latest version', () => {
    it('records the next version by the incoming key and its re-signing attestation', () => {
      spec.given([signed]).when(resign).then([resigned, attested]);
    });

    it('leaves a bundle that no longer awaits re-signing by the outgoing key', () => {
      spec.given([signed]).when(resign).thenState((state) => {
        expect(latestVersion(state)).toMatchObject({ version: 2, keyId: NEW, resign: { fromVersion: 1, oldKeyId: OLD, attestation: { timestamps: ['tsr-3'] } } });
        expect(awaitsResigning(state, OLD)).toBe(false);
        expect(awaitsResigning(state, NEW)).toBe(true);
      });
    });
  });

  describe('when the re-signing is already done or not this key’s', () => {
    it('decides nothing for a version another instance already re-signed', () => {
      spec.given([signed, resigned, attested]).when(resign).thenNothingHappened();
    });

    it('decides nothing when the latest version is by another key, or the read was stale', () => {
      spec.given([signed]).when({ ...resign, oldKeyId: NEW }).thenNothingHappened();
      spec.given([signed]).when({ ...resign, fromVersion: 2 }).thenNothingHappened();
    });

    it('decides nothing for a version recorded as failing verification', () => {
      spec.given([signed, failed]).when(resign).thenNothingHappened();
    });
  });

  describe('when a re-signing breaks a rule', () => {
    it('refuses to re-sign a bundle that does not exist', () => {
      spec.given([]).when(resign).thenThrows('not_found');
    });

    it('refuses a re-signed envelope over another payload or payload type', () => {
      spec.given([signed]).when({ ...resign, envelope: envelope([NEW], Buffer.from('other').toString('base64')) }).thenThrows('invalid_request', 'payload_mismatch');
      spec.given([signed]).when({ ...resign, envelope: envelope([NEW], PAYLOAD, 'application/json') }).thenThrows('invalid_request', 'payload_mismatch');
    });

    it('refuses a re-signed envelope or attestation not signed once by the incoming key', () => {
      spec.given([signed]).when({ ...resign, envelope: envelope([OLD]) }).thenThrows('invalid_request', 'bad_signature_set');
      spec.given([signed]).when({ ...resign, envelope: envelope([NEW, NEW]) }).thenThrows('invalid_request', 'bad_signature_set');
      spec.given([signed]).when({ ...resign, attestation: attestation([OLD]) }).thenThrows('invalid_request', 'bad_signature_set');
      spec.given([signed]).when({ ...resign, attestation: attestation([]) }).thenThrows('invalid_request', 'bad_signature_set');
    });
  });

  describe('when the latest signature did not verify', () => {
    it('records the failure once, and the bundle no longer awaits re-signing', () => {
      spec.given([signed]).when(recordFailure).then([failed]);
      spec.given([signed]).when(recordFailure).thenState((state) => expect(awaitsResigning(state, OLD)).toBe(false));
    });

    it('decides nothing when already recorded, or for another version or key', () => {
      spec.given([signed, failed]).when(recordFailure).thenNothingHappened();
      spec.given([signed]).when({ ...recordFailure, version: 2 }).thenNothingHappened();
      spec.given([signed]).when({ ...recordFailure, keyId: NEW }).thenNothingHappened();
      spec.given([]).when(recordFailure).thenNothingHappened();
    });
  });

  describe('when ids are derived', () => {
    it('is deterministic per tenant, payload type and payload, and lowercase hex', () => {
      expect(bundleIdOf('acme', 'text/plain', PAYLOAD_SHA)).toBe(BUNDLE_ID);
      expect(bundleIdOf('other', 'text/plain', PAYLOAD_SHA)).not.toBe(BUNDLE_ID);
      expect(bundleIdOf('acme', 'application/json', PAYLOAD_SHA)).not.toBe(BUNDLE_ID);
      expect(isBundleId(BUNDLE_ID)).toBe(true);
      expect(isBundleId(BUNDLE_ID.toUpperCase())).toBe(false);
      expect(isBundleId(BUNDLE_ID.slice(1))).toBe(false);
      expect(isBundleId(42)).toBe(false);
    });
  });
});
