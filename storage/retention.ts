import type { Store } from './store.ts';
import { toClusterStatements, type ClusterOptions } from './cluster-ddl.ts';

export interface Retention {
  keyEventsDays: number;
  rawEventsDays: number;
  quarantineDays: number;
}

const TABLES: { table: string; column: string; key: keyof Retention }[] = [
  { table: 'key_events', column: 'event_time', key: 'keyEventsDays' },
  { table: 'raw_events', column: 'received_time', key: 'rawEventsDays' },
  { table: 'quarantine', column: 'quarantine_time', key: 'quarantineDays' },
];

/**
 * Brings each table's TTL in line with the configuration (0 days = keep forever). Only tables
 * whose TTL differs are altered: MODIFY TTL rewrites data, so it must not run on every start.
 */
export async function applyRetention(store: Store, retention: Retention, cluster?: ClusterOptions): Promise<string[]> {
  const changed: string[] = [];
  // On a cluster the TTL lives on the replicated <table>_local tables, altered ON CLUSTER.
  const run = async (sql: string) => {
    for (const s of cluster ? toClusterStatements(sql, cluster) : [sql]) await store.exec(s);
  };
  for (const t of TABLES) {
    const [row] = await store.query<{ q: string }>(
      'SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = {t:String}',
      { t: cluster ? `${t.table}_local` : t.table },
    );
    const current = /\bTTL\s+(.*?)(?:\s+SETTINGS\b|$)/s.exec(row?.q ?? '')?.[1]?.trim() ?? '';
    const days = retention[t.key];
    const currentDays = /toIntervalDay\((\d+)\)/.exec(current)?.[1];
    if (days === 0 && current === '') continue;
    if (days > 0 && currentDays === String(days)) continue;
    if (days === 0) await run(`ALTER TABLE ${t.table} REMOVE TTL`);
    else await run(`ALTER TABLE ${t.table} MODIFY TTL toDateTime(${t.column}) + toIntervalDay(${days})`);
    changed.push(t.table);
  }
  return changed;
}
