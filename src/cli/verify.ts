/**
 * `sigledger verify --bundle FILE --trust DIR_OR_URL [--artifact FILE] [--json]`: offline
 * verification of a bundle (SPEC §1). Exit 0 valid, 1 invalid, 2 usage.
 *
 * Trust comes from a directory (an offline kit written by `sigledger kit export`, or any directory
 * with `trusted_root.json` and `anchors/<version, 10 digits>.json`) — no network at all — or
 * from a service URL (the same documents over HTTP, bounded in time and size). The anchors
 * history is checked from version 1 with `verifyAnchorsSuccessor`; version 1 is trusted on first
 * use, as TUF's root v1, and so is `trusted_root.json` (both fingerprints are printed so they can
 * be compared out of band). The bundle is then verified with the real `@sigstore/verify` and the
 * latest anchors version's keys (each key's validity window bounds the signing times it may
 * verify), with the default thresholds (tlog 1, timestamp 1).
 *
 * Every file and response is hostile input: sizes are bounded before reading, JSON is strict
 * (UTF-8, no duplicate keys, bounded depth), shapes are checked before use, and every failure
 * becomes a reason on stdout, never a stack trace.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeBase64Strict } from '../crypto/dsse.ts';
import { isEd25519Spki, keyIdOf, rawFromSpki } from '../crypto/ed25519.ts';
import { sha256Hex } from '../crypto/hash.ts';
import { jcs } from '../crypto/jcs.ts';
import { verifyAnchorsSuccessor, type AnchorsDocument } from '../domain/anchors.ts';
import type { Bundle } from '@sigstore/bundle';
import { parseLedgerBundle, trustMaterialOf, verifyLedgerBundle } from '../sigstore/bundle-verifier.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../domain/sign-request.ts';
import { ConfigError } from '../errors.ts';
import { openCheckpoint, openNote, parseCheckpointBody, MAX_NOTE_BYTES, type Checkpoint } from '../log/checkpoint.ts';

// ---------------------------------------------------------------------------------------------
// Limits and file layout (shared with `kit export`)

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

export const KIT_KIND = 'sigledger-offline-kit';
export const anchorsFileName = (version: number): string => `${String(version).padStart(10, '0')}.json`;
const ANCHORS_FILE_RE = /^(\d{10})\.json$/;

// ---------------------------------------------------------------------------------------------
// Errors

/** Hostile or malformed content: becomes a reason of an "invalid" verdict (exit 1). */
export class InputError extends Error {}
/** The trust could not be obtained (network, HTTP status): one line on stderr, exit 1. */
export class FetchError extends Error {}

