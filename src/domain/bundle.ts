/**
 * A bundle is one signed document with its version history (stream `bundle-<bundleId>`).
 * Version 1 is the first signing; later versions are re-signings by a newer key (rotation).
 * The bundle id is deterministic per (tenant, payloadType, payload), so signing the same
 * payload again finds the existing bundle instead of creating another.
 */
import { envelopeJson, type DsseEnvelope, type EnvelopeJson } from '../crypto/dsse.ts';
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

export interface BundleVersion {
  readonly version: number;
  readonly keyId: string;
  readonly envelope: EnvelopeJson;
  /** 'signed' for version 1; the rotation reason for re-signings. */
  readonly reason: string;
  readonly createdAt: string;
  /** base64 DER RFC 3161 TimeStampResps over the signature. */
  readonly timestamps: readonly string[];
  /** Re-signed versions: the rotation that made them and their re-signing attestation. */
  readonly resign?: {
    readonly fromVersion: number;
    readonly oldKeyId: string;
    readonly rotationId: string;
    readonly ceremonyId: string;
    readonly attestation?: { readonly envelope: EnvelopeJson; readonly timestamps: readonly string[] };
  };
}

export interface BundleState {
  readonly bundleId: string | null;
  readonly tenant: string | null;
  readonly payloadType: string | null;
  readonly payloadSha256: string | null;
  readonly versions: readonly BundleVersion[];
  /** Versions whose signature did not verify when a rotation tried to re-sign them: never re-signed. */
  readonly failed: readonly { readonly version: number; readonly keyId: string; readonly rotationId: string; readonly reason: string }[];
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
/** The next version of a bundle: the same payload signed by the incoming key during a rotation. */
export type BundleResigned = DomainEvent<
  'BundleResigned',
  {
    bundleId: string;
    version: number;
    fromVersion: number;
    keyId: string;
    oldKeyId: string;
    envelope: EnvelopeJson;
    reason: string;
    rotationId: string;
    ceremonyId: string;
    resignedAt: string;
    timestamps: string[];
  }
>;
/** The re-signing attestation of a version (its own event, so that its envelope is its own log leaf). */
export type ResigningAttested = DomainEvent<
  'ResigningAttested',
  { bundleId: string; version: number; rotationId: string; envelope: EnvelopeJson; timestamps: string[] }
>;
/** The latest version's signature did not verify with its key: recorded, never re-signed. */
export type BundleResignFailed = DomainEvent<
  'BundleResignFailed',
  { bundleId: string; version: number; keyId: string; rotationId: string; reason: string; failedAt: string }
>;
export type BundleEvent = BundleSigned | BundleResigned | ResigningAttested | BundleResignFailed;
export const BUNDLE_EVENT_TYPES = ['BundleSigned', 'BundleResigned', 'ResigningAttested', 'BundleResignFailed'] as const;

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
export type ResignBundle = {
  readonly type: 'ResignBundle';
  readonly bundleId: string;
  /** Only a bundle whose latest version is by this key is re-signed; otherwise nothing is decided. */
  readonly oldKeyId: string;
  readonly newKeyId: string;
  /** The latest version this re-signing supersedes (guards against deciding on a stale read). */
  readonly fromVersion: number;
  readonly envelope: DsseEnvelope;
  readonly attestation: DsseEnvelope;
  readonly reason: string;
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly timestamps: readonly string[];
  readonly attestationTimestamps: readonly string[];
  readonly time: string;
};
/** Records BundleResignFailed as it is, stamped with `time` (its `failedAt`). */
export type RecordResignFailure = { readonly type: 'RecordResignFailure'; readonly time: string } & Readonly<Omit<BundleResignFailed['data'], 'failedAt'>>;
export type BundleCommand = SignBundle | ResignBundle | RecordResignFailure;

/** Whether the bundle's latest version is by `keyId` and has not been recorded as failing verification. */
export function awaitsResigning(state: BundleState, keyId: string): boolean {
  const latest = latestVersion(state);
  return latest !== undefined && latest.keyId === keyId && !state.failed.some((f) => f.version === latest.version);
}

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
        failed: [],
      };
    }
    case 'BundleResigned': {
      const d = event.data;
      const version: BundleVersion = {
        version: d.version,
        keyId: d.keyId,
        envelope: d.envelope,
        reason: d.reason,
        createdAt: d.resignedAt,
        timestamps: d.timestamps,
        resign: { fromVersion: d.fromVersion, oldKeyId: d.oldKeyId, rotationId: d.rotationId, ceremonyId: d.ceremonyId },
      };
      return { ...state, bundleId: state.bundleId ?? d.bundleId, versions: [...state.versions, version] };
    }
    case 'ResigningAttested': {
      const d = event.data;
      const versions = state.versions.map((v) => (v.version === d.version && v.resign ? { ...v, resign: { ...v.resign, attestation: { envelope: d.envelope, timestamps: d.timestamps } } } : v));
      return { ...state, versions };
    }
    case 'BundleResignFailed': {
      const d = event.data;
      return { ...state, failed: [...state.failed, { version: d.version, keyId: d.keyId, rotationId: d.rotationId, reason: d.reason }] };
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
            envelope: envelopeJson(e),
            idempotencyKey: command.idempotencyKey,
            signedAt: command.time,
            timestamps: [...command.timestamps],
          },
        },
      ];
    }
    case 'ResignBundle':
      return decideResign(command, state);
    case 'RecordResignFailure': {
      const latest = latestVersion(state);
      if (!latest || latest.version !== command.version || latest.keyId !== command.keyId) return [];
      if (state.failed.some((f) => f.version === command.version)) return [];
      return [
        {
          type: 'BundleResignFailed',
          data: { bundleId: command.bundleId, version: command.version, keyId: command.keyId, rotationId: command.rotationId, reason: command.reason, failedAt: command.time },
        },
      ];
    }
  }
}

