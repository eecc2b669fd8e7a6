/** Bounds on everything the CLI reads from files and services (shared by verify, kit, attach, trust). */
import { MAX_NOTE_BYTES } from '../../log/checkpoint.ts';

export const LIMITS = {
  /** trusted_root.json, one anchors version, kit.json. */
  document: 4 << 20,
  /** A bundle or attestation file / one bundle version response (payloads up to 16 MiB, base64). */
  bundle: 64 << 20,
  checkpoint: MAX_NOTE_BYTES,
  /** Most anchors versions a history may have. */
  anchorsVersions: 10_000,
  /** Most versions of one bundle. */
  bundleVersions: 10_000,
  /** Per HTTP request, body included. */
  requestTimeoutMs: 30_000,
} as const;
