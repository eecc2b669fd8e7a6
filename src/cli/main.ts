/**
 * `sigledger` command line. Exit codes: 0 success, 1 failure, 2 usage or configuration error.
 * Errors print one line on stderr, never a stack trace. The commands are in commands.ts.
 */
import { parseArgs } from 'node:util';
import { ConfigError, isLedgerError } from '../errors.ts';
import { COMMANDS } from './commands.ts';
import { commandHelp, parseOptions, type Command, type FlagValues, type Io } from './common/command.ts';
import { isCliFailure, UsageError } from './common/errors.ts';
import { CLI_VERSION } from './version.ts';

export type { Io } from './common/command.ts';

function usage(): string {
  const lines = ['Usage: sigledger <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`, `             ${c.usage}`);
  lines.push('', 'Configuration: flags, else SIGLEDGER_* environment variables, else defaults (see README).');
  lines.push('Run `sigledger <command> --help` for a command’s options, `sigledger --version` for the version.');
  return lines.join('\n');
}

/** The one positional a command with subcommands takes; UsageError for anything else. */
function subcommandOf(command: Command, positionals: readonly string[]): string | undefined {
  if (!command.subcommands) return undefined;
  const [sub] = positionals;
  if (positionals.length !== 1 || !command.subcommands.includes(sub!)) throw new UsageError(`unknown subcommand "${(positionals.join(' ') || '(none)').slice(0, 40)}"; usage: ${command.usage}`);
  return sub;
}

export async function main(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.out(`sigledger ${CLI_VERSION}`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`sigledger: unknown command "${name.slice(0, 40)}" (see sigledger --help)`);
    return 2;
  }
  let values: FlagValues;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: [...rest], options: parseOptions(command), strict: true, allowPositionals: command.subcommands !== undefined });
    values = parsed.values;
    positionals = parsed.positionals;
  } catch (err) {
    io.err(`sigledger ${name}: ${(err as Error).message.split('\n')[0]}`);
    io.err(`usage: ${command.usage}`);
    return 2;
  }
  if (values.help) {
    io.out(commandHelp(name, command));
    return 0;
  }
  let label = name;
  try {
    const sub = subcommandOf(command, positionals);
    if (sub) label = `${name} ${sub}`;
    return await command.run(values, io, sub);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.err(`sigledger ${name}: ${err.message}`);
      return 2;
    }
    if (isCliFailure(err)) {
      io.err(`sigledger ${label}: ${err.message}`);
      return 1;
    }
    io.err(`sigledger ${label}: ${isLedgerError(err) ? `${err.code}: ${err.message}` : 'unexpected error'}`);
    return 1;
  }
}

function defaultIo(): Io {
  return { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`), env: process.env };
}
