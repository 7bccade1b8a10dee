import { KeywatchError, type ErrorCode } from '../core/errors.ts';

/**
 * A storage failure. Keeps ClickHouse's numeric error code (`clickhouseCode`, e.g. 62 for a syntax
 * error, 76 for a locked data directory, 194/516 for authentication) so that retry rules can tell
 * bad data (never retried) from a lost connection (retried).
 */
export class StoreError extends KeywatchError {
  readonly clickhouseCode: number | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; clickhouseCode?: number }) {
    super(code, message, options);
    this.name = 'StoreError';
    this.clickhouseCode = options?.clickhouseCode;
  }
}

/**
 * The sink's retry rule: a lost connection or a timeout may pass; anything else (bad data, a
 * query ClickHouse rejects, wrong credentials) will fail the same way again.
 */
export function isRetryable(e: unknown): boolean {
  if (!(e instanceof StoreError)) return false;
  if (e.code === 'STORE_UNAVAILABLE' || e.code === 'STORE_TIMEOUT') return true;
  return false;
}

/** First line of a ClickHouse exception, without the stack trace it often carries. */
export function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  return line.replace(/\s*Stack trace.*$/s, '').trim();
}
