/**
 * `sigledger kit export --url URL --out DIR [--bundle ID]... [--force]`: writes an offline
 * verification kit (SPEC §1) that `sigledger verify --trust DIR` checks with no network:
 *
 *   DIR/trusted_root.json                        Sigstore TrustedRoot (log key, TSA chain)
 *   DIR/anchors/<version, 10 digits>.json        every anchors version 1..latest
 *   DIR/anchors.json                             the latest anchors version
 *   DIR/checkpoint                               the latest signed checkpoint (C2SP signed note)
 *   DIR/bundles/<bundleId>/v<n>.bundle.json      every version of each bundle
 *   DIR/bundles/<bundleId>/v<n>.attestation.json the re-signing attestation of a re-signed version
 *   DIR/bundles/<bundleId>/history.json          the bundle's version list (key, reason, time)
 *   DIR/README.md                                what each file is and the commands to run
 *   DIR/kit.json                                 manifest: source, time, fingerprints, files
 *
 * Bundles are the ones named by --bundle (the API has no listing of all bundles, and a kit for
 * every bundle of a ledger would not be one a verifier carries) plus, when DIR is a previous kit,
 * the ones it already holds (exported again at their latest versions: nothing is ever deleted).
 * A previous kit of another ledger, or of an older state of this one, is refused.
 * Nothing is written until the anchors chain and every bundle are known to be there; each file is
 * written to a temporary name, synced and renamed; the manifest is written last.
 */
import { join, resolve } from 'node:path';
import { isBundleId } from '../../domain/bundle.ts';
import { InputError, UsageError } from '../common/errors.ts';
import { baseUrl } from '../common/http-client.ts';
import { pretty, writeOutputFile } from '../common/output-files.ts';
import { printable } from '../common/printable.ts';
import { checkAnchorsChain } from '../trust/anchors-chain.ts';
import { evaluateTrust, fingerprint } from '../trust/evaluate.ts';
import { fetchAnchorsVersions, fetchLatestAnchors, fetchTrustedRoot, getCheckpoint } from '../trust/trust-client.ts';
import { fetchKeptSummary, fetchSummary, fetchVersion, mapLimit } from './bundles.ts';
import { assertMergeable, KitWriter, prepareDir } from './directory.ts';
import { anchorsFileName, bundleFile, historyFile, KIT_KIND } from './layout.ts';
import { readme } from './readme.ts';

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
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function kitExport(options: KitExportOptions, io: KitIo): Promise<number> {
  const base = baseUrl(options.url);
  const requested = [...new Set(options.bundles)];
  for (const id of requested) if (!isBundleId(id)) throw new UsageError(`--bundle must be a bundle id (64 lowercase hex characters), got "${printable(id, 80)}"`);
  const dir = resolve(options.out);
  const previous = await prepareDir(dir, options.force);
  const kept = previous?.bundles ?? [];
  const ids = [...new Set([...kept, ...requested])];
  if (ids.length > MAX_BUNDLES) throw new UsageError(`at most ${MAX_BUNDLES} bundles in a kit (--bundle and the ones already in it)`);

  // 1. Trust, checked before anything is written.
  const trustedRoot = await fetchTrustedRoot(base);
  const latest = await fetchLatestAnchors(base);
  const anchors = await fetchAnchorsVersions(base, 1, latest.version);
  const chain = checkAnchorsChain(anchors);
  if (!chain.ok) throw new InputError(`the service's anchors history does not verify: ${chain.reasons.join('; ')}`);
  if (previous) assertMergeable(dir, previous, { base, anchorsV1: fingerprint(anchors[0]), latestVersion: latest.version });
  // 2. Every bundle exists (the requested ones, and the ones the kit already holds).
  const keptSet = new Set(kept);
  const summaries = await mapLimit(ids, CONCURRENCY, (id) => (keptSet.has(id) ? fetchKeptSummary(base, id) : fetchSummary(base, id)));

  const exportedAt = new Date().toISOString();
  const writer = new KitWriter(dir);
  if (!previous) await writeOutputFile(join(dir, 'kit.json'), pretty({ kind: KIT_KIND, formatVersion: 1, complete: false, exportedFrom: base, exportedAt, files: {} }));

  // 3. Bundle versions (before the final anchors and checkpoint, so those cover them).
  const jobs = summaries.flatMap((s) => Array.from({ length: s.latestVersion }, (_, i) => ({ id: s.bundleId, version: i + 1 })));
  const attested = await mapLimit(jobs, CONCURRENCY, async ({ id, version }) => {
    const v = await fetchVersion(base, id, version);
    await writer.write(bundleFile(id, version, 'bundle'), pretty(v.bundle));
    if (v.attestation !== undefined) await writer.write(bundleFile(id, version, 'attestation'), pretty(v.attestation));
    return v.attestation !== undefined;
  });
  for (const s of summaries) await writer.write(historyFile(s.bundleId), pretty({ bundleId: s.bundleId, latestVersion: s.latestVersion, versions: s.versions }));

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
  await writeOutputFile(
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

  const attestations = attested.filter(Boolean).length;
  io.out(`kit written to ${dir}`);
  io.out(`anchors: versions 1..${all.length}, chain verified; version 1 sha256:${anchorsV1} is trusted on first use`);
  io.out(`trusted_root.json: sha256:${rootFingerprint}`);
  io.out(cp ? `checkpoint: ${printable(cp.origin, 80)} size ${cp.size}` : 'checkpoint: none published yet');
  io.out(`bundles: ${bundles.length} (${plural(jobs.length, 'version')}, ${plural(attestations, 're-signing attestation')})`);
  if (kept.length > 0) io.out(`kept ${plural(kept.length, 'bundle')} already in the kit, exported again at ${kept.length === 1 ? 'its' : 'their'} latest version; nothing was deleted (export into a new directory for a kit without ${kept.length === 1 ? 'it' : 'them'})`);
  return 0;
}
