/**
 * An RFC 3161 Time-Stamp Authority (library only: no HTTP, no persistence).
 *
 * - `respond(queryDer, { serial, time })` reads a TimeStampReq strictly (`query.ts`) and always
 *   returns a TimeStampResp: bytes from the network never make it throw.
 * - `examine` + `grantQuery` read a query once and grant it; `check` only validates (so a caller
 *   can assign serials to queries that will be granted only).
 * - `grantDigest({ hash, digest }, ctx)` grants a timestamp over a digest the caller computed (no
 *   query to build or read).
 *
 * Tokens are written by `GrantWriter` (`response.ts`). Clients that build queries and read
 * responses live with the tests (test/support/tsa-client.ts): the ledger itself never needs them.
 *
 * Policy OID: DEFAULT_TSA_POLICY_OID = 1.3.6.1.4.1.32473.1.3161.1, under the IANA "example"
 * Private Enterprise Number 32473 (RFC 5612, reserved for documentation). We deliberately avoid
 * 1.3.6.1.4.1.57264 (Sigstore's PEN). It is a placeholder: production deployments should pass
 * an OID under their own PEN via `policyOid`.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import * as der from './der.ts';
import { TAG } from './der.ts';
import { toArrayBuffer } from './engine.ts';
import { isRejection, queryInfoOf, readQuery, type ParsedQuery, type QueryInfo, type QueryPolicy } from './query.ts';
import { GrantWriter, rejectionDer } from './response.ts';
import { assertNonce, hashOf, type TsaFailInfo, type TsaHash } from './rfc3161.ts';

export const DEFAULT_TSA_POLICY_OID = '1.3.6.1.4.1.32473.1.3161.1';

export interface TimestampAuthorityOptions {
  leafCertDer: Uint8Array;
  /** Issuer chain, leaf's issuer first (typically just the root). Included when certReq is true. */
  chainDers?: Uint8Array[];
  privateKeyPkcs8: Uint8Array;
  /** Defaults to DEFAULT_TSA_POLICY_OID. */
  policyOid?: string;
  /** Positive integer; included as TSTInfo.accuracy.seconds when set. */
  accuracySeconds?: number;
  /** Include TSTInfo.tsa = directoryName(leaf subject). Default true. */
  includeTsaName?: boolean;
}

export interface RespondContext {
  /** TSTInfo.serialNumber; must be a non-negative integer of at most 160 bits (unique per token). */
  serial: bigint;
  /** TSTInfo.genTime; encoded as GeneralizedTime UTC with millisecond precision (DER-trimmed). */
  time: Date;
}

export interface TimestampResponse {
  status: 'granted' | 'rejection';
  failInfo?: TsaFailInfo;
  /** The TimeStampResp DER. */
  der: Buffer;
  /** The TimeStampToken (ContentInfo DER), when granted. */
  token?: Buffer;
}

/** A granted timestamp for a digest the caller computed (no TimeStampReq to build or parse). */
export interface DigestRequest {
  /** Hash algorithm of `digest`: a name or its OID. */
  hash: TsaHash | string;
  digest: Uint8Array;
  /** Echoed as TSTInfo.nonce; in (0, 2^160). */
  nonce?: bigint;
  /** Include the TSA's certificates in the token. Default false. */
  certReq?: boolean;
}

/** A query that passed every check, with what it asks to timestamp (see `TimestampAuthority.examine`). */
export interface AcceptedQuery {
  readonly status: 'acceptable';
  readonly info: QueryInfo;
  /** @internal */
  readonly parsed: ParsedQuery;
}

const OID_RE = /^[0-2](\.(0|[1-9]\d*))+$/;

export class TimestampAuthority {
  readonly policyOid: string;
  private readonly policy: QueryPolicy;
  private readonly writer: GrantWriter;

