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

/** ClickHouse error codes that mean the data or the query is wrong: retrying cannot help. */
const BAD_DATA_CODES = new Set([6, 26, 27, 38, 41, 53, 62, 69, 70, 72, 117, 130, 131, 158, 164]);

export function isRetryable(e: unknown): boolean {
  if (!(e instanceof StoreError)) return false;
  if (e.code === 'STORE_UNAVAILABLE' || e.code === 'STORE_TIMEOUT') return true;
  return false;
}

export function isBadData(e: unknown): boolean {
  return e instanceof StoreError && e.clickhouseCode !== undefined && BAD_DATA_CODES.has(e.clickhouseCode);
}

/** First line of a ClickHouse exception, without the stack trace it often carries. */
export function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  return line.replace(/\s*Stack trace.*$/s, '').trim();
}
