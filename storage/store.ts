/**
 * The one storage interface every feature uses. Two backends implement it: the embedded store
 * (chdb, `storage/chdb/`) and a ClickHouse server (`storage/clickhouse/`). Both speak ClickHouse
 * SQL; query parameters use ClickHouse's `{name:Type}` syntax and are bound server-side, never
 * spliced into the SQL text.
 *
 * @example
 *   const rows = await store.query<{ n: string }>('SELECT count() AS n FROM key_events WHERE tenant = {t:String}', { t: 'acme' });
 */
export type QueryParams = Record<string, unknown>;

/** Text formats a caller may ask `queryText` for. */
export type TextFormat = 'JSONEachRow' | 'JSON' | 'CSVWithNames' | 'TSVWithNames' | 'PrettyCompactMonoBlock' | 'TSV';

/** Formats accepted by `insertRaw` (line-delimited; the payload is passed through untouched). */
export type RawInsertFormat = 'TSV' | 'JSONEachRow';

export interface StagedInput {
  /** Column list of the payload, e.g. `seq UInt32, record String`. */
  structure: string;
  format: RawInsertFormat | 'RowBinary';
  payload: Buffer;
}

export interface StoreInfo {
  backend: 'embedded' | 'server';
  /** Where the data lives: a directory for the embedded store, a URL (without credentials) for a server. */
  location: string;
  database: string;
  serverVersion: string;
}

export interface Store {
  readonly backend: 'embedded' | 'server';
  /** Database that unqualified table names resolve to. */
  readonly database: string;
  /** Run a statement that returns no rows (DDL, INSERT ... SELECT, ALTER). */
  exec(sql: string, params?: QueryParams): Promise<void>;
  /** Run a query and return its rows as objects (64-bit integers arrive as strings). */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]>;
  /** Run a query and return the engine's own text rendering in `format`. */
  queryText(sql: string, format: TextFormat, params?: QueryParams): Promise<string>;
  /** Insert a payload that is already in `format` (for example TSV rows built by the pipeline). */
  insertRaw(table: string, format: RawInsertFormat, payload: Buffer, columns?: readonly string[]): Promise<void>;
  /**
   * Makes the payload rows available to several statements: `fn` gets a relation (a table
   * function or a temporary table) to use in FROM clauses, and the rows are gone when `fn`
   * settles. The embedded store reads a private temporary file; a server gets a Memory table.
   */
  withInput<T>(input: StagedInput, fn: (relation: string) => Promise<T>): Promise<T>;
  /** Insert a few rows given as objects. For bulk data use `insertRaw`. */
  insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;
  info(): Promise<StoreInfo>;
  close(): Promise<void>;
}

/** Minimum ClickHouse version the schema needs: DateTime64, Map, LowCardinality, TTL, and projections on ReplacingMergeTree with deduplicate_merge_projection_mode / lightweight_mutation_projection_mode (24.8 LTS). */
export const MIN_CLICKHOUSE_VERSION = '24.8';

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
