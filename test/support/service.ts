/** Starts the real service in-process on an ephemeral port with a temporary data dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/app/common/logger.ts';
import { ensureDevIssuer } from '../../src/app/access/auth/dev-issuer.ts';
import { loadConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/main.ts';

export interface TestService extends Service {
  readonly dataDir: string;
  /** Graceful stop; removes the data dir unless it was given by the caller. */
  stop(): Promise<void>;
  /** Dev-mode tokens as headers for a signing request. */
  tokens(req?: { tenant?: string; plan?: string; scopes?: string[]; subject?: string; scannerImage?: string }): Promise<Record<string, string>>;
}

export interface TestServiceOptions {
  /** Reuse this data dir (kept on stop), e.g. to restart on the same history. */
  readonly dataDir?: string;
  /** Where JSON logs go (default: silent). */
  readonly logs?: NodeJS.WritableStream;
  /** The service's clock (default: the system clock). */
  readonly now?: () => Date;
}

export async function startTestService(env: NodeJS.ProcessEnv = {}, options: TestServiceOptions = {}): Promise<TestService> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sigledger-svc-'));
  const config = loadConfig({ port: '0', data: dataDir }, { SIGLEDGER_LOG_LEVEL: 'silent', ...env });
  const logger = options.logs ? createLogger('debug', options.logs) : createLogger('silent');
  const service = await startService(config, { logger, ...(options.now ? { now: options.now } : {}) });
  return {
    ...service,
    dataDir,
    async stop() {
      await service.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async tokens(req = {}) {
      const issuer = await ensureDevIssuer(dataDir, { create: false });
      const t = await issuer.issue({ tenant: req.tenant ?? 'acme', plan: req.plan ?? 'team', ...(req.scopes ? { scopes: req.scopes } : {}), ...(req.subject ? { subject: req.subject } : {}), ...(req.scannerImage ? { scannerImage: req.scannerImage } : {}) });
      return { authorization: t.authorization, 'x-proof-of-entitlement': t.poe };
    },
  };
}
