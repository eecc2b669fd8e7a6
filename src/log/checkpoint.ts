/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) bodies and C2SP signed notes
 * (https://c2sp.org/signed-note) with Ed25519 signatures (signature type 0x01).
 *
 *   <origin>\n<size>\n<base64 root>\n[<extension>\n]*   ← checkpoint body = note text
 *   \n                                                 ← blank line
 *   — <key name> <base64(key id[4] ‖ signature[64])>\n ← one line per signature
 *
 * key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ raw public key)[:4]. Parsers are strict and never throw
 * on untrusted input: they return undefined / false. Pure: no I/O, no clock, no randomness.
 */
import { sha256 } from '../crypto/hash.ts';
import { ed25519Verify, publicKeyFromSpki, spkiFromRaw } from '../crypto/ed25519.ts';
import { HASH_SIZE } from './merkle.ts';

/** Signature type byte of Ed25519 note signatures. */
export const NOTE_ED25519 = 0x01;
/** Largest note (UTF-8 bytes) openNote accepts: room for well over 16 post-quantum signatures. */
export const MAX_NOTE_BYTES = 1 << 20;
/** Most signature lines openNote accepts (the spec requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;

const ED25519_SIGNATURE_BYTES = 64;
const KEY_ID_BYTES = 4;
const SIGNATURE_PREFIX = '\u2014 '; // em dash, space
/** ASCII control characters other than newline: never allowed in a note. */
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f]/;
/** Unicode spaces (JS \s plus U+0085, as Go's unicode.IsSpace) and plus: never allowed in a key name. */
const BAD_NAME_RE = /[\s\u0085+]/u;
const SIZE_RE = /^(?:0|[1-9][0-9]{0,15})$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Buffer;
  /** Opaque extension lines (without their newline); empty for an ordinary checkpoint. */
  readonly extensions: readonly string[];
}

export interface CheckpointInput {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions?: readonly string[];
}

export interface NoteKey {
  readonly name: string;
  /** The 32-byte RFC 8032 Ed25519 public key. */
  readonly rawPublicKey: Uint8Array;
}

/**
 * The signing key of a note: either a synchronous `sign` (Ed25519 over msg = the UTF-8 note text),
 * or, for asynchronous key stores, the `signature` already made over those bytes.
 */
export type NoteSigner = NoteKey &
  ({ readonly sign: (msg: Buffer) => Buffer | Uint8Array; readonly signature?: undefined } | { readonly signature: Uint8Array; readonly sign?: undefined });

export interface ParsedVerifierKey {
  readonly name: string;
  readonly keyId: Buffer;
  readonly rawPublicKey: Buffer;
}

export interface NoteSignature {
  readonly name: string;
  /** 4-byte key id. */
  readonly keyId: Buffer;
  /** The signature bytes after the key id. */
  readonly signature: Buffer;
}

export interface OpenedNote {
  /** Note text, final newline included, separating blank line excluded: the signed bytes (UTF-8). */
  readonly body: string;
  readonly signatures: readonly NoteSignature[];
}

/** Canonical standard padded base64 only (what every conforming signer writes). */
function decodeBase64Canonical(s: string): Buffer | undefined {
  if (!BASE64_RE.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

function isNoteText(text: string): boolean {
  return text.isWellFormed() && !CONTROL_RE.test(text);
}

/** Key names: non-empty, valid Unicode, no spaces, no plus, no control characters. */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && isNoteText(name) && !name.includes('\n') && !BAD_NAME_RE.test(name);
}

function requireRawKey(raw: Uint8Array): void {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new TypeError('an Ed25519 public key has 32 bytes');
}

function requireKeyName(name: string): void {
  if (!isValidKeyName(name)) throw new TypeError('a note key name is non-empty and has no spaces, "+" or control characters');
}

// ---------------------------------------------------------------------------------------------
// Checkpoint bodies.

export function formatCheckpointBody(cp: CheckpointInput): string {
  const { origin, size, rootHash, extensions = [] } = cp;
  if (typeof origin !== 'string' || origin.length === 0 || origin.includes('\n') || !isNoteText(origin)) throw new TypeError('a checkpoint origin is one non-empty line of text');
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`a tree size is a safe integer ≥ 0, got ${String(size)}`);
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_SIZE) throw new TypeError('a root hash has 32 bytes');
  for (const e of extensions) {
    if (typeof e !== 'string' || e.length === 0 || e.includes('\n') || !isNoteText(e)) throw new TypeError('an extension line is one non-empty line of text');
  }
  const root = Buffer.from(rootHash.buffer, rootHash.byteOffset, rootHash.byteLength).toString('base64');
  return [origin, String(size), root, ...extensions].map((l) => `${l}\n`).join('');
}

/** Strict: at least three non-empty lines, each ending in a newline; size without leading zeros; a 32-byte root. */
export function parseCheckpointBody(text: string): Checkpoint | undefined {
  if (typeof text !== 'string' || text.length > MAX_NOTE_BYTES || !text.endsWith('\n') || !isNoteText(text)) return undefined;
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3 || lines.some((l) => l.length === 0)) return undefined;
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!SIZE_RE.test(sizeText)) return undefined;
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) return undefined;
  const rootHash = decodeBase64Canonical(rootText);
  if (rootHash?.length !== HASH_SIZE) return undefined;
  return { origin, size, rootHash, extensions };
}

// ---------------------------------------------------------------------------------------------
// Keys.

/** SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey): the full key hash (the TrustedRoot's logId). */
export function noteKeyHash(name: string, rawPublicKey: Uint8Array): Buffer {
  requireKeyName(name);
  requireRawKey(rawPublicKey);
  return sha256(name, Buffer.from([0x0a, NOTE_ED25519]), rawPublicKey);
}

