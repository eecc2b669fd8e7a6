/**
 * The key-encryption key (KEK) of the file key store: 32 bytes that seal every private key with
 * AES-256-GCM. It comes from SIGLEDGER_KEK (base64 or hex of 32 bytes, or `file:/path` naming a file
 * that holds such a value). In dev mode, without SIGLEDGER_KEK, a KEK is kept in DATA_DIR/dev/kek
 * (created 0600 in a 0700 directory on first use) and the caller should log a warning; production
 * mode refuses to start without SIGLEDGER_KEK. Error messages never echo the value.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../errors.ts';

export const KEK_BYTES = 32;

export type KekSource = 'env' | 'created' | 'data-dir';

export interface ResolveKekOptions {
  /** Raw SIGLEDGER_KEK; undefined or '' when not set. */
  readonly env: string | undefined;
  readonly dataDir: string;
  readonly mode: 'dev' | 'production';
}

export interface ResolvedKek {
  /** 32 bytes. */
  readonly kek: Buffer;
  /** 'env': from SIGLEDGER_KEK; 'created': a new dev KEK was written; 'data-dir': an existing dev KEK was read. */
  readonly source: KekSource;
  /** The dev KEK file when source is 'created' or 'data-dir' (for the caller's warning). */
  readonly path?: string;
}

const SHAPE = `SIGLEDGER_KEK must be ${KEK_BYTES} bytes written as base64 or hex (or file:/path to a file holding that)`;
const HEX = /^[0-9a-fA-F]{64}$/;
const B64 = /^[A-Za-z0-9+/]{43}=?$/;
const B64URL = /^[A-Za-z0-9_-]{43}=?$/;

/** Decodes a KEK given as base64, base64url or hex text; undefined when it is not exactly 32 bytes. */
function decodeKekText(text: string): Buffer | undefined {
  const t = text.trim();
  if (HEX.test(t)) return Buffer.from(t, 'hex');
  const bare = t.replace(/=$/, '');
  for (const [re, enc] of [[B64, 'base64'], [B64URL, 'base64url']] as const) {
    if (!re.test(t)) continue;
    const b = Buffer.from(bare, enc);
    // Reject non-canonical encodings (stray low bits in the last character).
    if (b.length === KEK_BYTES && b.toString(enc).replace(/=$/, '') === bare) return b;
  }
  return undefined;
}

function readKekFile(path: string, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    throw new ConfigError(`${what} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${what} is not a regular file`);
    if (st.size > 4096) throw new ConfigError(`${what} is too large to be a KEK; ${SHAPE}`);
    const raw = readFileSync(fd);
    try {
      // 32 raw bytes (not text) are accepted too.
      if (raw.length === KEK_BYTES && /[^\x20-\x7e\r\n\t]/.test(raw.toString('latin1'))) return Buffer.from(raw);
      const kek = decodeKekText(raw.toString('utf8'));
      if (!kek) throw new ConfigError(`${what} does not hold a valid KEK; ${SHAPE}`);
      return kek;
    } finally {
      raw.fill(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** Parses a SIGLEDGER_KEK value (base64/hex of 32 bytes, or file:/path). Throws ConfigError without echoing it. */
export function parseKek(value: string): Buffer {
  const v = value.trim();
  if (v.startsWith('file:')) {
    const path = v.slice('file:'.length);
    if (!path) throw new ConfigError(`SIGLEDGER_KEK=file: needs a path; ${SHAPE}`);
    return readKekFile(path, `SIGLEDGER_KEK file ${JSON.stringify(path)}`);
  }
  const kek = decodeKekText(v);
  if (!kek) throw new ConfigError(`${SHAPE}; the value given is not (it is not shown)`);
  return kek;
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not supported on every platform */
  }
}

function devKek(dataDir: string): ResolvedKek {
  const dir = join(dataDir, 'dev');
  const path = join(dir, 'kek');
  const what = `dev KEK file ${JSON.stringify(path)}`;
  const checkPrivate = (mode: number) => {
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new ConfigError(`${what} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); chmod it to 600`);
    }
  };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new ConfigError(`cannot create ${JSON.stringify(dir)} for the dev KEK (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }

  const readExisting = (): ResolvedKek | undefined => {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ConfigError(`${what} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    try {
      checkPrivate(fstatSync(fd).mode);
    } finally {
      closeSync(fd);
    }
    return { kek: readKekFile(path, what), source: 'data-dir', path };
  };

  const existing = readExisting();
  if (existing) return existing;

  // Create atomically: write a temp file, fsync, then link() it into place (fails if another
  // process won the race, in which case its KEK is used).
  const kek = randomBytes(KEK_BYTES);
  const tmp = join(dir, `.kek.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const text = Buffer.from(`${kek.toString('base64')}\n`);
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      kek.fill(0);
      const winner = readExisting();
      if (!winner) throw e;
      return winner;
    }
    fsyncDir(dir);
    return { kek, source: 'created', path };
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`cannot create ${what} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    text.fill(0);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Resolves the KEK: SIGLEDGER_KEK when set; otherwise, in dev mode, DATA_DIR/dev/kek (created when
 * missing — the caller logs a warning for 'created' and 'data-dir'); in production mode, a ConfigError.
 */
export function resolveKek(options: ResolveKekOptions): ResolvedKek {
  if (options.env !== undefined && options.env !== '') return { kek: parseKek(options.env), source: 'env' };
  if (options.mode === 'production') {
    throw new ConfigError('SIGLEDGER_KEK is required in production mode (32 bytes as base64 or hex, or file:/path); generate one with: openssl rand -base64 32');
  }
  return devKek(options.dataDir);
}
