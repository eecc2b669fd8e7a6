/**
 * One assertion for an RFC 9457 refusal: the status, the problem+json media type, the stable
 * error code (and the body's own `status`), and nothing a caller must never see (a stack
 * trace). Returns the parsed problem for assertions about its details.
 *
 *   await expectProblem(res, 403, 'forbidden');
 *   const p = await expectProblem(res, 400, 'bad_request', { reason: 'index_out_of_range' });
 */
import { expect } from 'vitest';
import type { ErrorCode } from '../../src/errors.ts';
import { PROBLEM_CONTENT_TYPE } from '../../src/http/problem.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ProblemBody = { readonly type: string; readonly title: string; readonly status: number; readonly code: ErrorCode; readonly detail: string; readonly [extra: string]: any };

/** V8 stack frames ("    at fn (file:line:col)") or a `stack` member: internals that must stay in the server log. */
const STACK_RE = /\n\s+at \S|"stack"\s*:/;

/** Checks a problem answer (a fetch or app.request Response; reads its body) and returns the problem. */
export async function expectProblem(res: Response, status: number, code: ErrorCode, details?: Record<string, unknown>): Promise<ProblemBody> {
  const text = await res.text();
  const where = `${status} ${code}: ${text.slice(0, 300)}`;
  expect(res.status, where).toBe(status);
  expect(res.headers.get('content-type'), where).toBe(PROBLEM_CONTENT_TYPE);
  expect(text, 'a problem never carries a stack trace').not.toMatch(STACK_RE);
  const problem = JSON.parse(text) as ProblemBody;
  expect(problem, where).toMatchObject({ status, code, ...details });
  return problem;
}
