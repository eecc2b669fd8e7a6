/** Writing the CLI's output files: directories created as needed, each file replaced atomically. */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomically } from '../../util/atomic-write.ts';
import { WriteError } from './errors.ts';
import { printable } from './printable.ts';

/** Creates the directory if needed, then replaces `path` atomically (src/util/atomic-write.ts); WriteError otherwise. */
export async function writeOutputFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomically(path, data, mode);
  } catch (err) {
    throw new WriteError(`cannot write ${printable(path, 200)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** JSON as a person reads it, with a final newline. */
export const pretty = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;
