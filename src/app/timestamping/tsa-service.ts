/**
 * The ledger's RFC 3161 Time-Stamp Authority. At first start it creates its chain (self-issued
 * root, TSA leaf with the critical timeStamping EKU, ECDSA P-256), seals the leaf key under the
 * KEK and records `TsaCreated`. Every granted timestamp is a `TimestampIssued` event whose stream
 * revision is the token's serial number. Requests are queued and granted in batches: one append
 * (one fsync) covers every timestamp of a batch; a rejection appends nothing.
 */
import { createHash, randomUUID } from 'node:crypto';
import { TSA_STREAM, tsaDecider, type TimestampIssued, type TsaState } from '../../domain/timestamping.ts';
import { ConcurrencyError, LedgerError } from '../../errors.ts';
import type { SecretStore } from '../../store/secret-store.ts';
import type { EventStore } from '../../store/event-store.ts';
import { createTsaChain } from '../../tsa/chain.ts';
import { DEFAULT_TSA_POLICY_OID, TimestampAuthority, type RespondContext, type TimestampResponse } from '../../tsa/tsa.ts';
import { handleCommand } from '../common/command-handler.ts';
import { loadState } from '../common/load-state.ts';
import type { Logger } from '../common/logger.ts';
import { wholeSecond } from '../common/time.ts';

export interface TsaServiceDeps {
  readonly store: EventStore;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Where the TSA key is kept (sealed under the KEK); events carry only its reference. */
  readonly secrets: SecretStore;
  readonly validityDays?: number;
}

/** A queued request: an RFC 3161 query (DER), or the SHA-256 digest of a bundle signature. */
type Pending = ({ readonly query: Buffer; readonly digest?: undefined } | { readonly query?: undefined; readonly digest: Buffer }) & {
  readonly purpose: 'api' | 'bundle';
  readonly resolve: (r: TimestampResponse) => void;
  readonly reject: (e: unknown) => void;
};

const SHA256_OID = '2.16.840.1.101.3.4.2.1';

const MAX_BATCH = 256;

export class TsaService {
  private authority: TimestampAuthority | undefined;
  private created: TsaState['tsa'] = null;
  private next = 0;
  private pending: Pending[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly deps: TsaServiceDeps) {}

  private async state(): Promise<TsaState> {
    return loadState(this.deps.store, TSA_STREAM, tsaDecider);
  }

  async init(): Promise<void> {
    let state = await this.state();
    if (!state.tsa) {
      const now = this.deps.now();
      const chain = await createTsaChain({ now, ...(this.deps.validityDays ? { validityDays: this.deps.validityDays } : {}) });
      const keyRef = await this.deps.secrets.put(`tsa-${randomUUID().slice(0, 8)}`, chain.leafPrivateKeyPkcs8);
      chain.leafPrivateKeyPkcs8.fill(0);
      const { X509Certificate } = await import('node:crypto');
      const leaf = new X509Certificate(chain.leafCertDer);
      const time = now.toISOString();
      try {
        state = (
          await handleCommand(
            { store: this.deps.store },
            TSA_STREAM,
            tsaDecider,
            {
              type: 'CreateTsa',
              certChain: [chain.leafCertDer.toString('base64'), chain.rootCertDer.toString('base64')],
              policyOid: DEFAULT_TSA_POLICY_OID,
              validFrom: new Date(leaf.validFrom).toISOString(),
              validUntil: new Date(leaf.validTo).toISOString(),
              keyRef,
              createdAt: time,
            },
            { metadata: { time, correlationId: randomUUID(), actor: 'system:init' } },
          )
        ).state;
      } catch (err) {
        state = await this.state();
        if (!state.tsa) throw err;
      }
    }
    const tsa = state.tsa!;
    const key = await this.deps.secrets.get(tsa.keyRef);
    const [leaf, ...chain] = tsa.certChain.map((c) => Buffer.from(c, 'base64'));
    this.authority = new TimestampAuthority({ leafCertDer: leaf!, chainDers: chain, privateKeyPkcs8: key, ...(tsa.policyOid ? { policyOid: tsa.policyOid } : {}) });
    key.fill(0);
    this.created = tsa;
    this.next = state.next;
  }

  /** The TSA's certificates (leaf first, base64 DER) and validity, for trusted_root.json. */
  info(): NonNullable<TsaState['tsa']> {
    if (!this.created) throw new LedgerError('not_ready', 'the timestamp authority is not initialised yet');
    return this.created;
  }

