/** `sigledger serve`: runs the service until SIGTERM or SIGINT, then shuts it down gracefully. */
import type { Config } from '../config.ts';

export interface ServeIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export async function serve(config: Config, io: ServeIo): Promise<number> {
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
}
