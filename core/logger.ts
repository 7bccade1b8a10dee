import pino from 'pino';

/**
 * Structured logs go to stderr (stdout is for command output). Data goes in fields; never log
 * record contents, credentials or key material: pass ids and counts.
 *
 * @example logger.info({ batch: id, inserted: 42 }, 'batch written')
 */
export function createLogger(level: string = process.env.KEYWATCH_LOG_LEVEL ?? 'warn') {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['password', '*.password', 'clickhouse.password', 'record', '*.record'], censor: '[redacted]' },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}

export type Logger = ReturnType<typeof createLogger>;
