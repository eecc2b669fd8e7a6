/**
 * Reading files the user names or a kit holds, without trusting them: only regular files (a FIFO
 * must not block the open), at most `limit` bytes (checked before and while reading).
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { InputError, UsageError } from './errors.ts';
import { printable } from './printable.ts';
import { decodeUtf8, parseStrictJson } from './strict-json.ts';

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

/** readBounded, with an open or read failure (ENOENT, EACCES…) as an InputError too. */
async function readInput(path: string, limit: number, what: string): Promise<Buffer> {
  try {
    return await readBounded(path, limit, what);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** A bounded file as strict JSON; InputError naming `what`. */
export async function readJsonFile(path: string, limit: number, what: string): Promise<unknown> {
  return parseStrictJson(await readInput(path, limit, what), what);
}

/** A bounded file as strict UTF-8 text; InputError naming `what`. */
export async function readTextFile(path: string, limit: number, what: string): Promise<string> {
  return decodeUtf8(await readInput(path, limit, what), what);
}

export const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** A file named by a flag must be a readable regular file: a UsageError (exit 2) otherwise. */
export async function requireFile(path: string, flag: string): Promise<void> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${flag} ${printable(path, 200)} (${err.code ?? 'error'})`);
  });
  if (!info.isFile()) throw new UsageError(`${flag} ${printable(path, 200)} is not a regular file`);
}