function decideResign(command: ResignBundle, state: BundleState): BundleEvent[] {
  const latest = latestVersion(state);
  if (!latest) throw new LedgerError('not_found', `bundle ${command.bundleId} does not exist`);
  // Already re-signed (by this rotation, perhaps on another instance), or not the outgoing key's.
  if (!awaitsResigning(state, command.oldKeyId) || latest.version !== command.fromVersion) return [];
  const e = command.envelope;
  if (e.payloadType !== latest.envelope.payloadType || e.payload !== latest.envelope.payload) {
    throw new LedgerError('invalid_request', 'a re-signed version must sign the same payload', { reason: 'payload_mismatch' });
  }
  if (e.signatures.length !== 1 || e.signatures[0]!.keyid !== command.newKeyId) {
    throw new LedgerError('invalid_request', 'a re-signed version carries exactly one signature, by the incoming key', { reason: 'bad_signature_set' });
  }
  if (command.attestation.signatures.length !== 1 || command.attestation.signatures[0]!.keyid !== command.newKeyId) {
    throw new LedgerError('invalid_request', 'a re-signing attestation is signed by the incoming key', { reason: 'bad_signature_set' });
  }
  const version = latest.version + 1;
  return [
    {
      type: 'BundleResigned',
      data: {
        bundleId: command.bundleId,
        version,
        fromVersion: latest.version,
        keyId: command.newKeyId,
        oldKeyId: command.oldKeyId,
        envelope: envelopeJson(e),
        reason: command.reason,
        rotationId: command.rotationId,
        ceremonyId: command.ceremonyId,
        resignedAt: command.time,
        timestamps: [...command.timestamps],
      },
    },
    {
      type: 'ResigningAttested',
      data: { bundleId: command.bundleId, version, rotationId: command.rotationId, envelope: envelopeJson(command.attestation), timestamps: [...command.attestationTimestamps] },
    },
  ];
}

export const bundleDecider: Decider<BundleState, BundleCommand, BundleEvent> = {
  initialState: () => ({ bundleId: null, tenant: null, payloadType: null, payloadSha256: null, versions: [], failed: [] }),
  evolve,
  decide,
};

export const latestVersion = (state: BundleState): BundleVersion | undefined => state.versions[state.versions.length - 1];
