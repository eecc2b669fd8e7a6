/**
 * `sigledger approve --url URL --ceremony ID --key FILE`: fetches the ceremony, checks that the
 * proposal is the one its digest names, signs the DSSE PAE of its JCS bytes with the approver's
 * Ed25519 key (client-side: the private key never leaves this process) and submits the approval.
 * When the approval executes a rotation, it follows the re-signing with a progress bar (unless
 * --no-wait).
 *
 * Before signing it shows what the signature approves — the action with its parameters, the
 * reason, the proposal digest and the expiry — with every control, line-separator and bidi
 * character escaped (the text comes from whoever opened the ceremony), and asks for confirmation
 * when stdin is a terminal. `--yes` approves without asking (automation); without a terminal and
 * without `--yes` nothing is signed (exit 2): an approval is never given by default.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyIdOf } from '../crypto/ed25519.ts';
import { approvalMessage, proposalDigest, type CeremonyProposal } from '../domain/ceremony.ts';
import { escapeUnsafe } from '../domain/plain-text.ts';
import { isObject } from '../json.ts';
import { progressBar } from './progress.ts';
import { UsageError } from './common/errors.ts';
import { baseUrl, httpRequest } from './common/http-client.ts';
import { LIMITS } from './common/limits.ts';
import { printable } from './common/printable.ts';

export interface ApproveIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly progress?: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): unknown };
  /** Where the confirmation is read from (default process.stdin): asked only when it is a TTY. */
  readonly input?: { readonly isTTY?: boolean };
  /** Asks `question` and resolves true for a yes (default: one line from stdin, prompt on stderr). */
  readonly confirm?: (question: string) => Promise<boolean>;
}

/** One line from stdin; `y` or `yes` (any case) is a yes. */
async function askOnTerminal(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^\s*y(es)?\s*$/i.test(await rl.question(question));
  } finally {
    rl.close();
  }
}

/** What the approver is asked to sign, one printable line each (nothing from the service reaches the terminal raw). */
export function describeProposal(ceremony: { ceremonyId: string; proposal: CeremonyProposal; proposalDigest: string; threshold?: unknown; progress?: unknown }): string[] {
  const { action, reason, expiresAt, createdAt } = ceremony.proposal;
  const { type, ...params } = action;
  const shown = shownText;
  return [
    `ceremony ${shown(ceremony.ceremonyId, 80)}`,
    `  action:    ${shown(type, 80)}`,
    ...(Object.keys(params).length > 0 ? [`  params:    ${shown(JSON.stringify(params))}`] : []),
    `  reason:    ${shown(reason)}`,
    `  proposal:  sha256 ${shown(ceremony.proposalDigest, 80)}`,
    `  created:   ${shown(createdAt, 40)}`,
    `  expires:   ${shown(expiresAt, 40)}`,
    ...(ceremony.progress !== undefined ? [`  approvals: ${shown(ceremony.progress, 80)}`] : []),
  ];
}

interface CeremonyJson {
  ceremonyId: string;
  proposal: CeremonyProposal;
  proposalDigest: string;
  approvers: string[];
  state: string;
  progress: string;
  threshold: number;
}

async function loadApproverKey(path: string): Promise<{ key: KeyObject; approverId: string }> {
  const pem = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read the key file ${path} (${err.code ?? 'error'})`);
  });
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new UsageError(`${path} is not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`${path} is not an Ed25519 private key`);
  return { key, approverId: keyIdOf(createPublicKey(key).export({ format: 'der', type: 'spki' })) };
}

/** A request to the service (bounded in time and size); a body that is not a JSON object reads as {}. */
async function request(url: string, json?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await httpRequest(url, { limit: LIMITS.document, ...(json !== undefined ? { method: 'POST' as const, json } : {}) });
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(answer.body.toString('utf8'));
    if (isObject(parsed)) body = parsed;
  } catch {
    /* not JSON: the status speaks */
  }
  return { status: answer.status, body };
}

/** "code: detail (reason)" of a problem+json answer, printable (the service's text is not trusted with the terminal). */
const problemLine = (status: number, body: Record<string, unknown>) =>
  `${shownText(body.code ?? `HTTP ${status}`, 60)}: ${shownText(body.detail ?? 'request failed', 300)}${typeof body.reason === 'string' ? ` (${shownText(body.reason, 60)})` : ''}`;

/** Service text for the terminal: controls, separators and bidi characters escaped, bounded. */
const shownText = (v: unknown, max = 2000): string => printable(escapeUnsafe(String(v)), max);

