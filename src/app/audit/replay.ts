/**
 * Audit replay (`sigledger replay`): reads the whole history from position 0 and proves it was
 * not altered, independently of the read models the service keeps:
 *
 * - hash chain: every event's hash is SHA-256(previous hash in its stream ‖ canonical event), with
 *   revisions contiguous (src/store/chain.ts);
 * - signatures: every DSSE signature (signings, re-signings, attestations, key transitions)
 *   verifies with the key the key registry had registered at that point, and bundles are never
 *   signed by a key already revoked at that point; checked on worker threads;
 * - checkpoints: each stored checkpoint's note signature verifies with the log key, and its root
 *   equals the root recomputed from the leaves (SPEC §3 leaf bytes) at its size;
 * - ceremonies: every executed ceremony has approvals that verify over its proposal from a
 *   threshold of distinct approvers of its snapshot, and that threshold is at least the policy in
 *   force when it opened; every anchors version made by a ceremony verifies against the previous
 *   version (verifyAnchorsSuccessor);
 * - read models: a fresh fold of every projection (the same runtime the service uses) equals the
 *   live read models, collection by collection.
 *
 * The report names the first bad position; nothing here writes to the history.
 */
import { decodeBase64Strict, pae } from '../../crypto/dsse.ts';
import { ed25519Verify, publicKeyFromSpki, rawFromSpki } from '../../crypto/ed25519.ts';
import { verifyAnchorsSuccessor, type AnchorsDocument } from '../../domain/anchors.ts';
import { approvalMessage, CEREMONY_STREAM_PREFIX, thresholdFor, type CeremonyEvent, type CeremonyProposal } from '../../domain/ceremony.ts';
import { evolveKeyEntry, KEYRING_STREAM, type KeyEntry, type KeyringEvent } from '../../domain/keyring.ts';
import { LOG_STREAM } from '../../domain/transparency-log.ts';
import { isLedgerError } from '../../errors.ts';
import { openCheckpoint } from '../../log/checkpoint.ts';
import { CompactRange, hashLeaf } from '../../log/merkle.ts';
import { isEnvelopeLike, leafDataOf, leafTextOfCanonical } from '../../log/rekor-entry.ts';
import type { Projection } from '../../projections/projection.ts';
import type { ReadModelStore } from '../../store/read-model.ts';
import { ProjectionRuntime } from '../../projections/runtime.ts';
import { canonicalEventText, ChainVerifier } from '../../store/chain.ts';
import type { EventStore, RecordedEvent } from '../../store/event-store.ts';
import { SignaturePool } from './signature-pool.ts';

export type ReplayCheck = 'chain' | 'signatures' | 'checkpoints' | 'ceremonies' | 'anchors' | 'read-models';

export interface ReplayProblem {
  readonly position: number;
  readonly check: ReplayCheck;
  readonly message: string;
}

/** A read model that can be compared as a whole. */
export interface DigestibleReadModel extends ReadModelStore {
  digest(): Map<string, { readonly rows: number; readonly sha256: string }>;
  checkpoints(): { projection: string; version: number; position: number }[];
}

/** A store that can also hand out the canonical text it stored (the SQLite adapter). */
interface CanonicalHistory {
  readAllCanonical(options: { after?: number; maxCount?: number }): Promise<{ event: RecordedEvent; dataJson: string; metadataJson: string }[]>;
}
const hasCanonicalText = (store: EventStore): store is EventStore & CanonicalHistory => typeof (store as Partial<CanonicalHistory>).readAllCanonical === 'function';

export interface ReplayDeps {
  readonly store: EventStore;
  /** Projections to fold into `fresh` (a new factory result: the log projection keeps state). */
  readonly projections?: () => Projection[];
  /** An empty read model to replay into, and the live one to compare with. */
  readonly fresh?: DigestibleReadModel;
  readonly live?: DigestibleReadModel;
  /** Verify signatures (default true) on this many worker threads (default: available cores). */
  readonly signatures?: boolean;
  readonly threads?: number;
  readonly pageSize?: number;
  readonly onProgress?: (position: number, head: number) => void;
}

export interface ReplayReport {
  readonly ok: boolean;
  readonly headPosition: number;
  readonly events: number;
  readonly streams: number;
  readonly seconds: number;
  readonly checks: {
    readonly chain: { readonly events: number };
    readonly signatures: { readonly checked: number; readonly threads: number; readonly skipped: boolean };
    readonly checkpoints: { readonly checked: number; readonly leaves: number };
    readonly ceremonies: { readonly executed: number; readonly approvals: number };
    readonly anchors: { readonly versions: number; readonly chained: number };
    readonly readModels: { readonly compared: number; readonly skipped?: string };
  };
  readonly problems: readonly ReplayProblem[];
  /** Position of the first problem, or null when clean. */
  readonly firstBadPosition: number | null;
}

