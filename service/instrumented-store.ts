import type { QueryParams, RawInsertFormat, StagedInput, Store, StoreInfo, TextFormat } from '../storage/store.ts';

/**
 * A Store that reports the latency of every call (for keywatch_store_operation_seconds) and the
 * writes in flight (`onWrite`), and otherwise passes through. `withInput` is timed for the staging only, not for `fn`.
 *
 * @example const timed = instrumentStore(store, (op, s, ok) => metrics.observeStore(op, s, ok));
 */
export function instrumentStore(inner: Store, observe: (operation: string, seconds: number, ok: boolean) => void, o: { onWrite?: (delta: 1 | -1) => void } = {}): Store {
  const writing = async <T>(fn: () => Promise<T>): Promise<T> => {
    o.onWrite?.(1);
    try {
      return await fn();
    } finally {
      o.onWrite?.(-1);
    }
  };
  const timed = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      const v = await fn();
      observe(operation, (performance.now() - t0) / 1000, true);
      return v;
    } catch (e) {
      observe(operation, (performance.now() - t0) / 1000, false);
      throw e;
    }
  };
  return {
    backend: inner.backend,
    database: inner.database,
    exec: (sql: string, params?: QueryParams) => writing(() => timed('exec', () => inner.exec(sql, params))),
    query: <T = Record<string, unknown>>(sql: string, params?: QueryParams) => timed('query', () => inner.query<T>(sql, params)),
    queryText: (sql: string, format: TextFormat, params?: QueryParams) => timed('query', () => inner.queryText(sql, format, params)),
    insertRaw: (table: string, format: RawInsertFormat, payload: Buffer, columns?: readonly string[]) => writing(() => timed('insert', () => inner.insertRaw(table, format, payload, columns))),
    insertRows: (table: string, rows: readonly Record<string, unknown>[]) => writing(() => timed('insert', () => inner.insertRows(table, rows))),
    withInput: <T>(input: StagedInput, fn: (relation: string) => Promise<T>) => {
      const t0 = performance.now();
      let staged = false;
      // Staged input is part of a write (an ingest batch) from staging to the last statement.
      return writing(() => inner
        .withInput(input, (relation) => {
          staged = true;
          observe('stage', (performance.now() - t0) / 1000, true);
          return fn(relation);
        })
        .catch((e: unknown) => {
          if (!staged) observe('stage', (performance.now() - t0) / 1000, false);
          throw e;
        }));
    },
    info: (): Promise<StoreInfo> => inner.info(),
    close: () => inner.close(),
  };
}
