import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import type { QueryParams, RawInsertFormat, StagedInput, Store, StoreInfo, TextFormat } from '../store.ts';
import { StoreError, firstLine } from '../store-error.ts';

/** chdb error objects carry the ClickHouse code as `clickhouseCode`; older builds only in the text. */
function chCode(e: unknown): number | undefined {
  if (e && typeof e === 'object' && 'clickhouseCode' in e && typeof e.clickhouseCode === 'number') return e.clickhouseCode;
  const m = /Code: (\d+)/.exec(String((e as Error)?.message ?? e));
  return m ? Number(m[1]) : undefined;
}

function lockedError(dataDir: string, cause: unknown, pid?: number): StoreError {
  return new StoreError(
    'STORE_LOCKED',
    `the embedded store ${dataDir} is in use by another keywatch process${pid ? ` (pid ${pid})` : ''}; wait for it to finish, give this run its own --data-dir, or point both at a ClickHouse server with --clickhouse-url`,
    { cause, clickhouseCode: 76 },
  );
}

function wrap(e: unknown, sql: string): StoreError {
  if (e instanceof StoreError) return e;
  // ClickHouse appends the whole analysed query ("In scope SELECT ..."), which can run to pages.
  let message = firstLine(String((e as Error)?.message ?? e)).replace(/^Query failed: /, '').replace(/:? In scope .*$/s, '');
  if (message.length > 400) message = `${message.slice(0, 400)}...`;
  const code = chCode(e);
  const what = sql.trim().split(/\s+/).slice(0, 3).join(' ');
  return new StoreError('STORE_QUERY_FAILED', `${what}...: ${message}`, { cause: e, ...(code === undefined ? {} : { clickhouseCode: code }) });
}

function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as T);
  return rows;
}

/**
 * keywatch's own lock beside chdb's: chdb reports a held directory only by printing to stderr and
 * failing with a generic message, so a second keywatch process checks this pid file first and
 * gets a clear error before touching the engine. A lock left by a dead process is taken over.
 */
function acquireLock(dataDir: string): () => void {
  const file = join(dataDir, 'keywatch.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      const release = () => rmSync(file, { force: true });
      process.once('exit', release);
      return () => {
        process.removeListener('exit', release);
        release();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      let alive = false;
      if (Number.isInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch (k) {
          alive = (k as NodeJS.ErrnoException).code === 'EPERM';
        }
      }
      if (alive && pid !== process.pid) throw lockedError(dataDir, e, pid);
      if (alive) throw new StoreError('STORE_LOCKED', `this process already holds the embedded store ${dataDir}; close it before opening it again`);
      rmSync(file, { force: true });
    }
  }
  throw lockedError(dataDir, undefined);
}

/** insertRows payloads from this size on are staged through a file. */
const STAGE_INSERT_BYTES = 1024 * 1024;

/**
 * Session settings that bound the engine's memory. The embedded engine shares the keywatch process
 * (and the machine) with everything else, and ClickHouse's defaults assume a server that owns the
 * host: a large GROUP BY, sort or join holds everything in RAM (the detectors' month-long scans of
 * tens of millions of events reached 10 GB). Above these sizes the engine spills to temporary files
 * in the data directory instead; smaller queries are unaffected.
 */
const SESSION_SETTINGS: Record<string, number | string> = {
  max_bytes_before_external_group_by: 128 * 1024 * 1024,
  max_bytes_before_external_sort: 256 * 1024 * 1024,
  // The engine answers count() over a time range from its implicit min/max/count projection with
  // whole-part counts: on the bench store, a range cutting through parts counted 20,406,689 events
  // instead of 20,000,000. keywatch reports counts as evidence, so that shortcut is off.
  optimize_use_implicit_projections: 0,
};

export interface EmbeddedStoreOptions {
  dataDir: string;
  database?: string;
}

/**
 * Opens (creating if needed) the embedded ClickHouse store in `dataDir`. Only one process can hold
 * a data directory; a second one gets STORE_LOCKED.
 *
 * @example const store = await openEmbeddedStore({ dataDir: './keywatch-data' });
 */