interface CeremonyTrack {
  proposal: CeremonyProposal | null;
  threshold: number;
  keys: Map<string, string>;
  approvals: Map<string, boolean>;
  policyThreshold: number;
}

const ENVELOPE_SIGNERS: Record<string, 'signer' | 'all'> = {
  BundleSigned: 'signer',
  BundleResigned: 'signer',
  ResigningAttested: 'signer',
  KeyTransitionAttested: 'all',
};

export async function replay(deps: ReplayDeps): Promise<ReplayReport> {
  const started = performance.now();
  const problems: ReplayProblem[] = [];
  const problem = (position: number, check: ReplayCheck, message: string) => problems.push({ position, check, message });
  const head = await deps.store.headPosition();
  const pageSize = deps.pageSize ?? 2000;

  // Checkpoint sizes first (few events), so the main pass records the root exactly at those sizes.
  const wanted = new Set<number>();
  for (let after = 0; ; ) {
    const page = await deps.store.readAll({ after, maxCount: 5000, filter: { types: ['CheckpointPublished'], streamPrefixes: [LOG_STREAM] } });
    if (page.length === 0) break;
    for (const e of page) if (e.position <= head && typeof (e.data as { size?: unknown }).size === 'number') wanted.add((e.data as { size: number }).size);
    after = page[page.length - 1]!.position;
  }

  const chain = new ChainVerifier();
  let chainBroken = false;
  const streams = new Set<string>();
  const keys = new Map<string, KeyEntry>();
  const revokedAt = new Map<string, number>();
  const range = new CompactRange();
  const rootAt = new Map<number, Buffer>();
  let logKey: { name: string; raw: Buffer } | undefined;
  let checkpoints = 0;
  const ceremonies = new Map<string, CeremonyTrack>();
  let executed = 0;
  let approvalsChecked = 0;
  let anchors: AnchorsDocument | null = null;
  let anchorVersions = 0;
  let anchorsChained = 0;
  const checkSignatures = deps.signatures !== false;
  const pool = checkSignatures ? new SignaturePool<{ position: number; message: string }>({ ...(deps.threads ? { threads: deps.threads } : {}) }) : undefined;
  let events = 0;

  const publicKeyOf = (keyId: string) => keys.get(keyId)?.publicKey;

  const onEnvelope = (e: RecordedEvent) => {
    const mode = ENVELOPE_SIGNERS[e.type];
    const data = e.data as { envelope?: unknown; keyId?: string };
    if (!mode || !isEnvelopeLike(data.envelope)) return;
    const envelope = data.envelope;
    const payload = decodeBase64Strict(envelope.payload);
    if (!payload) return problem(e.position, 'signatures', `${e.type} in ${e.stream}: payload is not base64`);
    const message = pae(envelope.payloadType, payload);
    for (const s of envelope.signatures) {
      const key = keys.get(s.keyid);
      if (!key) {
        problem(e.position, 'signatures', `${e.type} in ${e.stream}: signed by key ${s.keyid.slice(0, 64)}, which was not registered at that point`);
        continue;
      }
      if (mode === 'signer') {
        if (data.keyId !== undefined && s.keyid !== data.keyId && e.type !== 'ResigningAttested') problem(e.position, 'signatures', `${e.type} in ${e.stream}: signature by ${s.keyid} but the event names key ${data.keyId}`);
        const revoked = revokedAt.get(s.keyid);
        if (revoked !== undefined) problem(e.position, 'signatures', `${e.type} in ${e.stream}: signed by key ${s.keyid}, revoked at position ${revoked}`);
      }
      const sig = decodeBase64Strict(s.sig);
      if (!sig) {
        problem(e.position, 'signatures', `${e.type} in ${e.stream}: signature is not base64`);
        continue;
      }
      pool?.add({ publicKey: key.publicKey, message, signature: sig, tag: { position: e.position, message: `${e.type} in ${e.stream}: the signature by key ${s.keyid} does not verify` } });
    }
  };

  const onCeremony = (e: RecordedEvent) => {
    const id = e.stream.slice(CEREMONY_STREAM_PREFIX.length);
    const event = { type: e.type, data: e.data } as unknown as CeremonyEvent;
    if (event.type === 'CeremonyOpened') {
      const d = event.data;
      const type = (d.proposal?.action as { type?: string } | undefined)?.type;
      let policy = 0;
      try {
        policy = thresholdFor(type as never, d.approvers.length, anchors?.thresholds[type as keyof AnchorsDocument['thresholds']]);
      } catch {
        problem(e.position, 'ceremonies', `ceremony ${id}: unknown action ${String(type)}`);
      }
      if (d.threshold < policy) problem(e.position, 'ceremonies', `ceremony ${id}: threshold ${d.threshold} is below the policy in force (${policy})`);
      ceremonies.set(id, { proposal: d.proposal, threshold: d.threshold, keys: new Map(Object.entries(d.approverKeys)), approvals: new Map(), policyThreshold: policy });
      return;
    }
    const c = ceremonies.get(id);
    if (!c || !c.proposal) return problem(e.position, 'ceremonies', `ceremony ${id}: ${e.type} before CeremonyOpened`);
    if (event.type === 'ApprovalRecorded') {
      const { approverId, signature } = event.data;
      const key = c.keys.get(approverId);
      const sig = decodeBase64Strict(signature);
      const spki = key ? decodeBase64Strict(key) : undefined;
      const ok = !!spki && !!sig && ed25519Verify(publicKeyFromSpki(spki), approvalMessage(c.proposal), sig);
      approvalsChecked++;
      if (!key) problem(e.position, 'ceremonies', `ceremony ${id}: approval by ${approverId}, who is not in the ceremony's approver snapshot`);
      else if (!ok) problem(e.position, 'ceremonies', `ceremony ${id}: the approval by ${approverId} does not verify over the proposal`);
      else c.approvals.set(approverId, true);
    } else if (event.type === 'CeremonyExecuted') {
      executed++;
      if (c.approvals.size < c.threshold) problem(e.position, 'ceremonies', `ceremony ${id} executed with approvals by ${c.approvals.size}/${c.threshold} approvers`);
    }
  };

  try {
    let after = 0;
    const store = deps.store;
    // With the stored canonical text, the chain hashes exactly the stored bytes (no re-canonicalising).
    const readPage = hasCanonicalText(store)
      ? (from: number) => store.readAllCanonical({ after: from, maxCount: pageSize })
      : async (from: number) => (await store.readAll({ after: from, maxCount: pageSize })).map((event) => ({ event, dataJson: undefined, metadataJson: undefined }));
    while (after < head) {
      const page = await readPage(after);
      if (page.length === 0) break;
      for (const { event: e, dataJson, metadataJson } of page) {
        if (e.position > head) break;
        after = e.position;
        events++;
        streams.add(e.stream);
        if (!chainBroken) {
          try {
            chain.check(e, dataJson !== undefined && metadataJson !== undefined ? canonicalEventText(e.stream, e.revision, { id: e.id, type: e.type, dataJson, metadataJson }) : undefined);
          } catch (err) {
            chainBroken = true;
            problem(e.position, 'chain', isLedgerError(err) ? err.message : 'unreadable event');
          }
        }
        // Registry state as of this event (keys sign only after they are registered).
        if (e.stream === KEYRING_STREAM) {
          const event = { type: e.type, data: e.data } as unknown as KeyringEvent;
          const next = evolveKeyEntry(keys.get(event.data.keyId), event);
          if (next) keys.set(next.keyId, next);
          if (event.type === 'KeyRevoked' && !revokedAt.has(event.data.keyId)) revokedAt.set(event.data.keyId, e.position);
        }
        if (checkSignatures) onEnvelope(e);
        if (e.stream.startsWith(CEREMONY_STREAM_PREFIX)) onCeremony(e);
        if (e.type === 'AnchorsPublished' && e.stream === 'anchors') {
          const next = e.data as unknown as AnchorsDocument;
          anchorVersions++;
          if (anchors && next.ceremony) {
            const v = verifyAnchorsSuccessor(anchors, next);
            anchorsChained++;
            if (!v.ok) problem(e.position, 'anchors', `anchors version ${next.version}: ${v.reasons.join('; ')}`);
          } else if (anchors) problem(e.position, 'anchors', `anchors version ${next.version} was published without a ceremony`);
          anchors = next;
        }
        if (e.stream === LOG_STREAM && e.type === 'LogKeyCreated') {
          const d = e.data as { publicKey: string; origin: string };
          const spki = decodeBase64Strict(d.publicKey);
          try {
            if (spki) logKey = { name: d.origin, raw: rawFromSpki(spki) };
          } catch {
            problem(e.position, 'checkpoints', 'the log key is not an Ed25519 key');
          }
        }
        if (e.stream === LOG_STREAM && e.type === 'CheckpointPublished') {
          const d = e.data as { size: number; rootHash: string; note: string };
          checkpoints++;
          const cp = logKey ? openCheckpoint(d.note, { name: logKey.name, rawPublicKey: logKey.raw }) : undefined;
          const root = rootAt.get(d.size);
          if (!logKey) problem(e.position, 'checkpoints', 'checkpoint before the log key was created');
          else if (!cp) problem(e.position, 'checkpoints', `checkpoint at size ${d.size}: the note signature does not verify with the log key`);
          else if (cp.size !== d.size || cp.rootHash.toString('base64') !== d.rootHash) problem(e.position, 'checkpoints', `checkpoint at size ${d.size}: the signed note and the recorded size/root differ`);
          else if (!root) problem(e.position, 'checkpoints', `checkpoint at size ${d.size}: the log has only ${range.size} leaves at that point`);
          else if (!root.equals(cp.rootHash)) problem(e.position, 'checkpoints', `checkpoint at size ${d.size}: root ${cp.rootHash.toString('base64')} differs from the recomputed ${root.toString('base64')}`);
        }
        // Every event is a leaf (SPEC §3), after the checks above (a checkpoint covers earlier leaves).
        let leaf: Buffer;
        try {
          const hasEnvelope = typeof e.data === 'object' && e.data !== null && 'envelope' in e.data;
          leaf = dataJson !== undefined && !hasEnvelope ? leafTextOfCanonical(e.stream, e.revision, e.type, dataJson) : leafDataOf(e, publicKeyOf);
        } catch {
          problem(e.position, 'signatures', `${e.type} in ${e.stream}: names a key not registered at that point`);
          leaf = Buffer.alloc(0);
        }
        range.append(hashLeaf(leaf));
        if (wanted.has(range.size)) rootAt.set(range.size, range.root());
      }
      deps.onProgress?.(after, head);
      await pool?.backpressure();
    }
    for (const f of (await pool?.drain()) ?? []) problem(f.position, 'signatures', f.message);
  } finally {
    await pool?.close();
  }

  // Read models: fold everything into a fresh read model with the service's own runtime, compare.
  let compared = 0;
  let skipped: string | undefined;
  if (deps.fresh && deps.projections) {
    const runtime = new ProjectionRuntime({ store: deps.store, readModel: deps.fresh, projections: deps.projections() });
    runtime.start();
    try {
      await runtime.waitFor(head, 10 * 60_000);
    } finally {
      await runtime.stop();
    }
    if (!deps.live) skipped = 'no live read model to compare with';
    else {
      const freshCp = new Map(deps.fresh.checkpoints().map((c) => [c.projection, c]));
      const liveCp = deps.live.checkpoints();
      const behind = liveCp.filter((c) => freshCp.get(c.projection)?.position !== c.position || freshCp.get(c.projection)?.version !== c.version);
      if (liveCp.length === 0) skipped = 'the live read model is empty';
      else if (behind.length > 0) skipped = `the live read models are at other positions (${behind.map((c) => `${c.projection}@${c.position}`).join(', ')}) than the history (${head}); stop the service or replay again`;
      else {
        const a = deps.fresh.digest();
        const b = deps.live.digest();
        for (const name of new Set([...a.keys(), ...b.keys()])) {
          compared++;
          const x = a.get(name);
          const y = b.get(name);
          if (!x || !y || x.sha256 !== y.sha256) problem(head, 'read-models', `read model "${name}" differs from a fresh replay (${y?.rows ?? 0} live rows, ${x?.rows ?? 0} replayed)`);
        }
      }
    }
  }

  problems.sort((a, b) => a.position - b.position);
  return {
    ok: problems.length === 0,
    headPosition: head,
    events,
    streams: streams.size,
    seconds: (performance.now() - started) / 1000,
    checks: {
      chain: { events: chain.verified },
      signatures: { checked: pool?.checked ?? 0, threads: pool?.threads ?? 0, skipped: !checkSignatures },
      checkpoints: { checked: checkpoints, leaves: range.size },
      ceremonies: { executed, approvals: approvalsChecked },
      anchors: { versions: anchorVersions, chained: anchorsChained },
      readModels: { compared, ...(skipped ? { skipped } : {}) },
    },
    problems,
    firstBadPosition: problems[0]?.position ?? null,
  };
}
