import type { Config } from '../core/config.ts';
import type { Store } from './store.ts';
import { openEmbeddedStore } from './chdb/embedded-store.ts';
import { openServerStore } from './clickhouse/server-store.ts';
import { migrate } from './migrate.ts';
import { applyRetention } from './retention.ts';

/**
 * Opens the store the configuration names (a server when `clickhouse.url` is set, else the
 * embedded store in `dataDir`), applies pending migrations and the retention settings.
 */
export async function openStore(config: Config, opts: { migrate?: boolean } = {}): Promise<Store> {
  const ch = config.clickhouse;
  const store = ch.url
    ? await openServerStore({ url: ch.url, username: ch.username, password: ch.password, database: ch.database, requestTimeoutMs: ch.requestTimeoutMs })
    : await openEmbeddedStore({ dataDir: config.dataDir, database: ch.database });
  if (opts.migrate !== false) {
    try {
      const cluster = ch.cluster ? { cluster: ch.cluster, database: ch.database } : undefined;
      await migrate(store, cluster ? { cluster } : {});
      await applyRetention(store, config.retention, cluster);
      await dropLeftoverStages(store);
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}

/** Stage tables of a run that was killed mid-batch; their batches never reached the ledger. */
async function dropLeftoverStages(store: Store): Promise<void> {
  if (store.backend !== 'embedded') return; // on a server, another process may be using them
  const rows = await store.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() AND (name LIKE 'kw\\_cls\\_%' OR name LIKE 'kw\\_new\\_%' OR name LIKE 'kw\\_input\\_%')`);
  // Only names the sink generates (a prefix and hex): the name is written into the statement.
  for (const r of rows) if (/^kw_(cls|new|input)_[0-9a-f]+$/.test(r.name)) await store.exec(`DROP TABLE IF EXISTS ${r.name}`);
}
