/**
 * The transparency log's application side:
 * - the dedicated Ed25519 log key (created once in the key store, recorded as `LogKeyCreated`);
 * - the checkpoint publisher: after each projection batch, at most once per `intervalMs`, signs a
 *   C2SP checkpoint for the log's current size and records it as `CheckpointPublished` (stream
 *   `log`, optimistic concurrency, so two instances never publish two roots for one size);
 * - proofs, entries and tiles read from the log projection, and the Sigstore `TransparencyLogEntry`
 *   that goes into bundles.
 */
import { randomUUID } from 'node:crypto';
import { rawFromSpki } from '../../crypto/ed25519.ts';
import { LOG_STREAM, logDecider, type LogState } from '../../domain/transparency-log.ts';
import { ConfigError, LedgerError } from '../../errors.ts';
import { formatCheckpointBody, noteKeyHash, noteKeyId, signNote } from '../../log/checkpoint.ts';
import { consistencyProof, inclusionProof } from '../../log/merkle.ts';
import { REKOR_DSSE_API_VERSION, REKOR_DSSE_KIND } from '../../log/rekor-entry.ts';
import { LogReader, type StoredCheckpoint } from '../../projections/log.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import type { ProjectionRuntime } from '../../projections/runtime.ts';
import type { KeyStore, SigningKeyHandle } from '../../store/key-store.ts';
import type { EventStore } from '../../store/event-store.ts';
import { handleCommand } from '../common/command-handler.ts';
import { loadState } from '../common/load-state.ts';
import type { Logger } from '../common/logger.ts';

export const DEFAULT_LOG_ORIGIN = 'sigledger.local/log';

export interface LogServiceDeps {
  readonly store: EventStore;
  readonly runtime: ProjectionRuntime;
  readonly readModel: ReadModelReader;
  readonly keyStore: KeyStore;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly origin: string;
  /** Minimum time between two checkpoints (default 1000 ms). */
  readonly intervalMs?: number;
}

export interface LogIdentity {
  readonly origin: string;
  readonly keyId: string;
  /** base64 DER SPKI of the log key. */
  readonly publicKey: string;
  /** SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ pubkey): the TrustedRoot's logId and checkpointKeyId. */
  readonly logId: Buffer;
  readonly createdAt: string;
}

interface SizeWaiter {
  readonly size: number;
  readonly resolve: (cp: StoredCheckpoint) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

export class LogService {
  readonly reader: LogReader;
  private handle: SigningKeyHandle | undefined;
  private ident: LogIdentity | undefined;
  private lastPublishedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  private again = false;
  private waiters: SizeWaiter[] = [];
  private stopped = false;
  private readonly intervalMs: number;

  constructor(private readonly deps: LogServiceDeps) {
    this.reader = new LogReader(deps.readModel);
    this.intervalMs = deps.intervalMs ?? 1000;
  }

  private async logState(): Promise<LogState> {
    return loadState(this.deps.store, LOG_STREAM, logDecider);
  }

  /** Creates the log key on first start, or loads it; refuses an origin that changed. */
  async init(): Promise<LogIdentity> {
    let state = await this.logState();
    if (!state.key) {
      const generated = await this.deps.keyStore.generate('sigledger-log');
      const raw = rawFromSpki(generated.publicKeySpki);
      const time = this.deps.now().toISOString();
      try {
        const result = await handleCommand(
          this.deps,
          LOG_STREAM,
          logDecider,
          {
            type: 'CreateLogKey',
            keyId: generated.keyId,
            publicKey: generated.publicKeySpki.toString('base64'),
            backend: this.deps.keyStore.backend,
            ref: generated.ref,
            origin: this.deps.origin,
            noteKeyId: noteKeyId(this.deps.origin, raw).toString('hex'),
            createdAt: time,
          },
          { metadata: { time, correlationId: randomUUID(), actor: 'system:init' } },
        );
        state = result.state;
      } catch (err) {
        state = await this.logState();
        if (!state.key) throw err;
      }
    }
    const key = state.key!;
    if (key.origin !== this.deps.origin) {
      throw new ConfigError(`SIGLEDGER_LOG_ORIGIN is "${this.deps.origin}" but this log was created as "${key.origin}"; a log's origin cannot change`);
    }
    this.handle = await this.deps.keyStore.load(key.ref);
    if (this.handle.keyId !== key.keyId) throw new LedgerError('key_store_unavailable', 'the key store returned another key for the log key');
    this.ident = {
      origin: key.origin,
      keyId: key.keyId,
      publicKey: key.publicKey,
      logId: noteKeyHash(key.origin, rawFromSpki(Buffer.from(key.publicKey, 'base64'))),
      createdAt: key.createdAt,
    };
    return this.ident;
  }

  identity(): LogIdentity {
    if (!this.ident) throw new LedgerError('not_ready', 'the log is not initialised yet');
    return this.ident;
  }