/** A string safe to print on one terminal line: control characters escaped, bounded length. */
export function printable(s: string, max = 300): string {
  const escaped = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

const errorMessage = (err: unknown): string => printable(err instanceof Error ? err.message.split('\n')[0]! : String(err));

// ---------------------------------------------------------------------------------------------
// Strict JSON

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_DEPTH = 64;

/** Duplicate keys and nesting depth, on text JSON.parse already accepted. */
function structureProblem(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return `duplicate key "${printable(key, 60)}"`;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      stack.push(ch === 0x7b ? new Set() : null);
      if (stack.length > MAX_DEPTH) return `nested deeper than ${MAX_DEPTH}`;
      expectKey = ch === 0x7b;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return undefined;
}

/** UTF-8, RFC 8259 JSON, no duplicate keys, depth ≤ 64; throws InputError naming `what`. */
export function parseStrictJson(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new InputError(`${what} is not UTF-8 text`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${what} is not JSON (${errorMessage(err)})`);
  }
  const problem = structureProblem(text);
  if (problem) throw new InputError(`${what} is not strict JSON: ${problem}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Shapes

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const isInstant = (v: unknown): v is string => typeof v === 'string' && RFC3339_RE.test(v) && Number.isFinite(Date.parse(v));
const HEX64_RE = /^[0-9a-f]{64}$/;

function checkKey(id: string, k: unknown, where: string, withValidity: boolean): void {
  if (!HEX64_RE.test(id)) throw new InputError(`${where}: "${printable(id, 80)}" is not a key id (64 lowercase hex characters)`);
  if (!isObject(k)) throw new InputError(`${where}.${id.slice(0, 12)}… is not an object`);
  const spki = typeof k.rawBytes === 'string' && k.rawBytes.length <= 1024 ? decodeBase64Strict(k.rawBytes) : undefined;
  if (!spki || !isEd25519Spki(spki)) throw new InputError(`${where}.${id.slice(0, 12)}…: rawBytes is not a base64 DER Ed25519 public key`);
  if (k.keyDetails !== 'PKIX_ED25519') throw new InputError(`${where}.${id.slice(0, 12)}…: keyDetails is not PKIX_ED25519`);
  if (keyIdOf(spki) !== id) throw new InputError(`${where}: ${id} is not the SHA-256 of its public key`);
  if (withValidity) {
    const v = k.validFor;
    if (!isObject(v) || (v.start !== undefined && !isInstant(v.start)) || (v.end !== undefined && !isInstant(v.end))) throw new InputError(`${where}.${id.slice(0, 12)}…: validFor must be {start?, end?} with RFC 3339 instants`);
  }
}

/** Checks the shape of an anchors document (SPEC §2) and returns it typed; throws InputError. */
export function validateAnchors(doc: unknown, what: string): AnchorsDocument {
  if (!isObject(doc)) throw new InputError(`${what} is not a JSON object`);
  if (typeof doc.version !== 'number' || !Number.isSafeInteger(doc.version) || doc.version < 1) throw new InputError(`${what}: version is not a positive integer`);
  if (!isInstant(doc.issuedAt)) throw new InputError(`${what}: issuedAt is not an RFC 3339 instant`);
  if (!isObject(doc.keys)) throw new InputError(`${what}: keys is not an object`);
  for (const [id, k] of Object.entries(doc.keys)) checkKey(id, k, `${what}: keys`, true);
  if (!isObject(doc.approvers)) throw new InputError(`${what}: approvers is not an object`);
  for (const [id, k] of Object.entries(doc.approvers)) checkKey(id, k, `${what}: approvers`, false);
  if (!isObject(doc.thresholds) || Object.values(doc.thresholds).some((t) => typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0)) throw new InputError(`${what}: thresholds must map actions to non-negative integers`);
  if (doc.ceremony !== null && !(isObject(doc.ceremony) && typeof doc.ceremony.ceremonyId === 'string' && isObject(doc.ceremony.proposal) && typeof doc.ceremony.proposalDigest === 'string')) {
    throw new InputError(`${what}: ceremony must be null or {ceremonyId, proposal, proposalDigest}`);
  }
  if (!Array.isArray(doc.signatures) || doc.signatures.some((s) => !isObject(s) || typeof s.keyid !== 'string' || typeof s.sig !== 'string')) throw new InputError(`${what}: signatures must be a list of {keyid, sig}`);
  return doc as unknown as AnchorsDocument;
}

export function validateTrustedRoot(root: unknown, what = 'trusted_root.json'): Record<string, unknown> {
  if (!isObject(root)) throw new InputError(`${what} is not a JSON object`);
  for (const field of ['tlogs', 'timestampAuthorities', 'certificateAuthorities', 'ctlogs']) {
    if (root[field] !== undefined && !Array.isArray(root[field])) throw new InputError(`${what}: ${field} is not a list`);
  }
  if (!Array.isArray(root.tlogs) || root.tlogs.length === 0) throw new InputError(`${what} lists no transparency log`);
  return root;
}

// ---------------------------------------------------------------------------------------------
// Trust input: a directory or a URL

export interface TrustInput {
  readonly kind: 'directory' | 'url';
  /** The directory (absolute) or the base URL. */
  readonly source: string;
  readonly trustedRoot: Record<string, unknown>;
  /** Versions 1..N, in order. */
  readonly anchors: readonly AnchorsDocument[];
  /** `anchors.json` of a directory / `GET /api/v1/trust/anchors` of a URL, when there is one. */
  readonly latest?: AnchorsDocument;
  /** The signed checkpoint text, when there is one. */
  readonly checkpoint?: string;
  /** Informative notes (kit.json). */
  readonly notes: readonly string[];
}

/** Reads at most `limit` bytes of a regular file; InputError beyond it or for anything else. */
export async function readBounded(path: string, limit: number, what: string): Promise<Buffer> {
  // O_NONBLOCK: a FIFO planted in a kit must not block the open; only regular files are read.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputError(`${what} is not a regular file`);
    if (info.size > limit) throw new InputError(`${what} is larger than ${limit} bytes`);
    const buf = Buffer.alloc(Math.min(info.size, limit) + 1);
    let total = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, total, buf.length - total, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > limit) throw new InputError(`${what} is larger than ${limit} bytes`);
      if (total === buf.length) break;
    }
    return buf.subarray(0, total);
  } finally {
    await handle.close();
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

async function readJsonFile(path: string, limit: number, what: string): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readBounded(path, limit, what);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseStrictJson(bytes, what);
}

/** A trust directory: trusted_root.json, anchors/*.json, optionally anchors.json, checkpoint, kit.json. */
export async function loadTrustDir(dir: string): Promise<TrustInput> {
  const notes: string[] = [];
  const trustedRoot = validateTrustedRoot(await readJsonFile(join(dir, 'trusted_root.json'), LIMITS.document, 'trusted_root.json'));
  let names: string[];
  try {
    names = await readdir(join(dir, 'anchors'));
  } catch (err) {
    throw new InputError(`cannot list anchors/ (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (names.length > LIMITS.anchorsVersions * 2) throw new InputError(`anchors/ has more than ${LIMITS.anchorsVersions * 2} entries`);
  const versions = names.flatMap((n) => {
    const m = ANCHORS_FILE_RE.exec(n);
    return m ? [Number(m[1])] : [];
  }).sort((a, b) => a - b);
  if (versions.length === 0) throw new InputError('anchors/ holds no anchors version (files <version, 10 digits>.json)');
  if (versions.length > LIMITS.anchorsVersions) throw new InputError(`anchors/ holds more than ${LIMITS.anchorsVersions} versions`);
  versions.forEach((v, i) => {
    if (v !== i + 1) throw new InputError(`anchors/ has no version ${i + 1} (the history must run from version 1 without gaps)`);
  });
  const anchors: AnchorsDocument[] = [];
  for (const v of versions) {
    const what = `anchors/${anchorsFileName(v)}`;
    const doc = validateAnchors(await readJsonFile(join(dir, 'anchors', anchorsFileName(v)), LIMITS.document, what), what);
    if (doc.version !== v) throw new InputError(`${what} holds version ${doc.version}`);
    anchors.push(doc);
  }
  const latestPath = join(dir, 'anchors.json');
  const latest = (await exists(latestPath)) ? validateAnchors(await readJsonFile(latestPath, LIMITS.document, 'anchors.json'), 'anchors.json') : undefined;
  let checkpoint: string | undefined;
  const checkpointPath = join(dir, 'checkpoint');
  if (await exists(checkpointPath)) {
    let bytes: Buffer;
    try {
      bytes = await readBounded(checkpointPath, LIMITS.checkpoint, 'checkpoint');
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`cannot read checkpoint (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    try {
      checkpoint = utf8.decode(bytes);
    } catch {
      throw new InputError('checkpoint is not UTF-8 text');
    }
  }
  const manifestPath = join(dir, 'kit.json');
  if (await exists(manifestPath)) {
    try {
      const m = await readJsonFile(manifestPath, LIMITS.document, 'kit.json');
      if (isObject(m) && m.kind === KIT_KIND) {
        const from = typeof m.exportedFrom === 'string' ? printable(m.exportedFrom, 200) : 'an unknown URL';
        const at = isInstant(m.exportedAt) ? m.exportedAt : 'an unknown time';
        notes.push(`offline kit exported from ${from} at ${at}${m.complete === true ? '' : ' (kit.json says the export did not complete)'}`);
      }
    } catch {
      notes.push('kit.json is not readable; ignored (it is informative only)');
    }
  }
  return { kind: 'directory', source: dir, trustedRoot, anchors, ...(latest ? { latest } : {}), ...(checkpoint !== undefined ? { checkpoint } : {}), notes };
}

// ---------------------------------------------------------------------------------------------
// HTTP (bounded time and size)

export function baseUrl(raw: string, flag = '--url'): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${flag} must be an http(s) URL, got "${printable(raw, 80)}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${flag} must be an http(s) URL`);
  if (u.search || u.hash) throw new ConfigError(`${flag} must not carry a query or fragment`);
  return u.toString().replace(/\/+$/, '');
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: Buffer;
}

/** GET with a deadline covering the body, and at most `limit` bytes read. */
export async function httpGet(url: string, limit: number, accept = 'application/json'): Promise<HttpAnswer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), LIMITS.requestTimeoutMs);
  const where = new URL(url).origin;
  try {
    const res = await fetch(url, { signal: controller.signal, headers: { accept } });
    const declared = res.headers.get('content-length');
    if (declared !== null && /^\d{1,16}$/.test(declared) && Number(declared) > limit) throw new FetchError(`${where} answered ${new URL(url).pathname} with more than ${limit} bytes`);
    const chunks: Buffer[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > limit) throw new FetchError(`${where} answered ${new URL(url).pathname} with more than ${limit} bytes`);
        chunks.push(Buffer.from(value));
      }
    }
    return { status: res.status, body: Buffer.concat(chunks, total) };
  } catch (err) {
    if (err instanceof FetchError) throw err;
    const reason = controller.signal.aborted ? `no complete answer within ${LIMITS.requestTimeoutMs / 1000} s` : ((err as { cause?: { code?: string } }).cause?.code ?? 'network error');
    throw new FetchError(`cannot reach ${where} (${reason})`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

function problemOf(path: string, a: HttpAnswer): string {
  let detail = '';
  try {
    const p = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
    if (typeof p.code === 'string') detail = `: ${printable(p.code, 60)}${typeof p.detail === 'string' ? `: ${printable(p.detail, 200)}` : ''}`;
  } catch {
    /* not a problem document */
  }
  return `GET ${path} answered HTTP ${a.status}${detail}`;
}

/** GET a JSON document: 200 and strict JSON, else FetchError / InputError. */
export async function getJson(base: string, path: string, limit: number): Promise<unknown> {
  const a = await httpGet(`${base}${path}`, limit);
  if (a.status !== 200) throw new FetchError(problemOf(path, a));
  return parseStrictJson(a.body, `GET ${path}`);
}

/** The latest checkpoint text, or undefined when the log has none yet (404). */
export async function getCheckpoint(base: string): Promise<string | undefined> {
  const path = '/api/v1/log/checkpoint';
  const a = await httpGet(`${base}${path}`, LIMITS.checkpoint, 'text/plain');
  if (a.status === 404) return undefined;
  if (a.status !== 200) throw new FetchError(problemOf(path, a));
  try {
    return utf8.decode(a.body);
  } catch {
    throw new InputError(`GET ${path} is not UTF-8 text`);
  }
}

/** Anchors versions `from`..`to` through `GET /api/v1/trust/anchors/versions/{n}`. */
export async function fetchAnchorsVersions(base: string, from: number, to: number): Promise<AnchorsDocument[]> {
  const out: AnchorsDocument[] = [];
  for (let v = from; v <= to; v++) {
    const path = `/api/v1/trust/anchors/versions/${v}`;
    const doc = validateAnchors(await getJson(base, path, LIMITS.document), `GET ${path}`);
    if (doc.version !== v) throw new InputError(`GET ${path} answered version ${doc.version}`);
    out.push(doc);
  }
  return out;
}

/** The latest anchors version of a service, shape-checked and bounded. */
export async function fetchLatestAnchors(base: string): Promise<AnchorsDocument> {
  const latest = validateAnchors(await getJson(base, '/api/v1/trust/anchors', LIMITS.document), 'GET /api/v1/trust/anchors');
  if (latest.version > LIMITS.anchorsVersions) throw new InputError(`the anchors history has ${latest.version} versions, more than the ${LIMITS.anchorsVersions} allowed`);
  return latest;
}

/** trusted_root.json, the whole anchors history and the latest checkpoint of a service. */
export async function fetchTrust(base: string): Promise<TrustInput> {
  const trustedRoot = validateTrustedRoot(await getJson(base, '/api/v1/trust/trusted_root.json', LIMITS.document), 'GET /api/v1/trust/trusted_root.json');
  const latest = await fetchLatestAnchors(base);
  const anchors = await fetchAnchorsVersions(base, 1, latest.version);
  const checkpoint = await getCheckpoint(base);
  return { kind: 'url', source: base, trustedRoot, anchors, latest, ...(checkpoint !== undefined ? { checkpoint } : {}), notes: [] };
}

// ---------------------------------------------------------------------------------------------
// Evaluating the trust: anchors chain, latest, checkpoint

export const fingerprint = (value: unknown): string => sha256Hex(jcs(value));

/** Same JSON content (RFC 8785); false for values JCS refuses (e.g. lone surrogates). */
export function sameJson(a: unknown, b: unknown): boolean {
  try {
    return jcs(a) === jcs(b);
  } catch {
    return false;
  }
}

export interface ChainResult {
  readonly ok: boolean;
  readonly reasons: string[];
  /** One line per verified step ("version 2: signed by 2/2 approvers of version 1"). */
  readonly steps: string[];
}

/** Checks versions 1..N, each against the one before it; stops at the first that fails. */
export function checkAnchorsChain(anchors: readonly AnchorsDocument[]): ChainResult {
  const steps: string[] = [];
  if (anchors.length === 0) return { ok: false, reasons: ['the anchors history is empty'], steps };
  if (anchors[0]!.version !== 1) return { ok: false, reasons: [`the anchors history starts at version ${anchors[0]!.version}, not 1`], steps };
  for (let i = 1; i < anchors.length; i++) {
    const prev = anchors[i - 1]!;
    const next = anchors[i]!;
    let reasons: readonly string[];
    let summary = '';
    try {
      const r = verifyAnchorsSuccessor(prev, next);
      reasons = r.ok ? [] : r.reasons;
      summary = `signed by ${r.signedBy.length}/${r.threshold} approvers of version ${prev.version}`;
    } catch (err) {
      reasons = [errorMessage(err)];
    }
    if (reasons.length > 0) {
      return { ok: false, reasons: [`anchors version ${next.version} does not verify against version ${prev.version}: ${reasons.map((r) => printable(r, 200)).join('; ')}`], steps };
    }
    const type = (next.ceremony?.proposal.action as { type?: unknown } | undefined)?.type;
    steps.push(`version ${next.version} (${typeof type === 'string' ? printable(type, 40) : 'ceremony'}): ${summary}`);
  }
  return { ok: true, reasons: [], steps };
}

export interface TrustEvaluation {
  readonly trustedRoot: Record<string, unknown>;
  readonly reasons: string[];
  readonly notes: string[];
  /** The latest verified anchors version, when the chain verified. */
  readonly anchors?: AnchorsDocument;
  readonly checkpoint?: Checkpoint;
  readonly anchorsV1Fingerprint?: string;
  readonly trustedRootFingerprint?: string;
}

/** The log's note key from trusted_root.json (tlogs with an Ed25519 key and an https origin). */
function logNoteKeys(root: Record<string, unknown>): { name: string; rawPublicKey: Buffer }[] {
  const keys: { name: string; rawPublicKey: Buffer }[] = [];
  for (const t of root.tlogs as unknown[]) {
    if (!isObject(t) || typeof t.baseUrl !== 'string' || !t.baseUrl.startsWith('https://') || !isObject(t.publicKey)) continue;
    const spki = typeof t.publicKey.rawBytes === 'string' ? decodeBase64Strict(t.publicKey.rawBytes) : undefined;
    if (!spki || !isEd25519Spki(spki)) continue;
    keys.push({ name: t.baseUrl.slice('https://'.length), rawPublicKey: rawFromSpki(spki) });
  }
  return keys;
}

export function evaluateTrust(t: TrustInput): TrustEvaluation {
  const reasons: string[] = [];
  const notes: string[] = [...t.notes];
  let trustedRootFingerprint: string | undefined;
  let anchorsV1Fingerprint: string | undefined;
  try {
    trustedRootFingerprint = fingerprint(t.trustedRoot);
    anchorsV1Fingerprint = fingerprint(t.anchors[0]);
  } catch (err) {
    reasons.push(`trust documents are not plain JSON (${errorMessage(err)})`);
    return { trustedRoot: t.trustedRoot, reasons, notes };
  }
  const chain = checkAnchorsChain(t.anchors);
  if (!chain.ok) return { trustedRoot: t.trustedRoot, reasons: [...reasons, ...chain.reasons], notes, anchorsV1Fingerprint, trustedRootFingerprint };
  const last = t.anchors[t.anchors.length - 1]!;
  if (t.latest) {
    if (t.latest.version > last.version) reasons.push(`${t.kind === 'directory' ? 'anchors.json' : 'the latest anchors'} is version ${t.latest.version} but the history stops at version ${last.version}`);
    else if (!sameJson(t.latest, t.anchors[t.latest.version - 1])) reasons.push(`${t.kind === 'directory' ? 'anchors.json' : 'the latest anchors'} differs from anchors version ${t.latest.version} of the history`);
    else if (t.latest.version < last.version) reasons.push(`${t.kind === 'directory' ? 'anchors.json' : 'the latest anchors'} is version ${t.latest.version} but the history goes on to version ${last.version}`);
  }
  notes.push(...chain.steps.map((s) => `anchors ${s}`));
  let checkpoint: Checkpoint | undefined;
  if (t.checkpoint !== undefined) {
    const keys = logNoteKeys(t.trustedRoot);
    const body = openNote(t.checkpoint)?.body;
    const origin = body === undefined ? undefined : parseCheckpointBody(body)?.origin;
    const key = keys.find((k) => k.name === origin);
    checkpoint = key ? openCheckpoint(t.checkpoint, key) : undefined;
    if (!checkpoint) reasons.push(`the checkpoint ${body === undefined ? 'is not a signed note' : `is not signed by a log of trusted_root.json${origin ? ` (origin ${printable(origin, 80)})` : ''}`}`);
  }
  return { trustedRoot: t.trustedRoot, reasons, notes, ...(reasons.length === 0 ? { anchors: last } : {}), ...(checkpoint ? { checkpoint } : {}), anchorsV1Fingerprint, trustedRootFingerprint };
}

// ---------------------------------------------------------------------------------------------
// The bundle and the artifact

interface BundleFacts {
  payloadType?: string;
  keyId?: string;
  logIndex?: string;
  signedAt?: string;
  /** Size and root of the checkpoint the bundle's inclusion proof names. */
  proofCheckpoint?: { size: number; rootHash: Buffer };
  payload?: Buffer;
}

async function sha256File(path: string): Promise<{ hex: string; size: number }> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { hex: hash.digest('hex'), size };
  } finally {
    await handle.close();
  }
}

