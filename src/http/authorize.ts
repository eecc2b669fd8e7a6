/**
 * Routes open to callers holding any one of several scopes (OpTok + PoE as everywhere). The
 * first scope is the one named when the caller has none of them.
 */
import { forbidden } from '../app/access/auth/authenticator.ts';
import { isLedgerError } from '../errors.ts';
import type { Caller, CallerAuthenticator } from './signer.ts';

type Header = { req: { header(name: string): string | undefined } };

const isMissingScope = (err: unknown): boolean => isLedgerError(err) && err.code === 'forbidden' && err.details?.reason === 'missing_scope';

export async function authenticateAnyScope(auth: CallerAuthenticator, c: Header, scopes: readonly [string, ...string[]]): Promise<Caller> {
  const input = { authorization: c.req.header('authorization'), poe: c.req.header('x-proof-of-entitlement') };
  for (const requiredScope of scopes) {
    try {
      return await auth.authenticate({ ...input, requiredScope });
    } catch (err) {
      if (!isMissingScope(err)) throw err;
    }
  }
  throw forbidden('missing_scope', { requiredScope: scopes[0] });
}
