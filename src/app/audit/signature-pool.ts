/**
 * Ed25519 verification on worker threads, for audit replay: the main thread reads and folds the
 * history while the workers check signatures in batches. Each worker keeps one KeyObject per
 * public key (parsing a key per call is ~18× slower). The worker code is plain JavaScript using
 * only node:crypto, so it runs the same from sources (tsx) and from a build.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
parentPort.on('message', ({ id, items }) => {
  const bad = [];
  for (let i = 0; i < items.length; i++) {
    const { k, m, s } = items[i];
    let key = keys.get(k);
    if (key === undefined) {
      try { key = createPublicKey({ key: Buffer.from(k, 'base64'), format: 'der', type: 'spki' }); } catch { key = null; }
      keys.set(k, key);
    }
    let ok = false;
    if (key && s.length === 64) { try { ok = verify(null, m, key, s); } catch { ok = false; } }
    if (!ok) bad.push(i);
  }
  parentPort.postMessage({ id, bad });
});
`;

export interface SignatureItem<T> {
  /** base64 DER SPKI of the Ed25519 key. */
  readonly publicKey: string;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  /** What to report when the signature does not verify. */
  readonly tag: T;
}

export class SignaturePool<T> {
  private readonly workers: Worker[];
  private next = 0;
  private seq = 0;
  private batch: SignatureItem<T>[] = [];
  private readonly pending = new Map<number, { items: SignatureItem<T>[]; resolve: () => void; reject: (e: unknown) => void }>();
  private readonly inflight: Promise<void>[] = [];
  readonly failures: T[] = [];
  checked = 0;

  constructor(options: { readonly threads?: number; readonly batchSize?: number } = {}) {
    const threads = Math.max(1, options.threads ?? availableParallelism());
    this.batchSize = options.batchSize ?? 512;
    this.workers = Array.from({ length: threads }, () => {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.on('message', ({ id, bad }: { id: number; bad: number[] }) => {
        const job = this.pending.get(id);
        if (!job) return;
        this.pending.delete(id);
        for (const i of bad) this.failures.push(job.items[i]!.tag);
        this.checked += job.items.length;
        job.resolve();
      });
      w.on('error', (err) => {
        for (const job of this.pending.values()) job.reject(err);
        this.pending.clear();
      });
      return w;
    });
  }

  private readonly batchSize: number;

  get threads(): number {
    return this.workers.length;
  }

  add(item: SignatureItem<T>): void {
    this.batch.push(item);
    if (this.batch.length >= this.batchSize) this.flush();
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const items = this.batch;
    this.batch = [];
    const id = this.seq++;
    const worker = this.workers[this.next++ % this.workers.length]!;
    this.inflight.push(
      new Promise<void>((resolve, reject) => {
        this.pending.set(id, { items, resolve, reject });
        worker.postMessage({ id, items: items.map((x) => ({ k: x.publicKey, m: x.message, s: x.signature })) });
      }),
    );
  }

  /** Lets the reader slow down when too many batches are in flight. */
  async backpressure(maxInflight = 64): Promise<void> {
    if (this.pending.size > maxInflight) await Promise.race(this.inflight.slice(-maxInflight));
  }

  /** Waits for every queued check; returns the tags of the signatures that did not verify. */
  async drain(): Promise<T[]> {
    this.flush();
    await Promise.all(this.inflight);
    this.inflight.length = 0;
    return this.failures;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