/** Compares the artifact with the payload (or the in-toto statement's subjects). */
async function checkArtifact(path: string, facts: BundleFacts, reasons: string[], notes: string[]): Promise<{ sha256: string; matched?: string }> {
  const { hex, size } = await sha256File(path).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot read --artifact ${printable(path, 200)} (${err.code ?? 'error'})`);
  });
  const payload = facts.payload!;
  if (facts.payloadType === IN_TOTO_PAYLOAD_TYPE) {
    let statement: unknown;
    try {
      statement = parseStrictJson(payload, 'the in-toto statement (payload)');
    } catch (err) {
      reasons.push(`artifact: ${errorMessage(err)}`);
      return { sha256: hex };
    }
    const subjects = isObject(statement) && Array.isArray(statement.subject) ? statement.subject : undefined;
    if (!subjects) {
      reasons.push('artifact: the in-toto statement has no subject list');
      return { sha256: hex };
    }
    const match = subjects.find((s) => isObject(s) && isObject(s.digest) && typeof s.digest.sha256 === 'string' && s.digest.sha256.toLowerCase() === hex);
    if (!match) {
      reasons.push(`artifact: its SHA-256 ${hex} is the digest of no subject of the in-toto statement (${subjects.length} subject${subjects.length === 1 ? '' : 's'})`);
      return { sha256: hex };
    }
    const name = isObject(match) && typeof match.name === 'string' ? printable(match.name, 120) : '(unnamed)';
    notes.push(`artifact: SHA-256 ${hex} matches subject "${name}" of the in-toto statement`);
    return { sha256: hex, matched: `subject:${name}` };
  }
  const payloadHex = sha256Hex(payload);
  if (size !== payload.length || hex !== payloadHex) {
    reasons.push(`artifact: it is not the signed payload (artifact ${size} bytes, SHA-256 ${hex}; payload ${payload.length} bytes, SHA-256 ${payloadHex})`);
    return { sha256: hex };
  }
  notes.push(`artifact: equals the signed payload (${size} bytes, SHA-256 ${hex})`);
  return { sha256: hex, matched: 'payload' };
}

// ---------------------------------------------------------------------------------------------
// The command

export interface VerifyOptions {
  readonly bundle: string;
  readonly trust: string;
  readonly artifact?: string;
  readonly json: boolean;
}

export interface VerifyIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export async function requireFile(path: string, flag: string): Promise<void> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot read ${flag} ${printable(path, 200)} (${err.code ?? 'error'})`);
  });
  if (!info.isFile()) throw new ConfigError(`${flag} ${printable(path, 200)} is not a regular file`);
}