export async function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<Store> {
  const dataDir = resolve(opts.dataDir);
  const database = opts.database ?? 'keywatch';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) {
    throw new StoreError('CONFIG_INVALID', `database name "${database}" must be a plain identifier`);
  }
  mkdirSync(dataDir, { recursive: true });
  const release = acquireLock(dataDir);
  // Batch files a killed run left behind; holding the lock, no other process can be using them.
  rmSync(join(dataDir, 'keywatch-staging'), { recursive: true, force: true });
  let session: Session;
  try {
    // 64-bit integers come back as JSON strings, as they do from a server, so no precision is lost.
    session = new Session(dataDir, { connectionArgs: ['--output_format_json_quote_64bit_integers=1'] });
  } catch (e) {
    const text = String((e as Error)?.message ?? e);
    if (chCode(e) === 76 || /Cannot lock file/i.test(text)) throw lockedError(dataDir, e);
    release();
    if (/Failed to create connection/i.test(text)) throw lockedError(dataDir, e);
    if (/only one active data directory/i.test(text)) {
      throw new StoreError('STORE_LOCKED', `this process already holds another embedded store; close it before opening ${dataDir}`, { cause: e });
    }
    throw new StoreError('STORE_UNAVAILABLE', `cannot open the embedded store ${dataDir}: ${firstLine(text)}`, { cause: e });
  }
  try {
    // The lock can also surface on the first query rather than in the constructor.
    session.query(`CREATE DATABASE IF NOT EXISTS ${database}`, 'TSV');
    session.query(`USE ${database}`, 'TSV');
    for (const [name, value] of Object.entries(SESSION_SETTINGS)) session.query(`SET ${name} = ${value}`, 'TSV');
  } catch (e) {
    session.close();
    release();
    if (chCode(e) === 76 || /Cannot lock file/i.test(String((e as Error)?.message))) throw lockedError(dataDir, e);
    throw wrap(e, 'open');
  }
  return new EmbeddedStore(session, dataDir, database, release);
}

class EmbeddedStore implements Store {
  readonly backend = 'embedded' as const;
  private closed = false;
  constructor(
    private readonly session: Session,
    private readonly dataDir: string,
    readonly database: string,
    private readonly release: () => void,
  ) {}

  private async run(sql: string, format: string, params?: QueryParams): Promise<string> {
    if (this.closed) throw new StoreError('STORE_UNAVAILABLE', 'the embedded store is closed');
    try {
      const r =
        params && Object.keys(params).length > 0
          ? await this.session.queryBindAsync(sql, params, { format })
          : await this.session.queryAsync(sql, { format });
      return r.text();
    } catch (e) {
      throw wrap(e, sql);
    }
  }

  async exec(sql: string, params?: QueryParams): Promise<void> {
    await this.run(sql, 'TSV', params);
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    return parseJsonEachRow<T>(await this.run(sql, 'JSONEachRow', params));
  }

  async queryText(sql: string, format: TextFormat, params?: QueryParams): Promise<string> {
    return this.run(sql, format, params);
  }

  async insertRaw(table: string, format: RawInsertFormat, payload: Buffer, columns?: readonly string[]): Promise<void> {
    if (payload.length === 0) return;
    try {
      await this.session.insert({
        table,
        values: payload,
        format,
        ...(columns ? { columns } : {}),
        settings: { input_format_parallel_parsing: 0 },
      });
    } catch (e) {
      throw wrap(e, `INSERT INTO ${table}`);
    }
  }

  async withInput<T>(o: StagedInput, fn: (relation: string) => Promise<T>): Promise<T> {
    // The addon's raw insert parses about 2.5x slower than the engine reading a file, so the
    // payload goes through a private file inside the data directory, read once into a Memory
    // table that the statements then share.
    const dir = join(this.dataDir, 'keywatch-staging');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const id = randomUUID().replace(/-/g, '');
    const file = join(dir, `batch-${process.pid}-${id}.${o.format.toLowerCase()}`);
    const table = `kw_input_${id}`;
    writeFileSync(file, o.payload, { mode: 0o600 });
    try {
      const source = `file(${sqlString(file)}, '${o.format === 'TSV' ? 'TabSeparated' : o.format}', ${sqlString(o.structure)})`;
      await this.exec(`CREATE TABLE ${table} ENGINE = Memory AS SELECT * FROM ${source}`);
    } finally {
      rmSync(file, { force: true });
    }
    try {
      return await fn(table);
    } finally {
      await this.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  async insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    const payload = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    if (payload.length < STAGE_INSERT_BYTES) {
      await this.insertRaw(table, 'JSONEachRow', payload);
      return;
    }
    // Large inserts (an SLO evaluation's status rows) go through a private file that the engine
    // reads itself, about twice as fast as the addon's insert; the table gives the structure.
    const dir = join(this.dataDir, 'keywatch-staging');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `rows-${process.pid}-${randomUUID().replace(/-/g, '')}.jsonl`);
    writeFileSync(file, payload, { mode: 0o600 });
    try {
      await this.exec(`INSERT INTO ${table} SELECT * FROM file(${sqlString(file)}, 'JSONEachRow') SETTINGS use_structure_from_insertion_table_in_table_functions = 1`);
    } finally {
      rmSync(file, { force: true });
    }
  }

  async info(): Promise<StoreInfo> {
    const [row] = await this.query<{ v: string }>('SELECT version() AS v');
    return { backend: 'embedded', location: this.dataDir, database: this.database, serverVersion: row?.v ?? 'unknown' };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
    this.release();
  }
}

/** A ClickHouse string literal. The staging path contains the data directory, which the operator chooses. */
function sqlString(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}
