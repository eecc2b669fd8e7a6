/**
 * The README.md of an offline kit: for the person on the air-gapped machine, what each file is,
 * which fingerprints to compare before trusting the kit, and the commands to run.
 */
import type { AnchorsDocument } from '../../domain/anchors.ts';
import { anchorsFileName, bundleFile } from './layout.ts';

export interface ReadmeFacts {
  readonly base: string;
  readonly exportedAt: string;
  readonly anchors: readonly AnchorsDocument[];
  readonly anchorsV1: string;
  readonly trustedRoot: string;
  readonly checkpoint: { origin: string; size: number } | undefined;
  readonly bundles: readonly { id: string; latestVersion: number; attestations: number[] }[];
}

export function readme(k: ReadmeFacts): string {
  const n = k.anchors.length;
  const first = k.bundles[0];
  const example = first ? bundleFile(first.id, first.latestVersion, 'bundle') : 'bundles/<bundleId>/v<n>.bundle.json';
  const lines = [
    '# sigledger offline verification kit',
    '',
    `Exported from ${k.base} at ${k.exportedAt} by \`sigledger kit export\`. It holds everything needed to`,
    'verify the bundles below on a machine with no network: copy this directory there as it is.',
    '',
    '## Files',
    '',
    '| file | what it is |',
    '|---|---|',
    "| `trusted_root.json` | Sigstore TrustedRoot of the ledger: the transparency log's public key (checkpoints, inclusion proofs) and the certificate chain of its RFC 3161 time-stamp authority |",
    `| \`anchors/<version>.json\` | every trust-anchors version, 1 to ${n} (file name = version on 10 digits): the signing keys with their validity windows, the approvers and the thresholds; each version after 1 carries the ceremony proposal that made it and, as \`signatures\`, the approvals |`,
    `| \`anchors.json\` | the latest anchors version (= \`anchors/${anchorsFileName(n)}\`) |`,
    `| \`checkpoint\` | the log's latest signed checkpoint at export time (C2SP signed note${k.checkpoint ? `: ${k.checkpoint.origin}, size ${k.checkpoint.size}` : ''}) |`,
    '| `bundles/<bundleId>/v<n>.bundle.json` | version n of a bundle: a Sigstore bundle v0.3 (DSSE envelope, log entry with its inclusion proof, RFC 3161 timestamp) |',
    '| `bundles/<bundleId>/v<n>.attestation.json` | for a version made by re-signing (key rotation or revocation): the re-signing attestation, an in-toto statement naming the old and the new key, itself a Sigstore bundle |',
    "| `bundles/<bundleId>/history.json` | the bundle's versions: key, reason and time of each |",
    '| `kit.json` | manifest of this export: source, time, fingerprints, every file with its SHA-256 |',
    '',
    '## Before trusting this kit',
    '',
    'Two documents are trusted on first use, like the root v1 of TUF. Compare their fingerprints',
    "(SHA-256 of their RFC 8785 canonical JSON) with ones you obtained another way, e.g. from the ledger's operators:",
    '',
    `- anchors version 1: \`sha256:${k.anchorsV1}\``,
    `- trusted_root.json: \`sha256:${k.trustedRoot}\``,
    '',
    '`sigledger verify` checks every later anchors version against the one before it (a threshold of',
    "that version's approvers must have signed exactly the change) and prints both fingerprints.",
    '',
    '## Verify',
    '',
    'On the air-gapped machine, with sigledger installed (a copy of its repository after `npm install`;',
    'use `npx sigledger` inside it, or `node <repo>/bin/sigledger.mjs`). Run from this directory:',
    '',
    '```sh',
    `sigledger verify --bundle ${example} --trust .`,
    `sigledger verify --bundle ${example} --trust . --artifact FILE   # and FILE is what was signed`,
    `sigledger verify --bundle ${example} --trust . --json            # one JSON object`,
    'for f in bundles/*/v*.*.json; do sigledger verify --bundle "$f" --trust . >/dev/null || echo "NOT VALID: $f"; done',
    '```',
    '',
    'Exit status 0: valid; 1: invalid, with the reasons on stdout; 2: usage error. `--artifact FILE`',
    'checks, for an in-toto statement, that a subject has the SHA-256 of FILE, and otherwise that FILE',
    'is exactly the signed payload.',
    '',
    "The latest anchors version's keys are used: each key verifies only signatures timestamped inside",
    'its validity window, so a version signed by a key after its compromise instant is invalid; the',
    "bundle's next version, re-signed by the next key, is the one to rely on.",
    '',
    '## Bundles in this kit',
    '',
  ];
  if (k.bundles.length === 0) lines.push('None: this kit holds the trust material only (export with `--bundle ID` to add bundles).');
  for (const b of k.bundles) {
    lines.push(`- \`${b.id}\`: versions 1..${b.latestVersion}${b.attestations.length ? `; re-signing attestations for version${b.attestations.length > 1 ? 's' : ''} ${b.attestations.join(', ')}` : ''}`);
  }
  lines.push('');
  return lines.join('\n');
}
