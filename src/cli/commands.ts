/**
 * Every command of `sigledger`: its flags (with what applies when a flag is absent) and how it
 * runs. Implementations are imported when the command runs, so `sigledger --help` or `verify`
 * never load the service's stores.
 */
import { DEFAULTS, loadConfig } from '../config.ts';
import { flag, type Command } from './common/command.ts';
import { UsageError } from './common/errors.ts';

const CONFIG_NOTE = 'Flags win over SIGLEDGER_* environment variables, which win over the defaults shown.';

const dataFlag = {
  type: 'string',
  value: 'DIR',
  description: 'the data directory (event store, read models, keys, dev issuer)',
  default: `SIGLEDGER_DATA_DIR, else ${DEFAULTS.dataDir}`,
} as const;
const storeFlag = { type: 'string', value: 'sqlite|esdb', description: 'the event store: SQLite in the data directory, or EventStoreDB at SIGLEDGER_ESDB_URL', default: `SIGLEDGER_STORE, else ${DEFAULTS.store}` } as const;
const urlFlag = (what: string) => ({ type: 'string', value: 'URL', description: `the sigledger service ${what} (http or https, e.g. http://127.0.0.1:${DEFAULTS.port})`, default: 'required' }) as const;

export const COMMANDS: Readonly<Record<string, Command>> = {
  serve: {
    summary: 'start the service (initialises the data directory on first start)',
    usage: 'sigledger serve [--port N] [--host H] [--data DIR] [--store sqlite|esdb]',
    flags: {
      port: { type: 'string', value: 'N', description: 'TCP port to listen on (0: any free port)', default: `SIGLEDGER_PORT, else ${DEFAULTS.port}` },
      host: { type: 'string', value: 'H', description: 'address to listen on', default: `SIGLEDGER_HOST, else ${DEFAULTS.host}` },
      data: dataFlag,
      store: storeFlag,
    },
    details: [CONFIG_NOTE, 'Stops gracefully on SIGTERM or SIGINT (in-flight requests finish). Exit 0 after a clean stop, 2 on a configuration error.'],
    async run(values, io) {
      const config = loadConfig({ port: flag.string(values, 'port'), host: flag.string(values, 'host'), data: flag.string(values, 'data'), store: flag.string(values, 'store') }, io.env);
      const { serve } = await import('./serve.ts');
      return serve(config, io);
    },
  },
  token: {
    summary: 'dev mode only: print {"authorization":"Bearer …","poe":"…"} from the dev issuer of a data directory the service has initialised',
    usage: 'sigledger token [--data DIR] [--tenant T] [--plan P] [--scope S]... [--subject SUB] [--ttl SECONDS] [--scanner-image HOST/NAME@sha256:HEX]',
    flags: {
      data: { ...dataFlag, description: 'the data directory of the service whose dev issuer signs the tokens (it must exist: start `sigledger serve` first)' },
      tenant: { type: 'string', value: 'T', description: 'the tenant (OpTok and PoE claim `tenant`)', default: 'dev' },
      plan: { type: 'string', value: 'P', description: 'the plan of the PoE (a name of SIGLEDGER_PLANS)', default: 'team' },
      scope: { type: 'string', multiple: true, value: 'S', description: 'an OpTok scope, e.g. signer.sign, ledger.admin, ledger.audit', default: 'signer.sign' },
      subject: { type: 'string', value: 'SUB', description: 'the subject of both tokens', default: 'dev:<tenant>' },
      ttl: { type: 'string', value: 'SECONDS', description: 'token lifetime, 1 to 86400 seconds', default: '3600' },
      'scanner-image': { type: 'string', value: 'HOST/NAME@sha256:HEX', description: 'the OpTok claim scanner_image that release gating checks', default: 'none' },
    },
    details: ['Exit 2, writing nothing, when the data directory has no dev issuer: `token` never creates one.'],
    async run(values, io) {
      const config = loadConfig({ data: flag.string(values, 'data') }, io.env);
      const ttl = flag.string(values, 'ttl');
      if (ttl !== undefined && !/^\d{1,6}$/.test(ttl)) throw new UsageError('--ttl must be a number of seconds');
      const scopes = flag.list(values, 'scope');
      const [tenant, plan, subject, scannerImage] = (['tenant', 'plan', 'subject', 'scanner-image'] as const).map((n) => flag.string(values, n));
      const { token } = await import('./token.ts');
      return token(
        config,
        { ...(tenant !== undefined ? { tenant } : {}), ...(plan !== undefined ? { plan } : {}), ...(subject !== undefined ? { subject } : {}), ...(scopes.length > 0 ? { scopes } : {}), ...(ttl !== undefined ? { ttlSeconds: Number(ttl) } : {}), ...(scannerImage !== undefined ? { scannerImage } : {}) },
        io,
      );
    },
  },
  replay: {
    summary: 'audit replay: re-verify the hash chain, every signature, checkpoint and ceremony, and compare the read models with a fresh fold',
    usage: 'sigledger replay [--data DIR] [--store sqlite|esdb] [--json] [--no-signatures]',
    flags: {
      data: dataFlag,
      store: storeFlag,
      json: { type: 'boolean', description: 'print the report as one JSON object', default: 'off: a table' },
      'no-signatures': { type: 'boolean', description: 'skip re-verifying the DSSE signatures (the slowest check)', default: 'off: signatures are checked' },
    },
    details: [CONFIG_NOTE, 'Exit 0 when nothing was altered, 1 naming the first bad position.'],
    async run(values, io) {
      const config = loadConfig({ data: flag.string(values, 'data'), store: flag.string(values, 'store') }, io.env);
      const { runReplay } = await import('./replay.ts');
      return runReplay(config, { json: flag.on(values, 'json'), signatures: !flag.on(values, 'no-signatures') }, io);
    },
  },
  approve: {
    summary: "sign a ceremony's proposal with an approver's private key and submit the approval",
    usage: 'sigledger approve --url URL --ceremony ID --key FILE [--yes] [--no-wait] [--timeout SECONDS]',
    flags: {
      url: urlFlag('running the ceremony'),
      ceremony: { type: 'string', value: 'ID', description: 'the ceremony id (cer-…), from POST /api/v1/rotations or /api/v1/ceremonies', default: 'required' },
      key: { type: 'string', value: 'FILE', description: "the approver's Ed25519 private key (PKCS#8 PEM); it never leaves this process", default: 'required' },
      yes: { type: 'boolean', description: 'approve the proposal shown without asking (automation); without it a terminal is asked, and without a terminal nothing is signed (exit 2)', default: 'off: asks on a TTY' },
      'no-wait': { type: 'boolean', description: 'return once approved instead of following the rotation it starts', default: 'off: follows the re-signing with a progress bar' },
      timeout: { type: 'string', value: 'SECONDS', description: 'stop following the rotation after this long (1 to 604800; the rotation goes on in the service)', default: '3600' },
    },
    details: [
      'Following ends when the rotation is terminal: completed, superseded (another rotation already replaced its key), cancelled or expired.',
      'Before signing it prints the action, its parameters, the reason (control and bidi characters escaped), the proposal digest and the expiry.',
      'Exit 0 approved (and, when followed, the rotation completed without failures), 1 refused, declined, failed, superseded, cancelled, expired or timed out, 2 usage (also: no terminal to confirm on and no --yes; nothing signed).',
    ],
    async run(values, io) {
      const [url, ceremony, key] = flag.required(values, ['url', 'ceremony', 'key'], '--url, --ceremony and --key are required') as [string, string, string];
      const timeout = flag.string(values, 'timeout') ?? '3600';
      if (!/^[1-9]\d{0,5}$/.test(timeout) || Number(timeout) > 604_800) throw new UsageError('--timeout must be a whole number of seconds from 1 to 604800');
      const { approve } = await import('./approve.ts');
      return approve({ url, ceremony, key, wait: !flag.on(values, 'no-wait'), timeoutSeconds: Number(timeout), yes: flag.on(values, 'yes') }, io);
    },
  },
  verify: {
    summary: 'verify a bundle offline against a kit directory (or a service URL): exit 0 valid, 1 invalid, 2 usage',
    usage: 'sigledger verify --bundle FILE --trust DIR_OR_URL [--artifact FILE] [--json]',
    flags: {
      bundle: {
        type: 'string',
        value: 'FILE',
        description: 'the bundle: a Sigstore bundle (a kit\'s bundles/<id>/v<n>.bundle.json), or the JSON answer of POST /api/v1/signer/sign/dsse or GET /api/v1/bundles/<id> (its "bundle" is verified)',
        default: 'required',
      },
      trust: { type: 'string', value: 'DIR_OR_URL', description: 'a kit directory (`sigledger kit export`; no network) or the service URL', default: 'required' },
      artifact: { type: 'string', value: 'FILE', description: 'also check that FILE is what was signed (the payload, or a subject of the in-toto statement)', default: 'none' },
      json: { type: 'boolean', description: 'print one JSON object {valid, reasons, notes, bundle, trust, artifact?}', default: 'off: lines' },
    },
    details: ['Anchors version 1 and trusted_root.json are trusted on first use: their fingerprints are printed to compare out of band.'],
    async run(values, io) {
      const [bundle, trust] = flag.required(values, ['bundle', 'trust'], '--bundle and --trust are required') as [string, string];
      const artifact = flag.string(values, 'artifact');
      const { verify } = await import('./verify.ts');
      return verify({ bundle, trust, ...(artifact !== undefined ? { artifact } : {}), json: flag.on(values, 'json') }, io);
    },
  },
  attach: {
    summary: 'attach a bundle to an image as an OCI referrer (referrers API, else the referrers tag index)',
    usage: 'sigledger attach --registry URL --image [HOST[:PORT]/]NAME@sha256:HEX --bundle FILE [--json]',
    flags: {
      registry: { type: 'string', value: 'URL', description: 'the registry: http://HOST:PORT or https://HOST[:PORT] (credentials: SIGLEDGER_REGISTRY_USERNAME and SIGLEDGER_REGISTRY_PASSWORD)', default: 'required' },
      image: { type: 'string', value: '[HOST[:PORT]/]NAME@sha256:HEX', description: 'the image, pinned by digest (tags are refused)', default: 'required' },
      bundle: { type: 'string', value: 'FILE', description: 'a Sigstore bundle whose in-toto statement names the image digest', default: 'required' },
      json: { type: 'boolean', description: 'print one JSON object {image, subject, artifact, referrers, index}', default: 'off: one line' },
    },
    details: ['Exit 0 attached, 1 refused or failed (nothing is pushed for a bundle about another image), 2 usage.'],
    async run(values, io) {
      const [registry, image, bundle] = flag.required(values, ['registry', 'image', 'bundle'], '--registry, --image and --bundle are required') as [string, string, string];
      const { attach } = await import('./attach.ts');
      return attach({ registry, image, bundle, json: flag.on(values, 'json') }, io);
    },
  },
  kit: {
    summary: 'write an offline verification kit (trusted root, anchors history, checkpoint, the bundles named)',
    usage: 'sigledger kit export --url URL --out DIR [--bundle ID]... [--force]',
    subcommands: ['export'],
    flags: {
      url: urlFlag('to export from'),
      out: { type: 'string', value: 'DIR', description: 'the kit directory: new, empty, or a previous kit (which is merged into: see below)', default: 'required' },
      bundle: { type: 'string', multiple: true, value: 'ID', description: 'a bundle id (64 hex) to include with every version and re-signing attestation', default: 'none: the trust material only' },
      force: {
        type: 'boolean',
        description: 'also write into a directory that is not empty and is not a kit (no kit.json): its other files are left alone, files with kit names are replaced. Never deletes anything',
        default: 'off: such a directory is refused, exit 2',
      },
    },
    details: [
      'Into a previous kit, export merges: the bundles already in it are kept and exported again at their latest',
      'versions, the --bundle ones are added, and no file is ever deleted. For a kit without some bundle, export',
      'into a new directory. Nothing is written until the anchors chain verifies and every bundle is found.',
    ],
    async run(values, io) {
      const [url, out] = flag.required(values, ['url', 'out'], '--url and --out are required') as [string, string];
      const { kitExport } = await import('./kit/export.ts');
      return kitExport({ url, out, bundles: flag.list(values, 'bundle'), force: flag.on(values, 'force') }, io);
    },
  },
  trust: {
    summary: "write the TSA's certificates as PEM files for `openssl ts -verify` (tsa.pem, tsa-root.pem, tsa-chain.pem)",
    usage: 'sigledger trust pem --url URL --out DIR [--force]',
    subcommands: ['pem'],
    flags: {
      url: urlFlag('whose TSA issued the timestamps'),
      out: { type: 'string', value: 'DIR', description: 'where to write tsa.pem (the TSA certificate), tsa-root.pem (the root to trust) and tsa-chain.pem (the whole chain, leaf first); created if needed', default: 'required' },
      force: { type: 'boolean', description: 'replace tsa.pem, tsa-root.pem and tsa-chain.pem when they exist', default: 'off: existing files are refused, exit 2' },
    },
    details: ['Then: openssl ts -verify -in REPLY.tsr -queryfile QUERY.tsq -CAfile DIR/tsa-root.pem -untrusted DIR/tsa-chain.pem'],
    async run(values, io) {
      const [url, out] = flag.required(values, ['url', 'out'], '--url and --out are required') as [string, string];
      const { trustPem } = await import('./trust/pem.ts');
      return trustPem({ url, out, force: flag.on(values, 'force') }, io);
    },
  },
};