  /** Answers one RFC 3161 query (DER): a granted token is recorded before it is returned. */
  respond(query: Buffer, purpose: 'api' | 'bundle' = 'api'): Promise<TimestampResponse> {
    return this.enqueue({ query }, purpose);
  }

  private enqueue(request: { query: Buffer } | { digest: Buffer }, purpose: 'api' | 'bundle'): Promise<TimestampResponse> {
    if (!this.authority) return Promise.reject(new LedgerError('not_ready', 'the timestamp authority is not initialised yet'));
    return new Promise((resolve, reject) => {
      this.pending.push({ ...request, purpose, resolve, reject });
      this.running ??= this.drain().finally(() => (this.running = undefined));
    });
  }

  /**
   * An RFC 3161 timestamp over a signature's bytes, as Sigstore bundles carry it
   * (`rfc3161Timestamps[].signedTimestamp` is the whole TimeStampResp, base64 DER). The token is
   * the one a SHA-256 query without nonce and certReq would get, granted without building or
   * parsing that query.
   */
  async timestampSignature(signature: Uint8Array): Promise<string> {
    const res = await this.enqueue({ digest: createHash('sha256').update(signature).digest() }, 'bundle');
    if (res.status !== 'granted') throw new LedgerError('internal', `the timestamp authority refused a signature (${res.failInfo ?? 'unknown'})`);
    return res.der.toString('base64');
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_BATCH);
      try {
        const results = await this.grant(batch);
        batch.forEach((p, i) => p.resolve(results[i]!));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
  }

  /** Signs every query of the batch with consecutive serials and records the granted ones in one append. */
  private async grant(batch: readonly Pending[], attempt = 0): Promise<TimestampResponse[]> {
    const authority = this.authority!;
    // genTime in whole seconds (see time.ts).
    const time = wholeSecond(this.deps.now());
    // Validate every query first (parsed once, no serial needed), then sign the acceptable ones
    // (synchronously, ~30 µs each) with consecutive serials. Bundle digests need no checks.
    const results: (TimestampResponse | undefined)[] = [];
    const accepted: { i: number; info: { hashOid: string; hashedMessage: Buffer; nonce?: bigint }; grant: (ctx: RespondContext) => TimestampResponse }[] = [];
    batch.forEach((p, i) => {
      if (p.digest !== undefined) {
        const digest = p.digest;
        accepted.push({ i, info: { hashOid: SHA256_OID, hashedMessage: digest }, grant: (ctx) => authority.grantDigest({ hash: SHA256_OID, digest }, ctx) });
        return;
      }
      const e = authority.examine(p.query);
      if (e.status !== 'acceptable') results[i] = e;
      else accepted.push({ i, info: e.info, grant: (ctx) => authority.grantQuery(e, ctx) });
    });
    const issued: TimestampIssued['data'][] = [];
    accepted.forEach(({ i, info, grant }, k) => {
      let r: TimestampResponse;
      try {
        r = grant({ serial: BigInt(this.next + k), time });
      } catch {
        throw new LedgerError('internal', 'a query that passed the checks was not granted');
      }
      results[i] = r;
      issued.push({
        serial: String(this.next + k),
        hashAlgorithm: info.hashOid,
        messageImprint: Buffer.from(info.hashedMessage).toString('hex'),
        nonce: info.nonce === undefined ? null : String(info.nonce),
        genTime: time.toISOString(),
        purpose: batch[i]!.purpose,
      });
    });
    if (issued.length === 0) return results as TimestampResponse[];
    const stamp = time.toISOString();
    try {
      await this.deps.store.appendToStream(
        TSA_STREAM,
        tsaDecider
          .decide({ type: 'RecordTimestamps', timestamps: issued }, { tsa: this.created, next: this.next })
          .map((e) => ({ type: e.type, data: e.data, metadata: { time: stamp, correlationId: randomUUID(), actor: 'system:tsa' } })),
        { expectedRevision: this.next - 1 },
      );
      this.next += issued.length;
      return results as TimestampResponse[];
    } catch (err) {
      if (!(err instanceof ConcurrencyError) || attempt >= 5) throw err;
      // Another instance granted timestamps meanwhile: take the next free serials and sign again.
      this.next = (await this.state()).next;
      return this.grant(batch, attempt + 1);
    }
  }

  async drained(): Promise<void> {
    await this.running;
  }
}
