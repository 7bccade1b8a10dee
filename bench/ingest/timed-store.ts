import type { QueryParams, Store } from '../../storage/store.ts';

/**
 * Where the sink's time goes: wraps a Store and adds each call's wall time to a stage named after
 * the statement. Stages overlap the pipeline's own work (the next batch is framed while one is
 * written), so their sum is store time, not a share of the run.
 */
export type StageSeconds = Record<string, number>;

function stageOf(sql: string): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  if (/^CREATE TABLE kw_stage_/.test(s)) return 'normalize';
  if (/GROUP BY status, reason/.test(s)) return 'normalizeCounts';
  if (/^SELECT uniqExact\(event_id\)/.test(s)) return 'dedupLookup';
  if (/^INSERT INTO key_events/.test(s)) return 'keyEventsInsert';
  if (/^INSERT INTO quarantine/.test(s)) return 'quarantineInsert';
  if (/^DROP TABLE IF EXISTS kw_stage_/.test(s)) return 'dropStage';
  if (/FROM raw_events WHERE batch_id/.test(s)) return 'contentHash';
  return 'other';
}

export function timedStore(inner: Store): { store: Store; stages: StageSeconds } {
  const stages: StageSeconds = {};
  const timed = async <T>(stage: string, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      stages[stage] = (stages[stage] ?? 0) + (performance.now() - t0) / 1000;
    }
  };
  const store: Store = {
    backend: inner.backend,
    database: inner.database,
    exec: (sql, params) => timed(stageOf(sql), () => inner.exec(sql, params)),
    query: <T,>(sql: string, params?: QueryParams) => timed(stageOf(sql), () => inner.query<T>(sql, params)),
    queryText: (sql, format, params) => timed(stageOf(sql), () => inner.queryText(sql, format, params)),
    insertRaw: (table, format, payload, columns) => timed(`insertRaw:${table}`, () => inner.insertRaw(table, format, payload, columns)),
    insertSelect: (o) => timed(`insertSelect:${o.target.split(/[\s(]/)[0] ?? ''}`, () => inner.insertSelect(o)),
    insertRows: (table, rows) => timed(`insertRows:${table}`, () => inner.insertRows(table, rows)),
    info: () => inner.info(),
    close: () => inner.close(),
  };
  return { store, stages };
}
