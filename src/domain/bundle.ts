/**
 * A bundle is one signed document with its version history (stream `bundle-<bundleId>`).
 * Version 1 is the first signing; later versions are re-signings by a newer key (rotation).
 * The bundle id is deterministic per (tenant, payloadType, payload), so signing the same
 * payload again finds the existing bundle instead of creating another.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { sha256Hex } from '../crypto/hash.ts';
import { jcs } from '../crypto/jcs.ts';
import { LedgerError } from '../errors.ts';
import type { Decider, DomainEvent } from './decider.ts';

export const BUNDLE_STREAM_PREFIX = 'bundle-';
export const bundleStream = (bundleId: string): string => `${BUNDLE_STREAM_PREFIX}${bundleId}`;

const BUNDLE_ID_RE = /^[0-9a-f]{64}$/;
export const isBundleId = (value: unknown): value is string => typeof value === 'string' && BUNDLE_ID_RE.test(value);

/** Lowercase hex SHA-256 over the JCS array [tenant, payloadType, hex SHA-256(payload)]. */
export function bundleIdOf(tenant: string, payloadType: string, payloadSha256: string): string {
  return sha256Hex(jcs(['sigledger/bundle/v1', tenant, payloadType, payloadSha256]));
}

export type EnvelopeJson = {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
};

export interface BundleVersion {
  readonly version: number;
  readonly keyId: string;
  readonly envelope: EnvelopeJson;
  /** 'signed' for version 1; the rotation reason for re-signings. */
  readonly reason: string;
  readonly createdAt: string;
  /** base64 DER RFC 3161 TimeStampResps over the signature. */
  readonly timestamps: readonly string[];
}

export interface BundleState {
  readonly bundleId: string | null;
  readonly tenant: string | null;
  readonly payloadType: string | null;
  readonly payloadSha256: string | null;
  readonly versions: readonly BundleVersion[];
}

export type BundleSigned = DomainEvent<
  'BundleSigned',
  {
    bundleId: string;
    tenant: string;
    version: 1;
    payloadType: string;
    payloadSha256: string;
    keyId: string;
    envelope: EnvelopeJson;
    idempotencyKey: string | null;
    signedAt: string;
    /** base64 DER RFC 3161 TimeStampResps over the signature, from the ledger's TSA. */
    timestamps: string[];
  }
>;
export type BundleEvent = BundleSigned;
export const BUNDLE_EVENT_TYPES = ['BundleSigned'] as const;

export type SignBundle = {
  readonly type: 'SignBundle';
  readonly bundleId: string;
  readonly tenant: string;
  readonly payloadType: string;
  readonly payloadSha256: string;
  readonly keyId: string;
  readonly envelope: DsseEnvelope;
  /** SHA-256 hex of the caller's Idempotency-Key, or null. */
  readonly idempotencyKey: string | null;
  readonly timestamps: readonly string[];
  readonly time: string;
};
export type BundleCommand = SignBundle;

function evolve(state: BundleState, event: BundleEvent): BundleState {
  switch (event.type) {
    case 'BundleSigned': {
      const d = event.data;
      return {
        bundleId: d.bundleId,
        tenant: d.tenant,
        payloadType: d.payloadType,
        payloadSha256: d.payloadSha256,
        versions: [{ version: 1, keyId: d.keyId, envelope: d.envelope, reason: 'signed', createdAt: d.signedAt, timestamps: d.timestamps ?? [] }],
      };
    }
  }
}

function decide(command: BundleCommand, state: BundleState): BundleEvent[] {
  switch (command.type) {
    case 'SignBundle': {
      // Signing an existing bundle again is satisfied by the bundle that is there.
      if (state.versions.length > 0) return [];
      if (bundleIdOf(command.tenant, command.payloadType, command.payloadSha256) !== command.bundleId) {
        throw new LedgerError('invalid_request', 'bundle id does not match tenant, payload type and payload');
      }
      const e = command.envelope;
      if (e.signatures.length !== 1 || e.signatures[0]!.keyid !== command.keyId) {
        throw new LedgerError('invalid_request', 'a bundle carries exactly one signature, by the signing key');
      }
      return [
        {
          type: 'BundleSigned',
          data: {
            bundleId: command.bundleId,
            tenant: command.tenant,
            version: 1,
            payloadType: command.payloadType,
            payloadSha256: command.payloadSha256,
            keyId: command.keyId,
            envelope: { payloadType: e.payloadType, payload: e.payload, signatures: e.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })) },
            idempotencyKey: command.idempotencyKey,
            signedAt: command.time,
            timestamps: [...command.timestamps],
          },
        },
      ];
    }
  }
}

export const bundleDecider: Decider<BundleState, BundleCommand, BundleEvent> = {
  initialState: () => ({ bundleId: null, tenant: null, payloadType: null, payloadSha256: null, versions: [] }),
  evolve,
  decide,
};

export const latestVersion = (state: BundleState): BundleVersion | undefined => state.versions[state.versions.length - 1];
