/**
 * `verify --artifact FILE`: is FILE what was signed? For an in-toto statement, a subject must have
 * FILE's SHA-256; for any other payload, FILE must be the payload itself. The file is hashed as a
 * stream (artifacts may be large), and only a regular file is opened without blocking.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { sha256Hex } from '../../crypto/hash.ts';
import { IN_TOTO_PAYLOAD_TYPE } from '../../domain/sign-request.ts';
import { isObject } from '../../json.ts';
import { UsageError } from '../common/errors.ts';
import { errorMessage, printable } from '../common/printable.ts';
import { parseStrictJson } from '../common/strict-json.ts';
import type { BundleFacts } from './bundle-file.ts';

export interface ArtifactCheck {
  readonly sha256: string;
  /** `payload` or `subject:<name>`, when it matched. */
  readonly matched?: string;
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

function checkSubjects(payload: Buffer, hex: string, reasons: string[], notes: string[]): ArtifactCheck {
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

/** Compares the artifact with the payload (or the in-toto statement's subjects); adds reasons and notes. */
export async function checkArtifact(path: string, facts: BundleFacts, reasons: string[], notes: string[]): Promise<ArtifactCheck> {
  const { hex, size } = await sha256File(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --artifact ${printable(path, 200)} (${err.code ?? 'error'})`);
  });
  const payload = facts.payload!;
  if (facts.payloadType === IN_TOTO_PAYLOAD_TYPE) return checkSubjects(payload, hex, reasons, notes);
  const payloadHex = sha256Hex(payload);
  if (size !== payload.length || hex !== payloadHex) {
    reasons.push(`artifact: it is not the signed payload (artifact ${size} bytes, SHA-256 ${hex}; payload ${payload.length} bytes, SHA-256 ${payloadHex})`);
    return { sha256: hex };
  }
  notes.push(`artifact: equals the signed payload (${size} bytes, SHA-256 ${hex})`);
  return { sha256: hex, matched: 'payload' };
}
