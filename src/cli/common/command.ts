/**
 * How a command of the CLI is described: its flags (each with a description and what applies
 * when it is absent), from which both node:util parseArgs' options and `--help` are derived, so
 * the help can never list a flag the parser does not know, or miss one it does.
 */
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

export interface Flag {
  readonly type: 'string' | 'boolean';
  /** May be given several times (the values are a list). */
  readonly multiple?: boolean;
  /** The value's placeholder in the help (`FILE`, `URL`); string flags only. */
  readonly value?: string;
  readonly description: string;
  /** What applies when the flag is absent, as shown in the help ("required" for a required flag). */
  readonly default: string;
}

export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly flags: Readonly<Record<string, Flag>>;
  /** The subcommands it takes as its one positional argument (`kit export`). */
  readonly subcommands?: readonly string[];
  /** More help: files written, exit codes, an example. */
  readonly details?: readonly string[];
  run(values: FlagValues, io: Io, subcommand: string | undefined): Promise<number>;
}

export const HELP_FLAG = { type: 'boolean', description: 'print this help and exit', default: 'off' } as const satisfies Flag;

/** parseArgs options of a command, --help included. */
export function parseOptions(command: Command): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, flag] of Object.entries(command.flags)) options[name] = { type: flag.type, ...(flag.multiple ? { multiple: true } : {}) };
  return options;
}

/** `sigledger NAME --help`: usage, summary, every flag with its description and default, details. */
export function commandHelp(name: string, command: Command): string {
  const rows: [string, string][] = Object.entries(command.flags).map(([flag, f]) => [`--${flag}${f.value ? ` ${f.value}` : ''}${f.multiple ? ' (repeatable)' : ''}`, `${f.description} (${f.default === 'required' ? 'required' : `default: ${f.default}`})`]);
  rows.push(['-h, --help', HELP_FLAG.description]);
  const width = Math.min(32, Math.max(...rows.map(([left]) => left.length)) + 2);
  const lines = [`usage: ${command.usage}`, '', `sigledger ${name}: ${command.summary}`, '', 'Options:'];
  for (const [left, right] of rows) lines.push(left.length + 2 > width ? `  ${left}\n  ${' '.repeat(width)}${right}` : `  ${left.padEnd(width)}${right}`);
  if (command.details?.length) lines.push('', ...command.details);
  return lines.join('\n');
}

/** Typed reads of parsed flag values. */
export const flag = {
  /** The values of flags that must all be given; a UsageError with `message` otherwise. */
  required: (values: FlagValues, names: readonly string[], message: string): string[] => {
    const given = names.map((n) => (typeof values[n] === 'string' ? (values[n] as string) : ''));
    if (given.some((v) => v === '')) throw new UsageError(message);
    return given;
  },
  string: (values: FlagValues, name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined),
  list: (values: FlagValues, name: string): string[] => {
    const v = values[name];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  },
  on: (values: FlagValues, name: string): boolean => values[name] === true,
};
