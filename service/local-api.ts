import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { StoreError } from '../storage/store-error.ts';
import type { QueryParams, RawInsertFormat, StagedInput, Store, TextFormat } from '../storage/store.ts';
import type { LocalApiPaths } from '../storage/remote-store.ts';
import type { Logger } from '../core/logger.ts';

/**
 * The local API of `keywatch serve`: the service's Store, offered to other keywatch processes of the
 * same user over a Unix socket (mode 0600) with a random bearer token in a 0600 file. The client is
 * storage/remote-store.ts. Every route is `POST /v1/store/<op>`; errors are
 * `{ error: { code, message, clickhouseCode? } }`.
 *
 * @example const api = await startLocalApi({ store, paths: localApiPaths(dataDir), logger }); ... await api.close();
 */
export interface LocalApi {
  close(): Promise<void>;
  /** Requests being answered right now. */
  inflight(): number;
}

const RAW_FORMATS = new Set<RawInsertFormat>(['TSV', 'JSONEachRow']);
const TEXT_FORMATS = new Set<TextFormat>(['JSONEachRow', 'JSON', 'CSVWithNames', 'TSVWithNames', 'PrettyCompactMonoBlock', 'TSV']);
/** A client that staged an input and vanished: the stage is dropped after this long. */
const STAGE_TTL_MS = 15 * 60_000;
const MAX_BODY_BYTES = 512 * 1024 * 1024;

