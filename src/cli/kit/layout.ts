/** The file layout of an offline kit, shared by `kit export` (writes it) and `verify --trust DIR` (reads it). */

/** `kind` of kit.json. */
export const KIT_KIND = 'sigledger-offline-kit';

/** `anchors/<version, 10 digits>.json`: names sort as versions do. */
export const anchorsFileName = (version: number): string => `${String(version).padStart(10, '0')}.json`;
export const ANCHORS_FILE_RE = /^(\d{10})\.json$/;

/** Every path a kit may list in kit.json (anything else in a manifest is ignored). */
export const KIT_FILE_RE = /^(?:trusted_root\.json|anchors\.json|checkpoint|README\.md|anchors\/\d{10}\.json|bundles\/[0-9a-f]{64}\/(?:v[1-9]\d{0,9}\.(?:bundle|attestation)\.json|history\.json))$/;

/** The per-bundle files of a kit. */
export const bundleFile = (id: string, version: number, kind: 'bundle' | 'attestation'): string => `bundles/${id}/v${version}.${kind}.json`;
export const historyFile = (id: string): string => `bundles/${id}/history.json`;
