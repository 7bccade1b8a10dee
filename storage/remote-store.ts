import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import type { ErrorCode } from '../core/errors.ts';
import { StoreError } from './store-error.ts';
import type { QueryParams, RawInsertFormat, StagedInput, Store, StoreInfo, TextFormat } from './store.ts';

/**
 * The Store of a running `keywatch serve`, reached through its local API: HTTP over the Unix socket
 * `<dataDir>/serve.sock`, authenticated with the bearer token in `<dataDir>/serve.token` (both
 * 0600, so only the service's user can use them). chdb locks its data directory to one process;
 * this is how the read commands (sql, status, detect, report, alerts ...) keep working from
 * another terminal while the service holds it. Routes are in service/local-api.ts.
 *
 * @example const store = await openRemoteStore(localApiPaths('./keywatch-data'));
 */
export interface LocalApiPaths {
  socket: string;
  token: string;
}

export function localApiPaths(dataDir: string): LocalApiPaths {
  const d = resolve(dataDir);
  return { socket: join(d, 'serve.sock'), token: join(d, 'serve.token') };
}

/** Whether a service in `dataDir` offers a local API (its socket and token exist). */
export function localApiOffered(dataDir: string): boolean {
  const p = localApiPaths(dataDir);
  return existsSync(p.socket) && existsSync(p.token);
}

interface Answer {
  status: number;
  body: Buffer;
}

const KNOWN_CODES = new Set<string>(['STORE_QUERY_FAILED', 'STORE_BAD_DATA', 'STORE_TIMEOUT', 'STORE_UNAVAILABLE', 'STORE_LOCKED', 'STORE_AUTH_FAILED', 'READ_ONLY_VIOLATION', 'USAGE', 'CONFIG_INVALID', 'MIGRATION_FAILED']);

class RemoteStore implements Store {
  readonly backend = 'embedded' as const;
  constructor(
    private readonly paths: LocalApiPaths,
    private readonly token: string,
    readonly database: string,
    private readonly pid: number,
  ) {}

  private call(op: string, body: Buffer | object | undefined, headers: Record<string, string> = {}): Promise<Answer> {
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    return new Promise<Answer>((resolveAnswer, reject) => {
      const req = request(
        {
          socketPath: this.paths.socket,
          path: `/v1/store/${op}`,
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.token}`,
            'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json',
            'content-length': String(payload.length),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolveAnswer({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', (e) => reject(new StoreError('STORE_UNAVAILABLE', `the local API of keywatch serve (pid ${this.pid}) at ${this.paths.socket} did not answer: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e })));
      req.end(payload);
    });
  }

  /** One call; a non-2xx answer becomes the StoreError the service reported. */
  async ok(op: string, body: Buffer | object | undefined, headers?: Record<string, string>): Promise<Buffer> {
    const a = await this.call(op, body, headers);
    if (a.status >= 200 && a.status < 300) return a.body;
    let err: { code?: string; message?: string; clickhouseCode?: number } = {};
    try {
      err = (JSON.parse(a.body.toString('utf8')) as { error?: typeof err }).error ?? {};
    } catch {
      // Not our JSON: reported by status below.
    }
    const code = (err.code && KNOWN_CODES.has(err.code) ? err.code : a.status === 401 ? 'STORE_AUTH_FAILED' : 'STORE_QUERY_FAILED') as ErrorCode;
    throw new StoreError(code, err.message ?? `the local API answered ${a.status}`, err.clickhouseCode === undefined ? {} : { clickhouseCode: err.clickhouseCode });
  }

  async exec(sql: string, params?: QueryParams): Promise<void> {
    await this.ok('exec', { sql, params: params ?? {} });
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    return JSON.parse((await this.ok('query', { sql, params: params ?? {} })).toString('utf8')) as T[];
  }

  async queryText(sql: string, format: TextFormat, params?: QueryParams): Promise<string> {
    return (await this.ok('query-text', { sql, format, params: params ?? {} })).toString('utf8');
  }

  async insertRaw(table: string, format: RawInsertFormat, payload: Buffer, columns?: readonly string[]): Promise<void> {
    if (payload.length === 0) return;
    await this.ok('insert-raw', payload, { 'x-keywatch-table': table, 'x-keywatch-format': format, ...(columns ? { 'x-keywatch-columns': JSON.stringify(columns) } : {}) });
  }

  async insertRows(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ok('insert-rows', { table, rows });
  }

  async withInput<T>(input: StagedInput, fn: (relation: string) => Promise<T>): Promise<T> {
    const staged = JSON.parse(
      (await this.ok('stage', input.payload, { 'x-keywatch-structure': encodeURIComponent(input.structure), 'x-keywatch-format': input.format })).toString('utf8'),
    ) as { stage: string; relation: string };
    try {
      return await fn(staged.relation);
    } finally {
      await this.ok('unstage', { stage: staged.stage }).catch(() => undefined);
    }
  }

  async info(): Promise<StoreInfo> {
    const i = JSON.parse((await this.ok('info', {})).toString('utf8')) as StoreInfo;
    return { ...i, location: `${i.location} (held by keywatch serve, pid ${this.pid}, through its local API)` };
  }

  async close(): Promise<void> {
    // Nothing held: each call is its own request.
  }
}

/**
 * Connects to the local API named by `paths`. Fails with STORE_UNAVAILABLE when nothing answers
 * (a service that died and left its socket) and STORE_AUTH_FAILED when the token is refused.
 */
export async function openRemoteStore(paths: LocalApiPaths): Promise<Store> {
  let token: string;
  try {
    token = readFileSync(paths.token, 'utf8').trim();
  } catch (e) {
    throw new StoreError('STORE_AUTH_FAILED', `cannot read the local API token ${paths.token}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  const probe = new RemoteStore(paths, token, 'keywatch', 0);
  const hello = JSON.parse((await probe.ok('hello', {})).toString('utf8')) as { database: string; pid: number };
  return new RemoteStore(paths, token, hello.database, hello.pid);
}
