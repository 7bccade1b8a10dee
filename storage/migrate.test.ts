import { readFileSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from './chdb/embedded-store.ts';
import { MIGRATIONS_DIR, loadMigrations, migrate, migrationDdl } from './migrate.ts';
import { toClusterStatements } from './cluster-ddl.ts';
import { applyRetention } from './retention.ts';
import type { Store } from './store.ts';
import { StoreError } from './store-error.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';

const dir = tempDir();
let store: Store;
beforeAll(async () => {
  store = await openEmbeddedStore({ dataDir: dir.path });
});
afterAll(async () => {
  await store.close();
  dir.remove();
});

describe('migrations', () => {
  it('refuses to run when an applied migration file was edited afterwards', async () => {
    const edited = join(dir.path, 'edited-migrations');
    mkdirSync(edited);
    for (const m of loadMigrations()) copyFileSync(join(MIGRATIONS_DIR, `${String(m.version).padStart(4, '0')}_${m.name}.sql`), join(edited, `${String(m.version).padStart(4, '0')}_${m.name}.sql`));
    await migrate(store, { dir: edited });
    const [first] = loadMigrations(edited);
    writeFileSync(join(edited, `0001_${first?.name}.sql`), readFileSync(join(edited, `0001_${first?.name}.sql`), 'utf8') + '\n-- edited\n');
    const e = await migrate(store, { dir: edited }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StoreError);
    expect((e as StoreError).code).toBe('MIGRATION_FAILED');
    expect((e as StoreError).message).toMatch(/changed after it was applied/);
  });

  it('sets, changes and removes TTL retention only when the configuration differs', async () => {
    expect(await applyRetention(store, { keyEventsDays: 0, rawEventsDays: 0, quarantineDays: 0 })).toEqual([]);
    expect(await applyRetention(store, { keyEventsDays: 400, rawEventsDays: 90, quarantineDays: 0 })).toEqual(['key_events', 'raw_events']);
    const [row] = await store.query<{ q: string }>("SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = 'key_events'");
    expect(row?.q).toMatch(/TTL toDateTime\(event_time\) \+ toIntervalDay\(400\)/);
    expect(await applyRetention(store, { keyEventsDays: 400, rawEventsDays: 90, quarantineDays: 0 })).toEqual([]);
    expect(await applyRetention(store, { keyEventsDays: 0, rawEventsDays: 90, quarantineDays: 0 })).toEqual(['key_events']);
  });
});

describe('cluster DDL', () => {
  it('emits the same Replicated and Distributed DDL as the reviewed golden file', () => {
    expect(migrationDdl({ cluster: 'prod', database: 'keywatch' })).toBe(readFileSync(new URL('./cluster-ddl.golden.sql', import.meta.url), 'utf8'));
  });

  it('shards key events by key so that one key\'s events and their duplicates meet on one shard', () => {
    const [local, dist] = toClusterStatements('-- shard-key: cityHash64(key_id)\nCREATE TABLE IF NOT EXISTS key_events\n(x UInt8)\nENGINE = ReplacingMergeTree(ingest_time)\nORDER BY x', { cluster: 'c1', database: 'kw' });
    expect(local).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/kw/key_events_local', '{replica}', ingest_time)");
    expect(local).toContain("CREATE TABLE IF NOT EXISTS kw.key_events_local ON CLUSTER 'c1'");
    expect(dist).toBe("CREATE TABLE IF NOT EXISTS kw.key_events ON CLUSTER 'c1'\nAS kw.key_events_local\nENGINE = Distributed('c1', 'kw', 'key_events_local', cityHash64(key_id))");
  });
});

describe('cluster DDL names', () => {
  it('refuses cluster, database and Keeper path values that would need quoting in the DDL text', () => {
    const stmt = 'CREATE TABLE IF NOT EXISTS t\n(x UInt8)\nENGINE = MergeTree\nORDER BY x';
    expect(() => toClusterStatements(stmt, { cluster: "c1' --", database: 'kw' })).toThrow(/cluster name/);
    expect(() => toClusterStatements(stmt, { cluster: 'c1', database: 'kw; DROP' })).toThrow(/plain identifier/);
    expect(() => toClusterStatements(stmt, { cluster: 'c1', database: 'kw', zooPath: "/x', 'y" })).toThrow(/Keeper path/);
    expect(toClusterStatements(stmt, { cluster: 'prod-eu.1', database: 'kw' })[0]).toContain("ON CLUSTER 'prod-eu.1'");
  });
});
