/**
 * `sigledger kit export --url URL --out DIR [--bundle ID]... [--force]`: writes an offline
 * verification kit (SPEC §1) that `sigledger verify --trust DIR` checks with no network:
 *
 *   DIR/trusted_root.json                        Sigstore TrustedRoot (log key, TSA chain)
 *   DIR/anchors/<version, 10 digits>.json        every anchors version 1..latest
 *   DIR/anchors.json                             the latest anchors version
 *   DIR/checkpoint                               the latest signed checkpoint (C2SP signed note)
 *   DIR/bundles/<bundleId>/v<n>.bundle.json      every version of each --bundle
 *   DIR/bundles/<bundleId>/v<n>.attestation.json the re-signing attestation of a re-signed version
 *   DIR/bundles/<bundleId>/history.json          the bundle's version list (key, reason, time)
 *   DIR/README.md                                what each file is and the commands to run
 *   DIR/kit.json                                 manifest: source, time, fingerprints, files
 *
 * Bundles are the ones named by --bundle (the API has no listing of all bundles, and a kit for
 * every bundle of a ledger would not be one a verifier carries); without --bundle the kit holds
 * the trust material only. Nothing is written until the anchors chain and the requested bundles
 * are known to be there; each file is written to a temporary name, synced and renamed; the
 * manifest is written last. DIR must be empty, new, or a previous kit (its files that the new
 * export no longer has are removed); --force writes into any directory and removes nothing.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { sha256Hex } from '../crypto/hash.ts';
import { writeFileAtomically } from '../util/atomic-write.ts';
import { isBundleId } from '../domain/bundle.ts';
import type { AnchorsDocument } from '../domain/anchors.ts';
import { ConfigError } from '../errors.ts';
import {
  anchorsFileName,
  baseUrl,
  checkAnchorsChain,
  evaluateTrust,
  fetchAnchorsVersions,
  fetchLatestAnchors,
  FetchError,
  fingerprint,
  getCheckpoint,
  getJson,
  InputError,
  KIT_KIND,
  LIMITS,
  parseStrictJson,
  printable,
  validateTrustedRoot,
} from './verify.ts';

export interface KitExportOptions {
  readonly url: string;
  readonly out: string;
  readonly bundles: readonly string[];
  readonly force: boolean;
}

export interface KitIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const MAX_BUNDLES = 10_000;
const CONCURRENCY = 4;
const KIT_FILE_RE = /^(?:trusted_root\.json|anchors\.json|checkpoint|README\.md|anchors\/\d{10}\.json|bundles\/[0-9a-f]{64}\/(?:v[1-9]\d{0,9}\.(?:bundle|attestation)\.json|history\.json))$/;

class WriteError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const pretty = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

// ---------------------------------------------------------------------------------------------
// The directory

interface Manifest {
  readonly files: Record<string, string>;
}

async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    const handle = await open(join(dir, 'kit.json'), constants.O_RDONLY | constants.O_NONBLOCK);
    let bytes: Buffer;
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > LIMITS.document) return undefined;
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
    const m = parseStrictJson(bytes, 'kit.json');
    if (!isObject(m) || m.kind !== KIT_KIND) return undefined;
    const files: Record<string, string> = {};
    if (isObject(m.files)) for (const [path, digest] of Object.entries(m.files)) if (KIT_FILE_RE.test(path) && typeof digest === 'string') files[path] = digest;
    return { files };
  } catch {
    return undefined;
  }
}

/** Checks that DIR is new, empty or a previous kit (or --force); the previous manifest. */
async function prepareDir(dir: string, force: boolean): Promise<Manifest | undefined> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot use --out ${printable(dir, 200)} (${err.code ?? 'error'})`);
  });
  if (!info) return undefined; // created when the first file is written, once the trust checked out
  if (!info.isDirectory()) throw new ConfigError(`--out ${printable(dir, 200)} exists and is not a directory`);
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot list --out ${printable(dir, 200)} (${err.code ?? 'error'})`);
  });
  if (entries.length === 0) return undefined;
  const previous = await readManifest(dir);
  if (previous) return previous;
  if (force) return undefined;
  throw new ConfigError(`--out ${printable(dir, 200)} is not empty and is not a sigledger kit (no kit.json); choose an empty directory or add --force`);
}