/** The 4-byte note key id: the first four bytes of noteKeyHash. */
export function noteKeyId(name: string, rawPublicKey: Uint8Array): Buffer {
  return noteKeyHash(name, rawPublicKey).subarray(0, KEY_ID_BYTES);
}

/** Verifier key `<name>+<hex key id>+<base64(0x01 ‖ pubkey)>`. */
export function verifierKey(name: string, rawPublicKey: Uint8Array): string {
  const keyId = noteKeyId(name, rawPublicKey);
  return `${name}+${keyId.toString('hex')}+${Buffer.concat([Buffer.from([NOTE_ED25519]), rawPublicKey]).toString('base64')}`;
}

/** Parses an Ed25519 verifier key; undefined unless well-formed with a key id that matches the key. */
export function parseVerifierKey(vkey: string): ParsedVerifierKey | undefined {
  if (typeof vkey !== 'string' || vkey.length > 1024) return undefined;
  const parts = vkey.split('+');
  // The base64 part may itself contain '+': the name has none, the hex id has none.
  if (parts.length < 3) return undefined;
  const [name, idHex] = parts as [string, string];
  const key = decodeBase64Canonical(parts.slice(2).join('+'));
  if (!isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(idHex) || key?.length !== 33 || key[0] !== NOTE_ED25519) return undefined;
  const rawPublicKey = key.subarray(1);
  const keyId = noteKeyId(name, rawPublicKey);
  return keyId.toString('hex') === idHex ? { name, keyId, rawPublicKey } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Signed notes.

/**
 * Signs the note text `body` (must end with a newline) and returns the whole note. A precomputed
 * `signature` is not checked here: verify the note when the signer cannot be trusted.
 */
export function signNote(body: string, signer: NoteSigner): string {
  if (typeof body !== 'string' || body.length === 0 || !body.endsWith('\n') || !isNoteText(body)) throw new TypeError('a note text is valid text ending in a newline, without control characters');
  requireKeyName(signer.name);
  const keyId = noteKeyId(signer.name, signer.rawPublicKey);
  const sig = signer.sign ? signer.sign(Buffer.from(body, 'utf8')) : signer.signature;
  if (!(sig instanceof Uint8Array) || sig.length !== ED25519_SIGNATURE_BYTES) throw new TypeError('an Ed25519 signature has 64 bytes');
  const line = `${SIGNATURE_PREFIX}${signer.name} ${Buffer.concat([keyId, sig]).toString('base64')}\n`;
  return `${body}\n${line}`;
}

/**
 * Parses a signed note without verifying it. Strict: valid UTF-8, at most MAX_NOTE_BYTES, no
 * control characters but newline, text and signature block separated by the last blank line,
 * 1..MAX_NOTE_SIGNATURES signature lines `— <name> <base64>` each ending in a newline, valid key
 * names, canonical base64 of at least 5 bytes. Undefined for anything else.
 */
export function openNote(note: string | Uint8Array): OpenedNote | undefined {
  let text: string;
  if (typeof note === 'string') {
    if (note.length > MAX_NOTE_BYTES || Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES || !note.isWellFormed()) return undefined;
    text = note;
  } else if (note instanceof Uint8Array) {
    if (note.length > MAX_NOTE_BYTES) return undefined;
    try {
      text = utf8.decode(note);
    } catch {
      return undefined;
    }
  } else {
    return undefined;
  }
  if (CONTROL_RE.test(text)) return undefined;
  const split = text.lastIndexOf('\n\n');
  if (split < 0) return undefined;
  const body = text.slice(0, split + 1);
  const block = text.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) return undefined;
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) return undefined;
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) return undefined;
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) return undefined;
    const name = rest.slice(0, space);
    const raw = decodeBase64Canonical(rest.slice(space + 1));
    if (!isValidKeyName(name) || raw === undefined || raw.length <= KEY_ID_BYTES) return undefined;
    signatures.push({ name, keyId: raw.subarray(0, KEY_ID_BYTES), signature: raw.subarray(KEY_ID_BYTES) });
  }
  return { body, signatures };
}

/**
 * True when the note carries at least one signature by `key` (same name and key id) and every
 * signature by that key verifies over the note text (the signed-note spec: a failing signature
 * from a known key rejects the note). Signatures by other keys are ignored. Never throws on a
 * malformed note.
 */
export function verifyNote(note: string | Uint8Array, key: NoteKey): boolean {
  const opened = openNote(note);
  return opened !== undefined && signedBy(opened, key);
}

function signedBy(opened: OpenedNote, key: NoteKey): boolean {
  const keyId = noteKeyId(key.name, key.rawPublicKey);
  const mine = opened.signatures.filter((s) => s.name === key.name && s.keyId.equals(keyId));
  if (mine.length === 0) return false;
  const publicKey = publicKeyFromSpki(spkiFromRaw(key.rawPublicKey));
  const message = Buffer.from(opened.body, 'utf8');
  return mine.every((s) => s.signature.length === ED25519_SIGNATURE_BYTES && ed25519Verify(publicKey, message, s.signature));
}

/**
 * Verifies a signed checkpoint with `key` and parses its body; undefined unless the signature
 * verifies, the body is a well-formed checkpoint and its origin is `origin` (by default the key
 * name, as C2SP recommends).
 */
export function openCheckpoint(note: string | Uint8Array, key: NoteKey, origin: string = key.name): Checkpoint | undefined {
  const opened = openNote(note);
  if (!opened || !signedBy(opened, key)) return undefined;
  const cp = parseCheckpointBody(opened.body);
  return cp?.origin === origin ? cp : undefined;
}
