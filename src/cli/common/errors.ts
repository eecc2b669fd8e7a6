/**
 * The command line's failures, in the ledger's one error hierarchy. `main.ts` turns them into
 * one line on stderr: a UsageError exits 2, the others exit 1. None of them carries key material.
 */
import { LedgerError, type ErrorCode } from '../../errors.ts';

abstract class CliError extends LedgerError {
  protected constructor(code: Extract<ErrorCode, `cli_${string}`>, message: string) {
    super(code, message);
    this.name = new.target.name;
  }
}

/** A flag or argument is missing or wrong, or an output exists and --force was not given: exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super('cli_usage', message);
  }
}

/** Hostile or malformed content (a file, an answer): a reason of an "invalid" verdict, exit 1. */
export class InputError extends CliError {
  constructor(message: string) {
    super('cli_input_invalid', message);
  }
}

/** The service could not be reached, or answered with an error status: exit 1. */
export class FetchError extends CliError {
  constructor(message: string) {
    super('cli_fetch_failed', message);
  }
}

/** An output file could not be written: exit 1. */
export class WriteError extends CliError {
  constructor(message: string) {
    super('cli_write_failed', message);
  }
}

/** A failure the CLI reports as `sigledger <command>: <message>` with exit 1. */
export const isCliFailure = (err: unknown): err is InputError | FetchError | WriteError => err instanceof InputError || err instanceof FetchError || err instanceof WriteError;
