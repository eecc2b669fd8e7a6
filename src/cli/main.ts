/**
 * `sigledger` command line. Exit codes: 0 success, 1 failure, 2 usage or configuration error.
 * Errors print one line on stderr, never a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config.ts';
import { ConfigError, isLedgerError } from '../errors.ts';

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Accepts positional arguments (a subcommand, e.g. `kit export`); given to run. */
  readonly positionals?: boolean;
  run(values: Record<string, string | boolean | string[] | boolean[] | undefined>, io: Io, positionals: string[]): Promise<number>;
}

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'start the service (initialises the data directory on first start)',
    usage: 'sigledger serve [--port N] [--host H] [--data DIR] [--store sqlite|esdb]',
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      store: { type: 'string' },
    },
    async run(values, io) {
      const config = loadConfig(
        { port: values.port as string | undefined, host: values.host as string | undefined, data: values.data as string | undefined, store: values.store as string | undefined },
        io.env,
      );
      const { startService } = await import('../main.ts');
      const service = await startService(config);
      io.out(`sigledger listening on ${service.url}`);
      return new Promise<number>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          service.logger.info({ signal }, 'signal received');
          service.close().then(
            () => resolve(0),
            (err: unknown) => {
              io.err(`sigledger: shutdown failed: ${(err as Error).message}`);
              resolve(1);
            },
          );
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    },
  },
  token: {
    summary: 'dev mode only: print {"authorization":"Bearer …","poe":"…"} for the local dev issuer',
    usage: 'sigledger token [--data DIR] [--tenant T] [--plan P] [--scope S]... [--subject SUB] [--ttl SECONDS] [--scanner-image HOST/NAME@sha256:HEX]',
    options: {
      data: { type: 'string' },
      'scanner-image': { type: 'string' },
      tenant: { type: 'string' },
      plan: { type: 'string' },
      scope: { type: 'string', multiple: true },
      subject: { type: 'string' },
      ttl: { type: 'string' },
    },
    async run(values, io) {
      const config = loadConfig({ data: values.data as string | undefined }, io.env);
      if (config.authMode !== 'dev') throw new ConfigError('sigledger token works in dev mode only (SIGLEDGER_AUTH_MODE=dev); production tokens come from your issuer');
      const ttlRaw = values.ttl as string | undefined;
      if (ttlRaw !== undefined && !/^\d{1,6}$/.test(ttlRaw)) throw new ConfigError('--ttl must be a number of seconds');
      const { ensureDevIssuer } = await import('../app/access/auth/dev-issuer.ts');
      // The data dir is created on first serve; `token` also creates the dev issuer so that a
      // token can be minted before the service starts (serve then uses the same keys).
      const issuer = await ensureDevIssuer(config.dataDir);
      const scopes = values.scope as string[] | undefined;
      const tokens = await issuer.issue({
        ...(values.tenant !== undefined ? { tenant: values.tenant as string } : {}),
        ...(values.plan !== undefined ? { plan: values.plan as string } : {}),
        ...(values.subject !== undefined ? { subject: values.subject as string } : {}),
        ...(scopes && scopes.length > 0 ? { scopes } : {}),
        ...(ttlRaw !== undefined ? { ttlSeconds: Number(ttlRaw) } : {}),
        ...(values['scanner-image'] !== undefined ? { scannerImage: values['scanner-image'] as string } : {}),
      });
      io.out(JSON.stringify({ authorization: tokens.authorization, poe: tokens.poe }));
      return 0;
    },
  },
  replay: {
    summary: 'audit replay: re-verify the hash chain, every signature, checkpoint and ceremony, and compare the read models with a fresh fold',
    usage: 'sigledger replay [--data DIR] [--store sqlite|esdb] [--json] [--no-signatures]',
    options: {
      data: { type: 'string' },
      store: { type: 'string' },
      json: { type: 'boolean' },
      'no-signatures': { type: 'boolean' },
    },
    async run(values, io) {
      const config = loadConfig({ data: values.data as string | undefined, store: values.store as string | undefined }, io.env);
      const { runReplay } = await import('./replay.ts');
      return runReplay(config, { json: values.json === true, signatures: values['no-signatures'] !== true }, io);
    },
  },
  approve: {
    summary: "sign a ceremony's proposal with an approver's private key and submit the approval",
    usage: 'sigledger approve --url URL --ceremony ID --key FILE [--no-wait]',
    options: {
      url: { type: 'string' },
      ceremony: { type: 'string' },
      key: { type: 'string' },
      'no-wait': { type: 'boolean' },
    },
    async run(values, io) {
      const url = values.url as string | undefined;
      const ceremony = values.ceremony as string | undefined;
      const key = values.key as string | undefined;
      if (!url || !ceremony || !key) throw new ConfigError('--url, --ceremony and --key are required');
      const { approve } = await import('./approve.ts');
      return approve({ url, ceremony, key, wait: values['no-wait'] !== true }, io);
    },
  },
  verify: {
    summary: 'verify a bundle offline against a kit directory (or a service URL): exit 0 valid, 1 invalid, 2 usage',
    usage: 'sigledger verify --bundle FILE --trust DIR_OR_URL [--artifact FILE] [--json]',
    options: {
      bundle: { type: 'string' },
      trust: { type: 'string' },
      artifact: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, io) {
      const bundle = values.bundle as string | undefined;
      const trust = values.trust as string | undefined;
      if (!bundle || !trust) throw new ConfigError('--bundle and --trust are required');
      const { verify } = await import('./verify.ts');
      return verify({ bundle, trust, ...(values.artifact !== undefined ? { artifact: values.artifact as string } : {}), json: values.json === true }, io);
    },
  },
  attach: {
    summary: 'attach a bundle to an image as an OCI referrer (referrers API, else the referrers tag index)',
    usage: 'sigledger attach --registry URL --image [HOST[:PORT]/]NAME@sha256:HEX --bundle FILE [--json]',
    options: {
      registry: { type: 'string' },
      image: { type: 'string' },
      bundle: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, io) {
      const registry = values.registry as string | undefined;
      const image = values.image as string | undefined;
      const bundle = values.bundle as string | undefined;
      if (!registry || !image || !bundle) throw new ConfigError('--registry, --image and --bundle are required');
      const { attach } = await import('./attach.ts');
      return attach({ registry, image, bundle, json: values.json === true }, io);
    },
  },
  kit: {
    summary: 'write an offline verification kit (trusted root, anchors history, checkpoint, the bundles named)',
    usage: 'sigledger kit export --url URL --out DIR [--bundle ID]... [--force]',
    options: {
      url: { type: 'string' },
      out: { type: 'string' },
      bundle: { type: 'string', multiple: true },
      force: { type: 'boolean' },
    },
    positionals: true,
    async run(values, io, positionals) {
      if (positionals.length !== 1 || positionals[0] !== 'export') throw new ConfigError(`unknown subcommand "${(positionals.join(' ') || '(none)').slice(0, 40)}"; usage: sigledger kit export --url URL --out DIR [--bundle ID]... [--force]`);
      const url = values.url as string | undefined;
      const out = values.out as string | undefined;
      if (!url || !out) throw new ConfigError('--url and --out are required');
      const { kitExport } = await import('./kit.ts');
      return kitExport({ url, out, bundles: (values.bundle as string[] | undefined) ?? [], force: values.force === true }, io);
    },
  },
};

function usage(): string {
  const lines = ['Usage: sigledger <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`, `             ${c.usage}`);
  lines.push('', 'Configuration: flags, else SIGLEDGER_* environment variables, else defaults (see README).');
  lines.push('Run `sigledger <command> --help` for a command’s options.');
  return lines.join('\n');
}

export async function main(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`sigledger: unknown command "${name.slice(0, 40)}" (see sigledger --help)`);
    return 2;
  }
  let values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: [...rest], options: { ...command.options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: command.positionals === true });
    values = parsed.values;
    positionals = parsed.positionals;
  } catch (err) {
    io.err(`sigledger ${name}: ${(err as Error).message.split('\n')[0]}`);
    io.err(`usage: ${command.usage}`);
    return 2;
  }
  if (values.help) {
    io.out(`usage: ${command.usage}`);
    return 0;
  }
  try {
    return await command.run(values, io, positionals);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`sigledger ${name}: ${err.message}`);
      return 2;
    }
    io.err(`sigledger ${name}: ${isLedgerError(err) ? `${err.code}: ${err.message}` : 'unexpected error'}`);
    return 1;
  }
}

function defaultIo(): Io {
  return { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`), env: process.env };
}
