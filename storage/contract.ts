import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from './store.ts';
import { MIN_CLICKHOUSE_VERSION, compareVersions } from './store.ts';
import { StoreError } from './store-error.ts';
import { listApplied, loadMigrations, migrate } from './migrate.ts';
import { KEY_EVENT_COLUMNS } from '../core/key-event.ts';

/**
 * The behaviour every Store backend must have. Registered by a test file per backend:
 * `storeContract('embedded', () => openEmbeddedStore(...))`. `open` must give a store on an empty
 * database.
 */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('reports its backend and a ClickHouse version at or above the supported minimum', async () => {
      const info = await store.info();
      expect(['embedded', 'server']).toContain(info.backend);
      expect(info.database).toBe(store.database);
      expect(compareVersions(info.serverVersion, MIN_CLICKHOUSE_VERSION)).toBeGreaterThanOrEqual(0);
    });

    it('applies the migrations once, records them, and applies nothing on a second run', async () => {
      const first = await migrate(store);
      expect(first.applied.map((m) => m.version)).toEqual(loadMigrations().map((m) => m.version));
      const second = await migrate(store);
      expect(second.applied).toEqual([]);
      const applied = await listApplied(store);
      expect(applied.map((m) => m.checksum)).toEqual(loadMigrations().map((m) => m.checksum));
    });

    it('has a key_events table whose columns are exactly the KeyEvent model, in order', async () => {
      const cols = await store.query<{ name: string }>(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'key_events' ORDER BY position",
      );
      expect(cols.map((c) => c.name)).toEqual(KEY_EVENT_COLUMNS);
    });

    it('round-trips rows with quotes, backslashes, unicode, 64-bit integers, times and maps', async () => {
      await store.exec(
        "CREATE TABLE contract_rows (id UInt64, s String, t DateTime64(3, 'UTC'), m Map(String, String)) ENGINE = MergeTree ORDER BY id",
      );
      const rows = [
        { id: '18446744073709551615', s: `it's a "quote" \\ back\tslash\nnew line ü 鍵`, t: '2026-03-02 08:14:52.123', m: { 'ec.tenant': 'acme', empty: '' } },
        { id: '1', s: '', t: '1970-01-01 00:00:00.000', m: {} },
      ];
      await store.insertRows('contract_rows', rows);
      const back = await store.query('SELECT id, s, toString(t) AS t, m FROM contract_rows ORDER BY id DESC');
      expect(back).toEqual(rows);
    });

    it('inserts a large batch of rows (several MB) whole, leaving omitted columns at their defaults', async () => {
      await store.exec("CREATE TABLE contract_bulk (id UInt64, s String, n Nullable(Float64), m Map(String, Nullable(Float64))) ENGINE = MergeTree ORDER BY id");
      const rows = Array.from({ length: 40_000 }, (_, i) => ({ id: i, s: `row ${i} it's "quoted" \\ ${'x'.repeat(i % 100)}`, ...(i % 3 === 0 ? {} : { n: i / 7 }), m: { a: i % 5 === 0 ? null : i } }));
      await store.insertRows('contract_bulk', rows);
      const [sum] = await store.query<{ c: string; nulls: string; s: string; mnulls: string }>(
        "SELECT count() AS c, countIf(n IS NULL) AS nulls, sum(length(s)) AS s, countIf(m['a'] IS NULL) AS mnulls FROM contract_bulk",
      );
      expect(sum).toEqual({ c: '40000', nulls: String(Math.ceil(40_000 / 3)), s: String(rows.reduce((a, r) => a + Buffer.byteLength(r.s), 0)), mnulls: '8000' });
      const [one] = await store.query('SELECT id, s, n FROM contract_bulk WHERE id = 39998');
      expect(one).toEqual({ id: '39998', s: rows[39998]?.s, n: 39998 / 7 });
    });

    it('answers count() over a time range by reading rows, not from the implicit min/max/count projection', async () => {
      // ClickHouse 26.7 over-counted a range cutting through parts from that projection (20,406,689
      // events instead of 20,000,000 on bench/out/detect-store-20000000); the stores turn it off.
      const [row] = await store.query<{ value: string }>("SELECT value FROM system.settings WHERE name = 'optimize_use_implicit_projections'");
      expect(row?.value).toBe('0');
    });

    it('binds query parameters server-side so that a value cannot change the statement', async () => {
      const evil = "x' OR 1=1 --";
      const rows = await store.query<{ n: string }>('SELECT count() AS n FROM contract_rows WHERE s = {s:String}', { s: evil });
      expect(rows).toEqual([{ n: '0' }]);
      const one = await store.query<{ id: string }>('SELECT id FROM contract_rows WHERE id = {id:UInt64}', { id: '1' });
      expect(one).toEqual([{ id: '1' }]);
    });

    it('inserts a TSV or JSONEachRow payload as it is', async () => {
      await store.insertRaw('contract_rows', 'TSV', Buffer.from("7\ttab\\there\t2026-01-01 00:00:00.000\t{'k':'v'}\n"));
      await store.insertRaw('contract_rows', 'JSONEachRow', Buffer.from('{"id":8,"s":"json","t":"2026-01-02 00:00:00.000","m":{"a":"b"}}\n'));
      const got = await store.query('SELECT id, s, m FROM contract_rows WHERE id IN (7, 8) ORDER BY id');
      expect(got).toEqual([
        { id: '7', s: 'tab\there', m: { k: 'v' } },
        { id: '8', s: 'json', m: { a: 'b' } },
      ]);
    });

    it('stages a RowBinary payload that several statements can read, with parameters, and then drops it', async () => {
      await store.exec('CREATE TABLE contract_loaded (tag String, seq UInt32, upper String) ENGINE = MergeTree ORDER BY seq');
      // RowBinary rows (seq UInt32, v String): little-endian seq, varint length, bytes.
      const row = (seq: number, v: string) => {
        const b = Buffer.from(v);
        const head = Buffer.alloc(5);
        head.writeUInt32LE(seq, 0);
        head[4] = b.length;
        return Buffer.concat([head, b]);
      };
      let relation = '';
      const n = await store.withInput(
        { structure: 'seq UInt32, v String', format: 'RowBinary', payload: Buffer.concat([row(0, 'alpha'), row(1, 'beta\ttab')]) },
        async (rel) => {
          relation = rel;
          await store.exec(`INSERT INTO contract_loaded SELECT {tag:String}, seq, upper(v) FROM ${rel}`, { tag: 'batch-1' });
          return store.query<{ n: string }>(`SELECT count() AS n FROM ${rel} WHERE seq = 1`);
        },
      );
      expect(n).toEqual([{ n: '1' }]);
      expect(await store.query('SELECT tag, seq, upper FROM contract_loaded ORDER BY seq')).toEqual([
        { tag: 'batch-1', seq: 0, upper: 'ALPHA' },
        { tag: 'batch-1', seq: 1, upper: 'BETA\tTAB' },
      ]);
      const left = await store.query<{ n: string }>('SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = {t:String}', { t: relation });
      expect(left).toEqual([{ n: '0' }]);
    });

    it('renders query results in the requested text format', async () => {
      const csv = await store.queryText("SELECT 1 AS a, 'x,y' AS b", 'CSVWithNames');
      expect(csv).toBe('"a","b"\n1,"x,y"\n');
      const tsv = await store.queryText('SELECT 2 AS a', 'TSVWithNames');
      expect(tsv).toBe('a\n2\n');
    });

    it('turns a syntax error into a StoreError that keeps the ClickHouse code', async () => {
      const e = await store.query('SELEC 1').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StoreError);
      expect((e as StoreError).code).toBe('STORE_QUERY_FAILED');
      expect((e as StoreError).clickhouseCode).toBe(62);
      expect((e as StoreError).message).not.toContain('\n');
    });

    it('reports a missing table with its ClickHouse code', async () => {
      const e = await store.query('SELECT * FROM no_such_table_here').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StoreError);
      expect((e as StoreError).clickhouseCode).toBe(60);
    });
  });
}
