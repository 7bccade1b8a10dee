import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ClickHouseError, ClickHouseLogLevel, createClient, drainStream, type ClickHouseClient } from '@clickhouse/client';
import { MIN_CLICKHOUSE_VERSION, compareVersions } from '../store.ts';
import type { StagedInput, QueryParams, RawInsertFormat, Store, StoreInfo, TextFormat } from '../store.ts';
import { StoreError, firstLine } from '../store-error.ts';

export interface ServerStoreOptions {
  /** http(s)://[user[:password]@]host:port — credentials in the URL are used unless `username`/`password` are given. */
  url: string;
  username?: string;
  password?: string;
  /** Default 'keywatch'; created on open unless `allowUnsupportedVersion` is set. */
  database?: string;
  /** Default 30000. */
  requestTimeoutMs?: number;
  /** Skip the version gate and the CREATE DATABASE (transport tests against an old server only). */
  allowUnsupportedVersion?: boolean;
}

interface Target {
  /** URL without credentials or query string: safe to print. */
  location: string;
  username: string;
}

// 192 UNKNOWN_USER, 193 WRONG_PASSWORD, 194 REQUIRED_PASSWORD (18.x-era codes); 516 AUTHENTICATION_FAILED.
const AUTH_CODES = new Set([192, 193, 194, 516]);
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
};

/**
 * Opens a Store on a ClickHouse server over HTTP. Refuses servers older than MIN_CLICKHOUSE_VERSION.
 *
 * @example
 *   const store = await openServerStore({ url: 'http://default:pw@127.0.0.1:8123' });
 *   const rows = await store.query<{ n: string }>('SELECT count() AS n FROM key_events');
 */
/**
 * Settings for every query on a supported server. ClickHouse 26.x answers `count()` over a time
 * range from its implicit min/max/count projection with whole-part counts, so a range that cuts
 * through a part was over-counted (20.4M instead of 20.0M on the bench store); keywatch reports
 * counts as evidence, so that shortcut is off.
 */
const QUERY_SETTINGS = { optimize_use_implicit_projections: 0 };

