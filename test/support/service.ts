/** Starts the real service in-process on an ephemeral port with a temporary data dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/app/logger.ts';
import { loadConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/main.ts';

export interface TestService extends Service {
  readonly dataDir: string;
  stop(): Promise<void>;
}

export async function startTestService(env: NodeJS.ProcessEnv = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigledger-svc-'));
  const config = loadConfig({ port: '0', data: dataDir }, { SIGLEDGER_LOG_LEVEL: 'silent', ...env });
  const service = await startService(config, { logger: createLogger('silent') });
  return {
    ...service,
    dataDir,
    async stop() {
      await service.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