class BadRequest extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequest(`body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const json = (b: Buffer): Record<string, unknown> => {
  try {
    const v = JSON.parse(b.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new BadRequest('the body must be a JSON object');
};
const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v.length === 0) throw new BadRequest(`${what} must be a non-empty string`);
  return v;
};
const params = (v: unknown): QueryParams => (v && typeof v === 'object' && !Array.isArray(v) ? (v as QueryParams) : {});

export async function startLocalApi(o: { store: Store; paths: LocalApiPaths; logger: Logger }): Promise<LocalApi> {
  const { store, paths, logger } = o;
  const token = randomBytes(32).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const stages = new Map<string, { release: () => void; timer: NodeJS.Timeout }>();
  let inflight = 0;

  const handle = async (req: IncomingMessage, op: string): Promise<{ status: number; type?: string; body?: string | Buffer }> => {
    const body = await readBody(req);
    switch (op) {
      case 'hello':
        return { status: 200, type: 'application/json', body: JSON.stringify({ database: store.database, pid: process.pid }) };
      case 'info':
        return { status: 200, type: 'application/json', body: JSON.stringify(await store.info()) };
      case 'exec': {
        const b = json(body);
        await store.exec(str(b.sql, 'sql'), params(b.params));
        return { status: 204 };
      }
      case 'query': {
        const b = json(body);
        return { status: 200, type: 'application/json', body: JSON.stringify(await store.query(str(b.sql, 'sql'), params(b.params))) };
      }
      case 'query-text': {
        const b = json(body);
        const format = str(b.format, 'format') as TextFormat;
        if (!TEXT_FORMATS.has(format)) throw new BadRequest(`unknown format ${format}`);
        return { status: 200, type: 'text/plain; charset=utf-8', body: await store.queryText(str(b.sql, 'sql'), format, params(b.params)) };
      }
      case 'insert-raw': {
        const table = str(req.headers['x-keywatch-table'], 'x-keywatch-table');
        const format = str(req.headers['x-keywatch-format'], 'x-keywatch-format') as RawInsertFormat;
        if (!RAW_FORMATS.has(format)) throw new BadRequest(`unknown insert format ${format}`);
        const cols = req.headers['x-keywatch-columns'];
        const columns = typeof cols === 'string' ? (JSON.parse(cols) as string[]) : undefined;
        await store.insertRaw(table, format, body, columns);
        return { status: 204 };
      }
      case 'insert-rows': {
        const b = json(body);
        if (!Array.isArray(b.rows)) throw new BadRequest('rows must be an array');
        await store.insertRows(str(b.table, 'table'), b.rows as Record<string, unknown>[]);
        return { status: 204 };
      }
      case 'stage': {
        const structure = decodeURIComponent(str(req.headers['x-keywatch-structure'], 'x-keywatch-structure'));
        const format = str(req.headers['x-keywatch-format'], 'x-keywatch-format') as StagedInput['format'];
        if (!['TSV', 'JSONEachRow', 'RowBinary'].includes(format)) throw new BadRequest(`unknown stage format ${format}`);
        const stage = randomUUID();
        // The stage lives as long as the store's withInput callback: it is held open until the
        // client unstages it (or disappears for STAGE_TTL_MS).
        const relation = await new Promise<string>((resolveRelation, reject) => {
          store
            .withInput({ structure, format, payload: body }, (rel) => {
              resolveRelation(rel);
              return new Promise<void>((release) => {
                const timer = setTimeout(() => {
                  stages.delete(stage);
                  release();
                }, STAGE_TTL_MS);
                timer.unref();
                stages.set(stage, { release, timer });
              });
            })
            .catch(reject);
        });
        return { status: 200, type: 'application/json', body: JSON.stringify({ stage, relation }) };
      }
      case 'unstage': {
        const b = json(body);
        const s = stages.get(str(b.stage, 'stage'));
        if (s) {
          clearTimeout(s.timer);
          stages.delete(str(b.stage, 'stage'));
          s.release();
        }
        return { status: 204 };
      }
      default:
        return { status: 404, type: 'application/json', body: JSON.stringify({ error: { code: 'USAGE', message: `no route ${op}` } }) };
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const auth = Buffer.from(req.headers.authorization ?? '');
    const send = (status: number, type?: string, body?: string | Buffer) => {
      res.statusCode = status;
      if (type) res.setHeader('content-type', type);
      res.end(body);
    };
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      req.resume();
      send(401, 'application/json', JSON.stringify({ error: { code: 'STORE_AUTH_FAILED', message: `the local API token was refused; read it from ${paths.token}` } }));
      return;
    }
    const m = /^\/v1\/store\/([a-z-]+)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) {
      req.resume();
      send(404, 'application/json', JSON.stringify({ error: { code: 'USAGE', message: 'POST /v1/store/<op>' } }));
      return;
    }
    const op = m[1] as string;
    inflight++;
    const t0 = performance.now();
    handle(req, op)
      .then((a) => send(a.status, a.type, a.body))
      .catch((e: unknown) => {
        const status = e instanceof BadRequest ? 400 : 500;
        const code = e instanceof BadRequest ? 'USAGE' : e instanceof StoreError ? e.code : 'STORE_QUERY_FAILED';
        const clickhouseCode = e instanceof StoreError ? e.clickhouseCode : undefined;
        send(status, 'application/json', JSON.stringify({ error: { code, message: (e as Error).message, ...(clickhouseCode === undefined ? {} : { clickhouseCode }) } }));
      })
      .finally(() => {
        inflight--;
        logger.debug({ op, ms: Math.round(performance.now() - t0) }, 'local API call');
      });
  });

  // A socket left by a service that died is in the way; the embedded store's lock already tells
  // that no live service owns this data directory.
  rmSync(paths.socket, { force: true });
  // The socket is created 0600 (umask), not chmod-ed after a moment of being open to others.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(paths.socket, () => resolveListen());
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(paths.socket, 0o600);
  writeFileSync(paths.token, `${token}\n`, { mode: 0o600 });
  chmodSync(paths.token, 0o600);
  logger.info({ socket: paths.socket }, 'local API listening');

  return {
    inflight: () => inflight,
    async close() {
      rmSync(paths.token, { force: true });
      for (const [, s] of stages) {
        clearTimeout(s.timer);
        s.release();
      }
      stages.clear();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeIdleConnections();
      });
      rmSync(paths.socket, { force: true });
    },
  };
}