export async function openServerStore(opts: ServerStoreOptions): Promise<Store> {
  const parsed = parseUrl(opts.url);
  const username = opts.username ?? parsed.username ?? 'default';
  const password = opts.password ?? parsed.password ?? '';
  const database = opts.database ?? 'keywatch';
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const target: Target = { location: parsed.location, username };

  const connect = (db?: string, settings?: Record<string, number>): ClickHouseClient =>
    createClient({
      ...(settings ? { clickhouse_settings: settings } : {}),
      // A path in the URL would be taken as the database by the client; pass it as a proxy path instead.
      url: parsed.origin,
      ...(parsed.pathname ? { pathname: parsed.pathname } : {}),
      username,
      password,
      ...(db !== undefined ? { database: db } : {}),
      request_timeout: requestTimeoutMs,
      // The client logs failed requests itself; keywatch reports them through StoreError instead.
      log: { level: ClickHouseLogLevel.OFF },
    });

  // The first client uses the user's default database: ours may not exist yet.
  const bootstrap = connect();
  let serverVersion: string;
  try {
    serverVersion = await readVersion(bootstrap, target);
    if (!opts.allowUnsupportedVersion) {
      if (compareVersions(serverVersion, MIN_CLICKHOUSE_VERSION) < 0) {
        throw new StoreError(
          'STORE_UNSUPPORTED_VERSION',
          `ClickHouse server at ${target.location} is version ${serverVersion}; keywatch needs ClickHouse ${MIN_CLICKHOUSE_VERSION} or newer (DateTime64, Map, LowCardinality, TTL, projections)`,
        );
      }
      await run(target, () => bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(database)}` }));
    }
  } finally {
    await bootstrap.close();
  }

  // The settings go only to a supported server: an old one (allowed for transport tests) rejects
  // unknown settings.
  const supported = compareVersions(serverVersion, MIN_CLICKHOUSE_VERSION) >= 0;
  return new ServerStore(connect(database, supported ? QUERY_SETTINGS : undefined), target, database, serverVersion);
}

class ServerStore implements Store {
  readonly backend = 'server' as const;
  private closed = false;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly target: Target,
    readonly database: string,
    private readonly serverVersion: string,
  ) {}

  async exec(sql: string, params?: QueryParams): Promise<void> {
    await run(this.target, () => this.client.command({ query: sql, ...bind(params) }));
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    return run(this.target, async () => {
      const rs = await this.client.query({ query: sql, format: 'JSONEachRow', ...bind(params) });
      return rs.json<T>();
    });
  }

  async queryText(sql: string, format: TextFormat, params?: QueryParams): Promise<string> {
    // exec with our own FORMAT clause returns the server's bytes untouched, whatever the format.
    return run(this.target, async () => {
      const res = await this.client.exec({
        query: `${stripTrailingSemicolons(sql)}\nFORMAT ${format}`,
        // Servers before 24.x colour Pretty headers with ANSI escapes even over HTTP; chdb does not.
        ...(format.startsWith('Pretty') ? { clickhouse_settings: { output_format_pretty_color: 0 } } : {}),
        ...bind(params),
      });
      const chunks: Buffer[] = [];
      for await (const chunk of res.stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
      return Buffer.concat(chunks).toString('utf8');
    });
  }

  async insertRaw(table: string, format: RawInsertFormat, payload: Buffer, columns?: readonly string[]): Promise<void> {
    if (payload.length === 0) return;
    const cols = columns && columns.length > 0 ? ` (${columns.join(', ')})` : '';
    // client.insert() wants object-mode streams for JSON formats; exec() sends the bytes as they are.
    await run(this.target, async () => {
      const res = await this.client.exec({
        query: `INSERT INTO ${table}${cols} FORMAT ${format}`,
        values: Readable.from([payload], { objectMode: false }),
      });
      await drainStream(res.stream);
    });
  }

  async withInput<T>(o: StagedInput, fn: (relation: string) => Promise<T>): Promise<T> {
    // A Memory table per call: several statements can read it, and concurrent writers do not share it.
    const table = `kw_input_${randomUUID().replace(/-/g, '')}`;
    await this.exec(`CREATE TABLE ${table} (${o.structure}) ENGINE = Memory`);
    try {
      await run(this.target, async () => {
        const res = await this.client.exec({ query: `INSERT INTO ${table} FORMAT ${o.format}`, values: Readable.from([o.payload], { objectMode: false }) });
        await drainStream(res.stream);
      });
      return await fn(table);
    } finally {
      await this.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  async insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    await run(this.target, () => this.client.insert({ table, values: [...rows], format: 'JSONEachRow' }));
  }

  async info(): Promise<StoreInfo> {
    return { backend: 'server', location: this.target.location, database: this.database, serverVersion: this.serverVersion };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

async function readVersion(client: ClickHouseClient, target: Target): Promise<string> {
  const rows = await run(target, async () => {
    const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
    return rs.json<{ v: string }>();
  });
  const v = rows[0]?.v;
  if (typeof v !== 'string') {
    throw new StoreError('STORE_QUERY_FAILED', `ClickHouse server at ${target.location} did not report its version`);
  }
  return v;
}

async function run<T>(target: Target, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw toStoreError(e, target);
  }
}

function bind(params: QueryParams | undefined): { query_params?: Record<string, unknown> } {
  return params && Object.keys(params).length > 0 ? { query_params: params } : {};
}

/** Maps whatever the client threw to a one-line StoreError. Never includes the password. */
function toStoreError(e: unknown, target: Target): StoreError {
  if (e instanceof StoreError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const sysCode = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : undefined;
  const chCode = clickhouseCodeOf(e, message);

  if (chCode === undefined) {
    const reason = (sysCode !== undefined ? UNREACHABLE[sysCode] : undefined) ?? (/socket hang up/i.test(message) ? 'connection reset' : undefined);
    if (reason !== undefined) {
      return new StoreError('STORE_UNAVAILABLE', `cannot reach ClickHouse server at ${target.location}: ${reason}`, { cause: e });
    }
    // The client rejects with a plain Error('Timeout error.') when request_timeout passes without data.
    if (/^Timeout error/i.test(message) || sysCode === 'ETIMEDOUT' || sysCode === 'ESOCKETTIMEDOUT') {
      return new StoreError('STORE_TIMEOUT', `ClickHouse server at ${target.location} did not answer within the request timeout`, { cause: e });
    }
  }
  // The client does not expose the HTTP status of a failed request, so a proxy's 401/403 is recognised by its text.
  const isAuth = chCode !== undefined
    ? AUTH_CODES.has(chCode)
    : /Authentication failed|Password|\b40[13]\b|Unauthorized|Forbidden/i.test(message);
  if (isAuth) {
    return new StoreError(
      'STORE_AUTH_FAILED',
      `ClickHouse server at ${target.location} rejected user '${target.username}': wrong user name or password`,
      { cause: e, ...(chCode !== undefined ? { clickhouseCode: chCode } : {}) },
    );
  }
  const text = cleanClickHouseMessage(message);
  return new StoreError(
    'STORE_QUERY_FAILED',
    chCode !== undefined ? `ClickHouse query failed (code ${chCode}): ${text}` : `ClickHouse query failed: ${text}`,
    { cause: e, ...(chCode !== undefined ? { clickhouseCode: chCode } : {}) },
  );
}

function clickhouseCodeOf(e: unknown, message: string): number | undefined {
  if (e instanceof ClickHouseError) {
    const n = Number.parseInt(e.code, 10);
    if (Number.isFinite(n)) return n;
  }
  // Servers before ~22 answer "Code: 62, e.displayText() = DB::Exception: ..." which the client's
  // parser (it wants a trailing "(SYNTAX_ERROR)") leaves as a plain Error.
  const m = /^\s*Code: (\d+)[.,]/.exec(message);
  return m?.[1] !== undefined ? Number.parseInt(m[1], 10) : undefined;
}

function cleanClickHouseMessage(message: string): string {
  let line = firstLine(message);
  line = line.replace(/^Code: \d+[.,]\s*(e\.displayText\(\) = )?(DB::Exception: )?/, '');
  line = line.replace(/, e\.what\(\) = DB::Exception$/, '');
  return line.trim() || 'no message from the server';
}

function parseUrl(raw: string): { origin: string; location: string; pathname: string; username?: string; password?: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (e) {
    // Not echoing the input: it may carry a password.
    throw new StoreError('CONFIG_INVALID', 'ClickHouse server URL is not a valid URL (expected http(s)://host:port)', { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StoreError('CONFIG_INVALID', `ClickHouse server URL must use http or https, not ${url.protocol.replace(':', '')}`);
  }
  const origin = `${url.protocol}//${url.host}`;
  const pathname = url.pathname === '/' ? '' : url.pathname;
  return {
    origin,
    location: origin + pathname,
    pathname,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

function quoteString(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

function stripTrailingSemicolons(sql: string): string {
  return sql.trim().replace(/;+\s*$/, '');
}
