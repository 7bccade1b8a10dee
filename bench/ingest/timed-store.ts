import type { Store } from '../../storage/store.ts';

/**
 * Where the sink's time goes: wraps a Store and adds each call's wall time to a stage named after
 * what it runs (`insert key_events`, `create kw_stage_*`, ...). Every method is wrapped, whatever
 * the interface holds, so the bench keeps working while the sink changes.
 *
 * Stages overlap the pipeline's own work (the next batch is framed while one is written), so their
 * sum is store time, not a share of the run. A method that runs statements inside a callback (such
 * as staging a batch as an input relation) is counted with those statements included.
 */
export type StageSeconds = Record<string, number>;

function stageOf(method: string, args: readonly unknown[]): string {
  const first = args[0];
  if (typeof first !== 'string') return method;
  if (method !== 'exec' && method !== 'query' && method !== 'queryText') return `${method} ${first}`;
  // Per-batch tables (kw_stage_<uuid hex>) count as one stage.
  const sql = first.replace(/\s+/g, ' ').replace(/_[0-9a-f]{32}\b/g, '_*').trim();
  let m: RegExpExecArray | null;
  if ((m = /^INSERT INTO (\w+)/i.exec(sql))) return `insert ${m[1]}`;
  if ((m = /^CREATE TABLE (?:IF NOT EXISTS )?([\w*]+)/i.exec(sql))) return `create ${m[1]}`;
  if (/^DROP /i.test(sql)) return 'drop';
  if (/GROUP BY status, reason/.test(sql)) return 'select status counts';
  if (/FROM raw_events WHERE batch_id/.test(sql)) return 'select content hash';
  if ((m = /\bFROM ([\w*]+)/i.exec(sql))) return `select from ${m[1]}`;
  return 'other';
}

export function timedStore(inner: Store): { store: Store; stages: StageSeconds } {
  const stages: StageSeconds = {};
  const store = new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return async (...args: unknown[]) => {
        const stage = stageOf(prop, args);
        const t0 = performance.now();
        try {
          return await (value as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          stages[stage] = (stages[stage] ?? 0) + (performance.now() - t0) / 1000;
        }
      };
    },
  });
  return { store, stages };
}
