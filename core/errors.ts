/**
 * Coded errors. `code` is stable and documented (README, "Exit codes and errors");
 * `message` is one line a person can act on; `cause` keeps the original for --verbose.
 *
 * @example throw new KeywatchError('STORE_LOCKED', 'the embedded store is in use by another process')
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'SLO_SPEC_INVALID'
  | 'USAGE'
  | 'INPUT_NOT_FOUND'
  | 'INPUT_UNREADABLE'
  | 'FORMAT_UNKNOWN'
  | 'TRANSPORT_UNAVAILABLE'
  | 'STORE_LOCKED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_AUTH_FAILED'
  | 'STORE_TIMEOUT'
  | 'STORE_UNSUPPORTED_VERSION'
  | 'STORE_BAD_DATA'
  | 'STORE_QUERY_FAILED'
  | 'READ_ONLY_VIOLATION'
  | 'MIGRATION_FAILED'
  | 'CHAIN_BROKEN';

export class KeywatchError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'KeywatchError';
  }
}

export function isKeywatchError(e: unknown): e is KeywatchError {
  return e instanceof KeywatchError;
}