export async function approve(options: { url: string; ceremony: string; key: string; wait: boolean; timeoutSeconds?: number; yes?: boolean }, io: ApproveIo): Promise<number> {
  const base = baseUrl(options.url);
  if (!/^cer-[A-Za-z0-9-]{1,64}$/.test(options.ceremony)) throw new UsageError('--ceremony must be a ceremony id (cer-…)');
  const { key, approverId } = await loadApproverKey(options.key);
  const got = await request(`${base}/api/v1/ceremonies/${options.ceremony}`);
  if (got.status !== 200) {
    io.err(`sigledger approve: ${problemLine(got.status, got.body)}`);
    return 1;
  }
  const ceremony = got.body as unknown as CeremonyJson;
  // Sign only the proposal the digest names (a server cannot show one text and count another).
  if (!isObject(ceremony.proposal) || proposalDigest(ceremony.proposal) !== ceremony.proposalDigest) {
    io.err('sigledger approve: the proposal does not match its proposalDigest; refusing to sign');
    return 1;
  }
  if (!Array.isArray(ceremony.approvers) || !ceremony.approvers.includes(approverId)) {
    io.err(`sigledger approve: approver ${approverId} is not an approver of ceremony ${options.ceremony}`);
    return 1;
  }
  const action = ceremony.proposal.action;
  for (const line of describeProposal(ceremony)) io.out(line);
  if (options.yes !== true) {
    const interactive = (io.input ?? process.stdin).isTTY === true;
    if (!interactive) {
      io.err('sigledger approve: not signed: stdin is not a terminal, so the proposal above cannot be confirmed; pass --yes to approve it without asking');
      return 2;
    }
    const yes = await (io.confirm ?? askOnTerminal)(`approve ${String(action.type)} as ${approverId}? [y/N] `);
    if (!yes) {
      io.err('sigledger approve: not approved; nothing was signed');
      return 1;
    }
  }
  const signature = sign(null, approvalMessage(ceremony.proposal), key).toString('base64');
  const posted = await request(`${base}/api/v1/ceremonies/${options.ceremony}/approvals`, { approverId, signature });
  if (posted.status !== 200) {
    io.err(`sigledger approve: ${problemLine(posted.status, posted.body)}`);
    return 1;
  }
  const after = posted.body as unknown as CeremonyJson;
  io.out(`approved as ${approverId}: ${shownText(after.progress, 80)}; state ${shownText(after.state, 40)}`);
  const rotationId = typeof action.rotationId === 'string' ? action.rotationId : undefined;
  if (options.wait && rotationId && (after.state === 'approved' || after.state === 'executed')) return await follow(base, rotationId, io, (options.timeoutSeconds ?? 3600) * 1000);
  return 0;
}

/** Follows a rotation until it is terminal or `timeoutMs` passed, with a progress bar on a TTY. */
async function follow(base: string, rotationId: string, io: ApproveIo, timeoutMs: number): Promise<number> {
  const bar = progressBar(io.progress ?? process.stderr, `rotation ${rotationId} re-signing`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await request(`${base}/api/v1/rotations/${rotationId}`);
    if (status !== 200) {
      io.err(`sigledger approve: ${problemLine(status, body)}`);
      return 1;
    }
    const p = body.progress as { resigned: number; remaining: number; failed: number };
    const state = String(body.state);
    bar.update(p.resigned + p.failed, p.resigned + p.failed + p.remaining, `${state}${p.failed ? `, ${p.failed} failed` : ''}`);
    if (state === 'completed') {
      bar.finish(`rotation ${rotationId} completed: ${String(body.oldKeyId)} → ${String(body.newKeyId)}, ${p.resigned} re-signed, ${p.failed} failed`);
      io.out(JSON.stringify(body));
      return p.failed > 0 ? 1 : 0;
    }
    if (state === 'superseded') {
      bar.finish(`rotation ${rotationId} superseded: its outgoing key ${printable(String(body.oldKeyId), 80)} was already replaced by another rotation; nothing was rotated`);
      io.out(JSON.stringify(body));
      return 1;
    }
    if (state === 'cancelled' || state === 'expired') {
      bar.finish(`rotation ${rotationId} ${state}`);
      return 1;
    }
    if (Date.now() >= deadline) {
      bar.finish(`rotation ${rotationId} still ${printable(state, 40)} after ${Math.round(timeoutMs / 1000)} s; it goes on in the service (GET /api/v1/rotations/${rotationId})`);
      return 1;
    }
    await sleep(250);
  }
}