  /** Called after every projection batch: publishes now, or schedules for when the interval allows. */
  onBatch(): void {
    if (this.stopped || !this.handle) return;
    const wait = this.lastPublishedAt + this.intervalMs - Date.now();
    if (wait <= 0) void this.publish();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.publish();
      }, wait);
      this.timer.unref?.();
    }
  }

  /** Signs and records a checkpoint for the projected size, when there is anything new to cover. */
  publish(): Promise<void> {
    if (this.publishing) {
      // One publication at a time; what arrives meanwhile is covered by a later one.
      this.again = true;
      return this.publishing;
    }
    const run = this.publishOnce().finally(() => {
      this.publishing = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.onBatch();
      }
    });
    this.publishing = run;
    return run;
  }

  private async publishOnce(): Promise<void> {
    // Always yield first, so `publishing` is set before anything can finish.
    await Promise.resolve();
    try {
      const ident = this.identity();
      const state = this.reader.state();
      const latest = this.reader.latestCheckpoint();
      // Leaves after the last checkpoint that are themselves checkpoints need no new one.
      if (state.contentSize === 0 || (latest && latest.size >= state.contentSize)) return;
      this.lastPublishedAt = Date.now();
      const body = formatCheckpointBody({ origin: ident.origin, size: state.size, rootHash: Buffer.from(state.root, 'base64') });
      const handle = this.handle!;
      const signature = await handle.sign(Buffer.from(body, 'utf8'));
      const note = signNote(body, { name: ident.origin, rawPublicKey: rawFromSpki(handle.publicKeySpki), signature: Buffer.from(signature) });
      const time = this.deps.now().toISOString();
      await handleCommand(
        this.deps,
        LOG_STREAM,
        logDecider,
        { type: 'PublishCheckpoint', origin: ident.origin, size: state.size, rootHash: state.root, note, time },
        { metadata: { time, correlationId: randomUUID(), actor: 'system:log' }, retries: 5 },
      );
    } catch (err) {
      if (!this.stopped) this.deps.logger.error({ code: err instanceof LedgerError ? err.code : 'internal', message: (err as Error).message }, 'checkpoint publication failed; retrying with the next batch');
    }
  }

  /** Called after every projection batch (also for the checkpoint events themselves). */
  settle(): void {
    if (this.waiters.length === 0) return;
    const latest = this.reader.latestCheckpoint();
    if (!latest) return;
    const keep: SizeWaiter[] = [];
    for (const w of this.waiters) {
      if (latest.size >= w.size) {
        clearTimeout(w.timer);
        w.resolve(latest);
      } else keep.push(w);
    }
    this.waiters = keep;
  }

  /** Resolves with the first checkpoint whose size is at least `size` (read-your-writes for the log). */
  waitForCheckpoint(size: number, timeoutMs = 15_000): Promise<StoredCheckpoint> {
    const latest = this.reader.latestCheckpoint();
    if (latest && latest.size >= size) return Promise.resolve(latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new LedgerError('projection_timeout', `no checkpoint covering ${size} leaves within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ size, resolve, reject, timer });
      this.onBatch();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new LedgerError('not_ready', 'the log is shutting down'));
    }
    this.waiters = [];
  }

  async drain(): Promise<void> {
    await this.publishing;
  }

  inclusionProof(index: number, size: number): Buffer[] {
    return inclusionProof(index, size, this.reader.node);
  }

  consistencyProof(from: number, to: number): Buffer[] {
    return consistencyProof(from, to, this.reader.node);
  }

  /**
   * The Sigstore `TransparencyLogEntry` (JSON) for the leaf at `index`, with an inclusion proof
   * against `checkpoint` (default: the latest).
   */
  tlogEntry(index: number, checkpoint: StoredCheckpoint | undefined = this.reader.latestCheckpoint()) {
    if (!checkpoint || checkpoint.size <= index) return undefined;
    const body = this.reader.leafData(index);
    if (!body) return undefined;
    const ident = this.identity();
    return {
      logIndex: String(index),
      logId: { keyId: ident.logId.toString('base64') },
      kindVersion: { kind: REKOR_DSSE_KIND, version: REKOR_DSSE_API_VERSION },
      inclusionProof: {
        logIndex: String(index),
        rootHash: checkpoint.rootHash,
        treeSize: String(checkpoint.size),
        hashes: this.inclusionProof(index, checkpoint.size).map((h) => h.toString('base64')),
        checkpoint: { envelope: checkpoint.note },
      },
      canonicalizedBody: body.toString('base64'),
    };
  }

  /** The Sigstore TrustedRoot listing this log (SPEC §2/§3). */
  trustedRoot() {
    const ident = this.identity();
    const logId = { keyId: ident.logId.toString('base64') };
    return {
      mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
      tlogs: [
        {
          baseUrl: `https://${ident.origin}`,
          hashAlgorithm: 'SHA2_256',
          publicKey: { rawBytes: ident.publicKey, keyDetails: 'PKIX_ED25519', validFor: { start: ident.createdAt } },
          logId,
          checkpointKeyId: logId,
        },
      ],
      certificateAuthorities: [],
      ctlogs: [],
      timestampAuthorities: [],
    };
  }
}