/** Creates the directory if needed, then replaces `path` atomically (src/util/atomic-write.ts). */
async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomically(path, data, 0o644);
  } catch (err) {
    throw new WriteError(`cannot write ${printable(path, 200)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

class KitWriter {
  readonly files: Record<string, string> = {};
  constructor(private readonly dir: string) {}
  async write(rel: string, data: string): Promise<void> {
    await writeAtomic(join(this.dir, ...rel.split('/')), data);
    this.files[rel] = sha256Hex(data);
  }
}

// ---------------------------------------------------------------------------------------------
// Fetching bundles

interface BundleSummary {
  readonly bundleId: string;
  readonly latestVersion: number;
  readonly versions: unknown[];
}

async function fetchSummary(base: string, id: string): Promise<BundleSummary> {
  const path = `/api/v1/bundles/${id}`;
  const body = await getJson(base, path, LIMITS.bundle * 2);
  if (!isObject(body) || typeof body.latestVersion !== 'number' || !Number.isSafeInteger(body.latestVersion) || body.latestVersion < 1 || !Array.isArray(body.versions)) {
    throw new InputError(`GET ${path} is not a bundle history`);
  }
  if (body.latestVersion > LIMITS.bundleVersions) throw new InputError(`bundle ${id} has ${body.latestVersion} versions, more than the ${LIMITS.bundleVersions} allowed`);
  return { bundleId: id, latestVersion: body.latestVersion, versions: body.versions };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// ---------------------------------------------------------------------------------------------
// README

function readme(k: {
  base: string;
  exportedAt: string;
  anchors: readonly AnchorsDocument[];
  anchorsV1: string;
  trustedRoot: string;
  checkpoint: { origin: string; size: number } | undefined;
  bundles: readonly { id: string; latestVersion: number; attestations: number[] }[];
}): string {
  const n = k.anchors.length;
  const first = k.bundles[0];
  const example = first ? `bundles/${first.id}/v${first.latestVersion}.bundle.json` : 'bundles/<bundleId>/v<n>.bundle.json';
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

// ---------------------------------------------------------------------------------------------
// The command

export async function kitExport(options: KitExportOptions, io: KitIo): Promise<number> {
  const base = baseUrl(options.url);
  const ids = [...new Set(options.bundles)];
  for (const id of ids) if (!isBundleId(id)) throw new ConfigError(`--bundle must be a bundle id (64 lowercase hex characters), got "${printable(id, 80)}"`);
  if (ids.length > MAX_BUNDLES) throw new ConfigError(`at most ${MAX_BUNDLES} --bundle`);
  const dir = resolve(options.out);
  const previous = await prepareDir(dir, options.force);

  try {
    // 1. Trust, checked before anything is written.
    const trustedRoot = validateTrustedRoot(await getJson(base, '/api/v1/trust/trusted_root.json', LIMITS.document), 'GET /api/v1/trust/trusted_root.json');
    const latest = await fetchLatestAnchors(base);
    const anchors = await fetchAnchorsVersions(base, 1, latest.version);
    const chain = checkAnchorsChain(anchors);
    if (!chain.ok) throw new InputError(`the service's anchors history does not verify: ${chain.reasons.join('; ')}`);
    // 2. Every requested bundle exists.
    const summaries = await mapLimit(ids, CONCURRENCY, (id) => fetchSummary(base, id));

    const exportedAt = new Date().toISOString();
    const writer = new KitWriter(dir);
    if (!previous) await writeAtomic(join(dir, 'kit.json'), pretty({ kind: KIT_KIND, formatVersion: 1, complete: false, exportedFrom: base, exportedAt, files: {} }));

    // 3. Bundle versions (before the final anchors and checkpoint, so those cover them).
    const { bundleFromJSON } = await import('@sigstore/bundle');
    const jobs = summaries.flatMap((s) => Array.from({ length: s.latestVersion }, (_, i) => ({ id: s.bundleId, version: i + 1 })));
    const attested = await mapLimit(jobs, CONCURRENCY, async ({ id, version }) => {
      const path = `/api/v1/bundles/${id}/versions/${version}`;
      const body = await getJson(base, path, LIMITS.bundle * 2);
      if (!isObject(body) || body.version !== version || !isObject(body.bundle)) throw new InputError(`GET ${path} is not that bundle version`);
      for (const field of ['bundle', 'attestation'] as const) {
        if (body[field] === undefined) continue;
        try {
          bundleFromJSON(body[field]);
        } catch (err) {
          throw new InputError(`GET ${path}: ${field} is not a Sigstore bundle (${printable((err as Error).message, 200)})`);
        }
      }
      await writer.write(`bundles/${id}/v${version}.bundle.json`, pretty(body.bundle));
      if (body.attestation !== undefined) await writer.write(`bundles/${id}/v${version}.attestation.json`, pretty(body.attestation));
      return body.attestation !== undefined;
    });
    for (const s of summaries) await writer.write(`bundles/${s.bundleId}/history.json`, pretty({ bundleId: s.bundleId, latestVersion: s.latestVersion, versions: s.versions }));

    // 4. The anchors as they are now (a rotation may have published more) and the latest checkpoint.
    const now = await fetchLatestAnchors(base);
    if (now.version < latest.version) throw new InputError(`the service's latest anchors went back from version ${latest.version} to ${now.version}`);
    const all = [...anchors, ...(await fetchAnchorsVersions(base, latest.version + 1, now.version))];
    const checkpoint = await getCheckpoint(base);
    const evaluation = evaluateTrust({ kind: 'url', source: base, trustedRoot, anchors: all, latest: now, ...(checkpoint !== undefined ? { checkpoint } : {}), notes: [] });
    if (evaluation.reasons.length > 0) throw new InputError(`the service's trust material does not verify: ${evaluation.reasons.join('; ')}`);

    // 5. Trust files, README, manifest (last).
    for (const doc of all) await writer.write(`anchors/${anchorsFileName(doc.version)}`, pretty(doc));
    await writer.write('anchors.json', pretty(all[all.length - 1]));
    await writer.write('trusted_root.json', pretty(trustedRoot));
    if (checkpoint !== undefined) await writer.write('checkpoint', checkpoint);
    const bundles = summaries.map((s) => ({
      id: s.bundleId,
      latestVersion: s.latestVersion,
      attestations: jobs.flatMap((j, i) => (j.id === s.bundleId && attested[i] ? [j.version] : [])),
    }));
    const cp = evaluation.checkpoint ? { origin: evaluation.checkpoint.origin, size: evaluation.checkpoint.size } : undefined;
    const anchorsV1 = fingerprint(all[0]);
    const rootFingerprint = fingerprint(trustedRoot);
    await writer.write('README.md', readme({ base, exportedAt, anchors: all, anchorsV1, trustedRoot: rootFingerprint, checkpoint: cp, bundles }));
    await writeAtomic(
      join(dir, 'kit.json'),
      pretty({
        kind: KIT_KIND,
        formatVersion: 1,
        complete: true,
        exportedFrom: base,
        exportedAt,
        anchors: { latestVersion: all.length, version1Sha256: anchorsV1 },
        trustedRootSha256: rootFingerprint,
        checkpoint: cp ?? null,
        bundles: Object.fromEntries(bundles.map((b) => [b.id, { latestVersion: b.latestVersion, attestations: b.attestations }])),
        files: Object.fromEntries(Object.entries(writer.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      }),
    );

    // 6. Files of the previous kit that this one no longer has.
    if (previous) {
      const stale = Object.keys(previous.files).filter((f) => !(f in writer.files));
      for (const f of stale) await rm(join(dir, ...f.split('/')), { force: true }).catch(() => undefined);
      for (const d of new Set(stale.filter((f) => f.startsWith('bundles/')).map((f) => f.split('/').slice(0, 2).join('/')))) await rmdir(join(dir, ...d.split('/'))).catch(() => undefined);
    }

    const versions = jobs.length;
    const attestations = attested.filter(Boolean).length;
    io.out(`kit written to ${dir}`);
    io.out(`anchors: versions 1..${all.length}, chain verified; version 1 sha256:${anchorsV1} is trusted on first use`);
    io.out(`trusted_root.json: sha256:${rootFingerprint}`);
    io.out(cp ? `checkpoint: ${printable(cp.origin, 80)} size ${cp.size}` : 'checkpoint: none published yet');
    io.out(`bundles: ${bundles.length} (${versions} version${versions === 1 ? '' : 's'}, ${attestations} re-signing attestation${attestations === 1 ? '' : 's'})`);
    return 0;
  } catch (err) {
    if (err instanceof FetchError || err instanceof InputError || err instanceof WriteError) {
      io.err(`sigledger kit export: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
