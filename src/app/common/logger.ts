import { destination as pinoDestination, pino, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * JSON logs on stdout. Request and header fields that could carry credentials are redacted
 * at the logger, so a mistaken `log.info({ headers })` cannot leak a token.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sigledger' },
      timestamp: stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'headers.authorization',
          'headers["x-proof-of-entitlement"]',
          'req.headers.authorization',
          'req.headers["x-proof-of-entitlement"]',
          '*.privateKey',
          '*.kek',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pinoDestination({ sync: false }),
  );
}
