import pino from 'pino';

/**
 * Field names that hold credentials or key material wherever they appear in a log line (top
 * level, or one object down: `{ kafka: { sasl: { password } } }` is covered by `sasl`). A
 * safety net: log ids and counts, never these. Not `records` or `tokens`: those names carry counts.
 */
const SECRET_KEYS = ['password', 'secret', 'token', 'pin', 'authorization', 'cookie', 'sasl', 'privateKey', 'private_key', 'keyMaterial', 'key_material', 'record', 'body'];

export const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'clickhouse.password',
  'kafka.sasl',
];

/**
 * Structured logs go to stderr (stdout is for command output). Data goes in fields; never log
 * record contents, credentials or key material: pass ids and counts. Fields named like secrets
 * (REDACT_PATHS) are replaced with `[redacted]` in case one slips through.
 *
 * @example logger.info({ batch: id, inserted: 42 }, 'batch written')
 */
export function createLogger(level: string = process.env.KEYWATCH_LOG_LEVEL ?? 'warn', destination: pino.DestinationStream = pino.destination({ dest: 2, sync: true })) {
  return pino({ level, base: undefined, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

export type Logger = ReturnType<typeof createLogger>;