  constructor(options: TimestampAuthorityOptions) {
    const policyOid = options.policyOid ?? DEFAULT_TSA_POLICY_OID;
    if (!OID_RE.test(policyOid)) throw new TypeError(`invalid policy OID: ${policyOid}`);
    if (options.accuracySeconds !== undefined && (!Number.isInteger(options.accuracySeconds) || options.accuracySeconds < 1)) {
      throw new RangeError('accuracySeconds must be a positive integer');
    }
    const leafDer = Buffer.from(options.leafCertDer);
    const leaf = pkijs.Certificate.fromBER(toArrayBuffer(leafDer));
    const chainDers = (options.chainDers ?? []).map((d) => Buffer.from(d));
    for (const d of chainDers) pkijs.Certificate.fromBER(toArrayBuffer(d)); // must parse
    const key: KeyObject = createPrivateKey({ key: Buffer.from(options.privateKeyPkcs8), format: 'der', type: 'pkcs8' });
    const derivedSpki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    if (Buffer.compare(derivedSpki, spkiOfCert(leaf)) !== 0) throw new TypeError('private key does not match the leaf certificate');
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new TypeError('TSA signing key must be an ECDSA P-256 private key');
    }
    this.policyOid = policyOid;
    this.policy = { oid: policyOid, der: der.oid(policyOid) };
    this.writer = new GrantWriter({
      leaf,
      leafDer,
      chainDers,
      key,
      policyDer: this.policy.der,
      accuracySeconds: options.accuracySeconds,
      includeTsaName: options.includeTsaName ?? true,
    });
  }

  /** What a valid query asks to timestamp (hash algorithm OID, digest, nonce), or undefined. */
  queryInfo(queryDer: Uint8Array): QueryInfo | undefined {
    const q = readQuery(queryDer, this.policy);
    return isRejection(q) ? undefined : queryInfoOf(q);
  }

  /**
   * Validates a query without signing: undefined when `respond` would grant it, else the
   * rejection it would give. Lets a caller assign serials only to queries that will be granted.
   */
  async check(queryDer: Uint8Array): Promise<TimestampResponse | undefined> {
    const e = this.examine(queryDer);
    return e.status === 'acceptable' ? undefined : e;
  }

  /**
   * Parses and validates a query once: the rejection `respond` would give, or the accepted query
   * (with what it asks to timestamp) to pass to `grantQuery`.
   */
  examine(queryDer: Uint8Array): AcceptedQuery | TimestampResponse {
    const q = readQuery(queryDer, this.policy);
    if (isRejection(q)) return rejection(q.failInfo, q.message);
    return { status: 'acceptable', info: queryInfoOf(q), parsed: q };
  }

  /**
   * Answers a TimeStampReq. Rejections (bad input) resolve with status 'rejection'; it only rejects
   * the promise for invalid `ctx` (programmer error). Signing failures yield failInfo systemFailure.
   */
  async respond(queryDer: Uint8Array, ctx: RespondContext): Promise<TimestampResponse> {
    checkContext(ctx);
    const e = this.examine(queryDer);
    if (e.status !== 'acceptable') return e;
    try {
      return this.grant(e.parsed.imprintDer, e.parsed.nonceDer, e.parsed.certReq, ctx);
    } catch {
      return rejection('systemFailure', 'internal error');
    }
  }

  /** Grants a query `examine` accepted (synchronously). Throws on invalid `ctx` or a signing failure. */
  grantQuery(query: AcceptedQuery, ctx: RespondContext): TimestampResponse {
    checkContext(ctx);
    return this.grant(query.parsed.imprintDer, query.parsed.nonceDer, query.parsed.certReq, ctx);
  }

  /**
   * Grants a timestamp over a digest (synchronously), as `respond` would for a query with that
   * messageImprint (hash parameters absent), nonce and certReq. Throws on invalid input.
   */
  grantDigest(request: DigestRequest, ctx: RespondContext): TimestampResponse {
    checkContext(ctx);
    const hash = hashOf(request.hash);
    if (!hash) throw new TypeError(`unsupported hash: ${String(request.hash)}`);
    if (!(request.digest instanceof Uint8Array) || request.digest.byteLength !== hash.len) {
      throw new RangeError(`a ${hash.name} digest has ${hash.len} bytes`);
    }
    let nonceDer: Buffer | undefined;
    if (request.nonce !== undefined) {
      assertNonce(request.nonce);
      nonceDer = der.integer(request.nonce);
    }
    const imprintDer = der.tlv(TAG.SEQUENCE, hash.algDer, der.tlv(TAG.OCTET_STRING, request.digest));
    return this.grant(imprintDer, nonceDer, request.certReq === true, ctx);
  }

  private grant(imprintDer: Uint8Array, nonceDer: Uint8Array | undefined, certReq: boolean, ctx: RespondContext): TimestampResponse {
    const { der: response, token } = this.writer.write({ imprintDer, nonceDer, certReq, serial: ctx.serial, time: ctx.time });
    return { status: 'granted', der: response, token };
  }
}

function rejection(failInfo: TsaFailInfo, message: string): TimestampResponse {
  return { status: 'rejection', failInfo, der: rejectionDer(failInfo, message) };
}

function spkiOfCert(cert: pkijs.Certificate): Buffer {
  return Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER(false));
}

function checkContext(ctx: RespondContext): void {
  if (typeof ctx.serial !== 'bigint' || ctx.serial < 0n || ctx.serial >= 1n << 160n) {
    throw new RangeError('serial must be a bigint in [0, 2^160)');
  }
  if (!(ctx.time instanceof Date) || Number.isNaN(ctx.time.getTime())) throw new TypeError('time must be a valid Date');
  const year = ctx.time.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError('time must be within the years 0000..9999');
}
