/** Assertions about refusals that arrive as a rejected promise. */
import { expect } from 'vitest';
import { LedgerError } from '../../src/errors.ts';

/** The LedgerError `p` rejects with; fails the test when `p` resolves or rejects with anything else. */
export async function caught(p: Promise<unknown>): Promise<LedgerError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LedgerError);
    return e as LedgerError;
  }
  throw new Error('expected a rejection');
}