export async function verify(options: VerifyOptions, io: VerifyIo): Promise<number> {
  // Usage first: files that cannot be read and trust that is neither a URL nor a trust directory.
  await requireFile(options.bundle, '--bundle');
  if (options.artifact !== undefined) await requireFile(options.artifact, '--artifact');
  const isUrl = /^https?:\/\//i.test(options.trust);
  const trustSource = isUrl ? baseUrl(options.trust, '--trust') : resolve(options.trust);
  if (!isUrl) {
    const info = await stat(trustSource).catch(() => undefined);
    if (!info?.isDirectory()) throw new ConfigError(`--trust ${printable(options.trust, 200)} is neither an http(s) URL nor a directory`);
    if (!(await exists(join(trustSource, 'trusted_root.json'))) || !(await exists(join(trustSource, 'anchors')))) {
      throw new ConfigError(`--trust ${printable(options.trust, 200)} has no trusted_root.json and anchors/ (write one with \`sigledger kit export\`)`);
    }
  }

  const reasons: string[] = [];
  const notes: string[] = [];
  const facts: BundleFacts = {};
  let trust: TrustEvaluation | undefined;

  // The trust.
  try {
    const input = isUrl ? await fetchTrust(trustSource) : await loadTrustDir(trustSource);
    trust = evaluateTrust(input);
    reasons.push(...trust.reasons.map((r) => `trust: ${r}`));
    notes.push(`trust: ${input.kind === 'url' ? `fetched from ${printable(input.source, 200)}` : `directory ${printable(input.source, 200)} (offline)`}, anchors versions 1..${input.anchors.length}`);
    notes.push(...trust.notes.map((n) => `trust: ${n}`));
    if (trust.anchorsV1Fingerprint) notes.push(`trust: anchors version 1 is trusted on first use, as TUF root v1: compare its fingerprint sha256:${trust.anchorsV1Fingerprint} (SHA-256 of its JCS) out of band`);
    if (trust.trustedRootFingerprint) notes.push(`trust: trusted_root.json (log key, TSA chain) is trusted as given: fingerprint sha256:${trust.trustedRootFingerprint} (SHA-256 of its JCS)`);
  } catch (err) {
    if (err instanceof FetchError) {
      io.err(`sigledger verify: ${err.message}`);
      return 1;
    }
    if (!(err instanceof InputError)) throw err;
    reasons.push(`trust: ${err.message}`);
  }

  // The bundle.
  let bundle: Bundle | undefined;
  try {
    const json = await readJsonFile(options.bundle, LIMITS.bundle, 'the bundle file');
    const parsed = parseLedgerBundle(json);
    if (!parsed.ok) throw new InputError(`the bundle file ${parsed.detail}`);
    bundle = parsed.bundle;
    if (bundle.content.$case !== 'dsseEnvelope' || bundle.verificationMaterial.content.$case !== 'publicKey') throw new InputError('the bundle is not a keyful DSSE bundle');
    const envelope = bundle.content.dsseEnvelope;
    facts.payloadType = envelope.payloadType;
    facts.payload = Buffer.from(envelope.payload);
    facts.keyId = bundle.verificationMaterial.content.publicKey.hint;
    const entry = bundle.verificationMaterial.tlogEntries[0];
    if (entry) {
      // @sigstore/verify proves the inclusion proof's index; the entry's own must be that one.
      if (entry.inclusionProof && entry.logIndex !== entry.inclusionProof.logIndex) throw new InputError(`the bundle's log index ${printable(entry.logIndex, 20)} is not the one its inclusion proof proves (${printable(entry.inclusionProof.logIndex, 20)})`);
      facts.logIndex = entry.logIndex;
      const cpBody = entry.inclusionProof?.checkpoint?.envelope ? openNote(entry.inclusionProof.checkpoint.envelope)?.body : undefined;
      const cp = cpBody === undefined ? undefined : parseCheckpointBody(cpBody);
      if (cp) facts.proofCheckpoint = { size: cp.size, rootHash: cp.rootHash };
    }
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    reasons.push(err.message);
  }

  // Verification with @sigstore/verify, only against trust that verified.
  if (bundle && trust?.anchors) {
    let material: ReturnType<typeof trustMaterialOf> | undefined;
    try {
      material = trustMaterialOf(trust.trustedRoot, trust.anchors.keys);
    } catch (err) {
      reasons.push(`trust: trusted_root.json cannot be used (${errorMessage(err)})`);
    }
    if (material) {
      const check = verifyLedgerBundle(material, trust.anchors.keys, bundle);
      if (check.ok) {
        if (check.signedAt) facts.signedAt = check.signedAt;
      } else reasons.push(check.reason === 'unknown_key' ? `${check.detail} (anchors version ${trust.anchors.version})` : printable(check.detail));
    }
    const key = facts.keyId ? trust.anchors.keys[facts.keyId] : undefined;
    if (key) notes.push(`key: ${facts.keyId} valid from ${key.validFor.start ?? 'the beginning'} until ${key.validFor.end ?? 'further notice'} (anchors version ${trust.anchors.version})`);
    // The kit's checkpoint against the bundle's: same size must mean the same root (no split view).
    if (trust.checkpoint) {
      const cp = trust.checkpoint;
      notes.push(`checkpoint: ${printable(cp.origin, 80)} size ${cp.size}, signature verified with the log key of trusted_root.json`);
      if (facts.proofCheckpoint && facts.proofCheckpoint.size === cp.size && !facts.proofCheckpoint.rootHash.equals(cp.rootHash)) {
        reasons.push(`the bundle's inclusion proof names a checkpoint of size ${cp.size} whose root differs from the trusted checkpoint's (a split view of the log)`);
      }
      if (facts.logIndex !== undefined && /^\d{1,16}$/.test(facts.logIndex) && Number(facts.logIndex) >= cp.size) notes.push(`checkpoint: the bundle's log index ${facts.logIndex} is beyond it (the bundle is newer than the checkpoint)`);
    }
  }

  // The artifact.
  let artifact: { sha256: string; matched?: string } | undefined;
  if (options.artifact !== undefined && facts.payload) artifact = await checkArtifact(options.artifact, facts, reasons, notes);

  const valid = reasons.length === 0;
  if (options.json) {
    io.out(
      JSON.stringify({
        valid,
        reasons,
        notes,
        bundle: { path: options.bundle, ...(facts.payloadType !== undefined ? { payloadType: facts.payloadType } : {}), ...(facts.keyId ? { keyId: facts.keyId } : {}), ...(facts.logIndex !== undefined ? { logIndex: facts.logIndex } : {}), ...(facts.signedAt ? { signedAt: facts.signedAt } : {}) },
        trust: {
          source: trustSource,
          kind: isUrl ? 'url' : 'directory',
          ...(trust?.anchors ? { anchorsVersion: trust.anchors.version } : {}),
          ...(trust?.anchorsV1Fingerprint ? { anchorsV1Sha256: trust.anchorsV1Fingerprint } : {}),
          ...(trust?.trustedRootFingerprint ? { trustedRootSha256: trust.trustedRootFingerprint } : {}),
          ...(trust?.checkpoint ? { checkpoint: { origin: trust.checkpoint.origin, size: trust.checkpoint.size } } : {}),
        },
        ...(options.artifact !== undefined ? { artifact: { path: options.artifact, ...(artifact ?? {}) } } : {}),
      }),
    );
  } else {
    io.out(`${valid ? 'VALID' : 'INVALID'}: ${printable(options.bundle, 200)}`);
    for (const r of reasons) io.out(`reason: ${r}`);
    if (facts.payloadType !== undefined) {
      io.out(`bundle: DSSE ${printable(facts.payloadType, 80)}, key ${printable(facts.keyId ?? '?', 80)}${facts.logIndex !== undefined ? `, log index ${printable(facts.logIndex, 20)}` : ''}${facts.signedAt ? `, signed at ${facts.signedAt} (RFC 3161 timestamp)` : ''}`);
    }
    for (const n of notes) io.out(n);
  }
  return valid ? 0 : 1;
}
