import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { generateCloudTrail } from '../../demo/cloudtrail-generator.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { verifyChain } from '../../storage/ledger.ts';
import { migrate } from '../../storage/migrate.ts';
import { StoreError } from '../../storage/store-error.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { startHttpCollector, type HttpCollector, type HttpCollectorOptions, type IngestResponse } from './http.ts';
import { fitJsonFraming } from './http-body.ts';

// Every test talks to a real listening socket; records land in one embedded store (chdb holds one
// data directory per process). Account 111122223333 maps to tenant acme, but a token fixes the
// tenant of what it sends.

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'aws-kms', 'fixtures');
const BIN = new URL('../../bin/keywatch.js', import.meta.url).pathname;
const TENANTS = { '111122223333': 'acme' };
const GLOBEX_TOKEN = 'globex-push-token-0123456789';
const INITECH_TOKEN = 'initech-push-token-with-another-length-0123456789';
const TOKENS = [
  { tenant: 'globex', token: GLOBEX_TOKEN },
  { tenant: 'initech', token: INITECH_TOKEN },
];

/** A fixture's one record as a line (the file without its final newline). */
const fixture = (name: string) => readFileSync(join(FIXTURES, `${name}.json`), 'utf8').replace(/\r?\n$/, '');
const badFixture = (name: string) => readFileSync(join(FIXTURES, 'bad', `${name}.json`), 'utf8').replace(/\r?\n$/, '');
const eventIdOf = (name: string) => (JSON.parse(readFileSync(join(FIXTURES, `${name}.expected.json`), 'utf8')) as { event_id: string }).event_id;
const ndjson = (...names: string[]) => names.map(fixture).join('\n') + '\n';

const dir = tempDir('keywatch-http-test-');
let store: Store;
const running: HttpCollector[] = [];
const logLines: string[] = [];
const testLogger: Logger = pino({ level: 'info', base: undefined }, { write: (s: string) => void logLines.push(s) });

beforeAll(async () => {
  store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
});
afterEach(async () => {
  for (const c of running.splice(0)) await c.close();
});
afterAll(async () => {
  await store?.close();
  dir.remove();
});

async function serve(o: { http?: Record<string, unknown>; store?: Store } & Partial<Omit<HttpCollectorOptions, 'store' | 'config'>> = {}): Promise<HttpCollector> {
  const { http, store: s, ...rest } = o;
  const config = Config.parse({ tenants: TENANTS, http: { tokens: TOKENS, ...http } });
  const c = await startHttpCollector({ store: s ?? store, config, clock: fixedClock('2026-11-29T00:00:00.000Z'), logger: testLogger, host: '127.0.0.1', port: 0, env: {}, ...rest });
  running.push(c);
  return c;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, any>;
}

async function post(c: HttpCollector, path: string, body: string | Buffer, headers: Record<string, string>): Promise<Answer> {
  const r = await fetch(`${c.address}${path}`, { method: 'POST', headers, body });
  return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, any> };
}

const auth = (token = GLOBEX_TOKEN) => ({ authorization: `Bearer ${token}` });
const NDJSON = { 'content-type': 'application/x-ndjson' };

async function eventsById(ids: string[]): Promise<{ event_id: string; tenant: string; account: string; operation: string; raw_id: string }[]> {
  return store.query(`SELECT event_id, tenant, account, operation, raw_id FROM key_events WHERE event_id IN {ids:Array(String)} ORDER BY event_id`, { ids });
}

/** A Store that runs `before` ahead of each staged batch (to block it or fail it), and otherwise passes through. */
function interceptStore(inner: Store, before: () => Promise<void>): Store {
  return {
    backend: inner.backend,
    database: inner.database,
    exec: (sql, params) => inner.exec(sql, params),
    query: (sql, params) => inner.query(sql, params),
    queryText: (sql, format, params) => inner.queryText(sql, format, params),
    insertRaw: (table, format, payload, columns) => inner.insertRaw(table, format, payload, columns),
    withInput: async (input, fn) => {
      await before();
      return inner.withInput(input, fn);
    },
    insertRows: (table, rows) => inner.insertRows(table, rows),
    info: () => inner.info(),
    close: async () => undefined,
  };
}

/** A gate the intercepting store waits at: `entered` resolves when a batch reaches it. */
function gate() {
  let open!: () => void;
  let entered!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (entered = r));
  return {
    reached,
    open,
    wait: async () => {
      entered();
      await opened;
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Distinct generated CloudTrail KMS records, one NDJSON body per seed. */
function generated(seed: number, n: number): { body: string; ids: string[] } {
  const recs = [...generateCloudTrail({ start: new Date('2026-06-01T00:00:00Z'), days: 1, seed })].slice(0, n);
  return { body: recs.map((r) => JSON.stringify(r)).join('\n') + '\n', ids: recs.map((r) => String(r.eventID)) };
}

describe('HTTP push: accepted bodies', () => {
  it('stores an NDJSON CloudTrail push under the token tenant even when the account maps to another tenant, and answers once durable', async () => {
    const c = await serve();
    const r = await post(c, '/v1/ingest/aws-cloudtrail', ndjson('decrypt-assumed-role', 'create-key', 'list-keys'), { ...auth(), ...NDJSON });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ tenant: 'globex', format: 'aws-cloudtrail', read: 3, normalized: 3, inserted: 3, duplicates: 0, quarantined: {}, dropped: {} });
    expect(r.body.batchIds).toHaveLength(1);
    expect(r.headers.get('x-request-id')).toBe(r.body.requestId);
    // Durable before the answer: the ledger head is the chain head the response names.
    const [head] = await store.query<{ batch_id: string; batch_hash: string; transport: string; origin: string }>('SELECT batch_id, batch_hash, transport, origin FROM ingest_batches ORDER BY seqno DESC LIMIT 1');
    expect(head).toEqual({ batch_id: r.body.batchIds[0], batch_hash: r.body.chainHead, transport: 'http', origin: `http:127.0.0.1#${r.body.requestId}` });
    const events = await eventsById(['decrypt-assumed-role', 'create-key', 'list-keys'].map(eventIdOf));
    expect(events.map((e) => [e.account, e.tenant])).toEqual(
      expect.arrayContaining([
        ['111122223333', 'globex'],
        ['111122223333', 'globex'],
        ['210987654321', 'globex'],
      ]),
    );
    expect(events).toHaveLength(3);
  });

  it('counts records pushed again as duplicates and stores nothing new', async () => {
    const c = await serve();
    const r = await post(c, '/v1/ingest/aws-cloudtrail', ndjson('decrypt-assumed-role', 'create-key'), { ...auth(), ...NDJSON });
    expect(r.body).toMatchObject({ read: 2, inserted: 0, duplicates: 2 });
    const [n] = await store.query<{ n: string }>('SELECT count() AS n FROM key_events WHERE event_id IN {ids:Array(String)}', { ids: ['decrypt-assumed-role', 'create-key'].map(eventIdOf) });
    expect(n?.n).toBe('2');
  });

  it('decodes a gzip body sent with Content-Encoding: gzip', async () => {
    const c = await serve();
    const r = await post(c, '/v1/ingest/aws-cloudtrail', gzipSync(ndjson('decrypt-xks', 'enable-key-rotation')), { ...auth(INITECH_TOKEN), ...NDJSON, 'content-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ tenant: 'initech', read: 2, inserted: 2 });
    expect((await eventsById([eventIdOf('decrypt-xks'), eventIdOf('enable-key-rotation')])).map((e) => e.tenant)).toEqual(['initech', 'initech']);
  });

  it('recognises a gzip file sent as application/gzip by its magic bytes, here a CloudTrail {"Records":[...]} file', async () => {
    const c = await serve();
    const file = `{"Records":[${fixture('schedule-key-deletion')},${fixture('import-key-material')}]}`;
    const r = await post(c, '/v1/ingest/auto', gzipSync(file), { ...auth(), 'content-type': 'application/gzip' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ format: 'auto', read: 2, inserted: 2, bySource: { 'aws-kms': { inserted: 2 } } });
  });

  it('frames a JSON array body into its records', async () => {
    const c = await serve();
    const r = await post(c, '/v1/ingest/aws-kms', `[${fixture('put-key-policy-wildcard')},\n ${fixture('create-grant-external')}]`, { ...auth(), 'content-type': 'application/json' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ read: 2, inserted: 2, quarantined: {} });
  });

  it('takes one pretty-printed JSON record as one record, and a lower-case {"records":[...]} wrapper as its elements', async () => {
    const c = await serve();
    const pretty = JSON.stringify(JSON.parse(fixture('unknown-operation')), null, 2);
    const one = await post(c, '/v1/ingest/aws-cloudtrail', pretty, { ...auth(), 'content-type': 'application/json' });
    expect(one.body).toMatchObject({ read: 1, inserted: 1, quarantined: {} });
    const wrapped = await post(c, '/v1/ingest/aws-cloudtrail', `{\n  "records": [\n${fixture('key-material-id')},\n${fixture('decrypt-custom-key-store')}\n]}\n`, { ...auth(), 'content-type': 'application/json' });
    expect(wrapped.body).toMatchObject({ read: 2, inserted: 2, quarantined: {} });
    expect((await eventsById([eventIdOf('key-material-id')]))[0]?.tenant).toBe('globex');
  });

  it('answers 200 for malformed records and counts them: they are quarantined with their reason, the good ones stored', async () => {
    const c = await serve();
    const body = [fixture('decrypt-access-denied'), badFixture('invalid-json'), badFixture('missing-event-name'), badFixture('non-kms-event'), fixture('generate-data-key-alias')].join('\n');
    const r = await post(c, '/v1/ingest/aws-cloudtrail', body, { ...auth(), 'content-type': 'application/jsonl' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ read: 5, inserted: 2, duplicates: 0, quarantined: { invalid_json: 1, missing_field: 1 }, dropped: { non_kms_event: 1 } });
    const q = await store.query<{ reason: string; position: string; transport: string }>('SELECT reason, position, transport FROM quarantine WHERE batch_id = {b:String} ORDER BY position', { b: r.body.batchIds[0] });
    expect(q).toEqual([
      { reason: 'invalid_json', position: 'line:2', transport: 'http' },
      { reason: 'missing_field', position: 'line:3', transport: 'http' },
    ]);
  });

  it('accepts text/plain, for the text formats', async () => {
    const c = await serve();
    const r = await post(c, '/v1/ingest/aws-cloudtrail', fixture('cross-account-decrypt'), { ...auth(), 'content-type': 'text/plain; charset=utf-8' });
    expect(r.body).toMatchObject({ read: 1, inserted: 1 });
  });
});

describe('HTTP push: refused requests', () => {
  it('answers 401 with a Bearer challenge for a missing, malformed or wrong token, and stores nothing', async () => {
    const c = await serve();
    const body = ndjson('aws-internal-caller');
    const missing = await post(c, '/v1/ingest/aws-cloudtrail', body, NDJSON);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="keywatch"');
    expect(missing.body).toEqual({ error: { code: 'unauthorized', message: 'an Authorization: Bearer <token> header is required' } });
    for (const authorization of [`Bearer ${GLOBEX_TOKEN}x`, `Basic ${Buffer.from(`globex:${GLOBEX_TOKEN}`).toString('base64')}`, 'Bearer short']) {
      const wrong = await post(c, '/v1/ingest/aws-cloudtrail', body, { authorization, ...NDJSON });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="keywatch", error="invalid_token"');
      expect(wrong.body.error.code).toBe('unauthorized');
    }
    expect(await eventsById([eventIdOf('aws-internal-caller')])).toEqual([]);
  });

  it('answers 400 with the list of formats for an unknown format', async () => {
    const c = await serve();
    const r = await post(c, '/v1/ingest/splunk', ndjson('aws-service-caller'), { ...auth(), ...NDJSON });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('unknown_format');
    expect(r.body.error.formats).toEqual(expect.arrayContaining(['auto', 'aws-cloudtrail']));
    expect(r.body.error.message).toMatch(/unknown format "splunk"; known formats: auto, aws-cloudtrail/);
  });

  it('answers 400 when auto-detection recognises nothing in the body', async () => {
    const c = await serve();
    const r = await post(c, '/v1/ingest/auto', 'hello, this is not a log\n', { ...auth(), 'content-type': 'text/plain' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('format_not_detected');
  });

  it('answers 415 for other content types, other encodings, and non-gzip bodies sent as gzip', async () => {
    const c = await serve();
    const body = ndjson('aws-service-caller');
    for (const headers of [
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'application/xml' },
      { ...NDJSON, 'content-encoding': 'br' },
      { 'content-type': 'application/octet-stream' },
      { 'content-type': 'application/gzip' },
    ]) {
      const r = await post(c, '/v1/ingest/aws-cloudtrail', body, { ...auth(), ...headers });
      expect(r.status, JSON.stringify(headers)).toBe(415);
      expect(r.body.error.code).toBe('unsupported_media_type');
    }
    expect(await eventsById([eventIdOf('aws-service-caller')])).toEqual([]);
  });

  it('answers 413 for a body over http.maxBodyBytes, whether its length is declared or it is chunked', async () => {
    const c = await serve({ http: { maxBodyBytes: 64 * 1024 } });
    const big = Buffer.from(generated(41, 200).body);
    expect(big.length).toBeGreaterThan(64 * 1024);
    const declared = await post(c, '/v1/ingest/aws-cloudtrail', big, { ...auth(), ...NDJSON });
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe('body_too_large');
    const chunks = [big.subarray(0, 40_000), big.subarray(40_000)];
    const r = await fetch(`${c.address}/v1/ingest/aws-cloudtrail`, {
      method: 'POST',
      headers: { ...auth(), ...NDJSON },
      body: new ReadableStream<Uint8Array>({
        pull: (ctl) => {
          const next = chunks.shift();
          if (next) ctl.enqueue(next);
          else ctl.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(r.status).toBe(413);
    expect(await eventsById(generated(41, 200).ids.slice(0, 5))).toEqual([]);
  });

  it('answers 413 for a gzip bomb: the limit applies to the decompressed size', async () => {
    const c = await serve({ http: { maxBodyBytes: 256 * 1024 } });
    const bomb = gzipSync(Buffer.alloc(4 << 20, 0x20));
    expect(bomb.length).toBeLessThan(8 * 1024);
    for (const headers of [{ 'content-type': 'application/gzip' }, { ...NDJSON, 'content-encoding': 'gzip' }]) {
      const r = await post(c, '/v1/ingest/aws-cloudtrail', bomb, { ...auth(), ...headers });
      expect(r.status).toBe(413);
      expect(r.body.error).toMatchObject({ code: 'body_too_large', message: expect.stringMatching(/decompressed request body is over the 262144-byte limit/) });
    }
  });

  it('answers 400 for a corrupt gzip body', async () => {
    const c = await serve();
    const gz = gzipSync(ndjson('aws-service-caller'));
    const r = await post(c, '/v1/ingest/aws-cloudtrail', gz.subarray(0, gz.length - 12), { ...auth(), 'content-type': 'application/gzip' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_gzip');
  });

  it('answers 404 for other paths and 405 with Allow for other methods; /healthz answers ok', async () => {
    const c = await serve();
    const nf = await fetch(`${c.address}/v1/other?token=x`);
    expect(nf.status).toBe(404);
    expect(await nf.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/other; records go to POST /v1/ingest/{format}' } });
    const get = await fetch(`${c.address}/v1/ingest/aws-cloudtrail`, { headers: auth() });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(((await get.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
    const health = await fetch(`${c.address}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    expect((await fetch(`${c.address}/healthz`, { method: 'POST' })).status).toBe(405);
  });
});

describe('HTTP push: concurrency, back-pressure and store failures', () => {
  it('writes concurrent requests one after another: all durable, no duplicate events, an unbroken ledger chain', async () => {
    const c = await serve();
    const sets = [1, 2, 3, 4, 5, 6].map((seed) => generated(seed, 40));
    const bodies = [...sets.map((s) => s.body), (sets[0] as { body: string }).body, (sets[1] as { body: string }).body];
    const tokenFor = (i: number) => (i % 2 === 0 ? GLOBEX_TOKEN : INITECH_TOKEN);
    const answers = await Promise.all(bodies.map((b, i) => post(c, '/v1/ingest/aws-cloudtrail', b, { ...auth(tokenFor(i)), ...NDJSON })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const ids = [...new Set(sets.flatMap((s) => s.ids))];
    const inserted = answers.reduce((a, r) => a + (r.body.inserted as number), 0);
    const duplicates = answers.reduce((a, r) => a + (r.body.duplicates as number), 0);
    expect(inserted).toBe(ids.length);
    expect(inserted + duplicates).toBe(8 * 40);
    const rows = await store.query<{ event_id: string; n: string; tenants: string[] }>(
      'SELECT event_id, count() AS n, groupUniqArray(tenant) AS tenants FROM key_events WHERE event_id IN {ids:Array(String)} GROUP BY event_id',
      { ids },
    );
    expect(rows).toHaveLength(ids.length);
    expect(rows.filter((r) => r.n !== '1')).toEqual([]);
    // Sets 0, 2, 4 came with the globex token, 1, 3, 5 with initech's; the repeats used the same tokens.
    const tenantOf = new Map(sets.flatMap((s, i) => s.ids.map((id) => [id, i % 2 === 0 ? 'globex' : 'initech'] as const)));
    expect(rows.filter((r) => r.tenants.length !== 1 || r.tenants[0] !== tenantOf.get(r.event_id))).toEqual([]);
    const report = await verifyChain(store);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(c.stats()).toMatchObject({ waiting: 0, writing: false, inserted: ids.length });
  });

  it('answers 429 with Retry-After when more than http.maxQueuedRequests wait for the store, and still writes the admitted ones', async () => {
    const g = gate();
    const c = await serve({ store: interceptStore(store, g.wait), http: { maxQueuedRequests: 1 } });
    const a = generated(21, 10);
    const b = generated(22, 10);
    const first = post(c, '/v1/ingest/aws-cloudtrail', a.body, { ...auth(), ...NDJSON });
    await g.reached;
    const second = post(c, '/v1/ingest/aws-cloudtrail', b.body, { ...auth(), ...NDJSON });
    await until(() => c.stats().waiting === 1, 'the second request to queue');
    const third = await post(c, '/v1/ingest/aws-cloudtrail', generated(23, 10).body, { ...auth(), ...NDJSON });
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('too_many_requests');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    g.open();
    expect((await first).body).toMatchObject({ inserted: 10 });
    expect((await second).body).toMatchObject({ inserted: 10 });
    expect(await eventsById(generated(23, 10).ids)).toEqual([]);
  });

  it('answers 503 with Retry-After when the store is unavailable, and acknowledges nothing', async () => {
    const [before] = await store.query<{ n: string }>('SELECT count() AS n FROM ingest_batches');
    const down = interceptStore(store, async () => {
      throw new StoreError('STORE_UNAVAILABLE', 'cannot reach ClickHouse at http://127.0.0.1:8123: connect ECONNREFUSED');
    });
    const c = await serve({ store: down, retry: { attempts: 1, baseDelayMs: 0 } });
    const body = generated(31, 5);
    const r = await post(c, '/v1/ingest/aws-cloudtrail', body.body, { ...auth(), ...NDJSON });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('5');
    expect(r.body.error.code).toBe('store_unavailable');
    expect(await eventsById(body.ids)).toEqual([]);
    const [after] = await store.query<{ n: string }>('SELECT count() AS n FROM ingest_batches');
    expect(after?.n).toBe(before?.n);
  });

  it('retries a lost connection within the request before giving up', async () => {
    let failures = 1;
    const flaky = interceptStore(store, async () => {
      if (failures-- > 0) throw new StoreError('STORE_TIMEOUT', 'ClickHouse did not answer within 30000 ms');
    });
    const c = await serve({ store: flaky, retry: { attempts: 2, baseDelayMs: 1 } });
    const body = generated(32, 5);
    const r = await post(c, '/v1/ingest/aws-cloudtrail', body.body, { ...auth(), ...NDJSON });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ inserted: 5 });
  });

  it('answers 500 for a store error that retrying cannot fix', async () => {
    const broken = interceptStore(store, async () => {
      throw new StoreError('STORE_QUERY_FAILED', 'INSERT INTO raw_events...: Code: 60. Unknown table');
    });
    const c = await serve({ store: broken, retry: { attempts: 3, baseDelayMs: 1 } });
    const r = await post(c, '/v1/ingest/aws-cloudtrail', generated(33, 3).body, { ...auth(), ...NDJSON });
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('internal');
  });

  it('closes gracefully: stops accepting, answers the request in flight, then resolves with the totals', async () => {
    const g = gate();
    const c = await serve({ store: interceptStore(store, g.wait) });
    const body = generated(34, 7);
    const inflight = post(c, '/v1/ingest/aws-cloudtrail', body.body, { ...auth(), ...NDJSON });
    await g.reached;
    let closed = false;
    const closing = c.close().then((s) => {
      closed = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    await expect(fetch(`${c.address}/healthz`)).rejects.toThrow();
    g.open();
    expect((await inflight).body).toMatchObject({ inserted: 7 });
    expect(await closing).toMatchObject({ inserted: 7, read: 7, byStatus: { 200: 1 } });
  });
});

describe('HTTP push: authentication setup and logs', () => {
  it('refuses to start without tokens, and without auth off loopback', async () => {
    const config = Config.parse({ tenants: TENANTS });
    const base = { store, config, clock: fixedClock('2026-11-29T00:00:00.000Z'), logger: testLogger, port: 0, env: {} };
    await expect(startHttpCollector({ ...base, host: '127.0.0.1' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/no HTTP tokens are configured.*--insecure-no-auth/) });
    await expect(startHttpCollector({ ...base, host: '0.0.0.0', insecureNoAuth: true })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('with --insecure-no-auth on loopback, takes the tenant from the account mapping', async () => {
    const config = Config.parse({ tenants: TENANTS });
    const c = await startHttpCollector({ store, config, clock: fixedClock('2026-11-29T00:00:00.000Z'), logger: testLogger, host: '127.0.0.1', port: 0, env: {}, insecureNoAuth: true });
    running.push(c);
    const r = await post(c, '/v1/ingest/aws-cloudtrail', ndjson('delete-imported-key-material'), NDJSON);
    expect(r.body).toMatchObject({ tenant: null, inserted: 1 });
    expect((await eventsById([eventIdOf('delete-imported-key-material')]))[0]?.tenant).toBe('acme');
  });

  it('accepts a token given as KEYWATCH_HTTP_TOKEN_<TENANT>', async () => {
    const c = await serve({ env: { KEYWATCH_HTTP_TOKEN_UMBRELLA_CORP: 'umbrella-token-0123456789' } });
    const r = await post(c, '/v1/ingest/aws-cloudtrail', ndjson('delete-key-service-event'), { ...auth('umbrella-token-0123456789'), ...NDJSON });
    expect(r.body).toMatchObject({ tenant: 'umbrella-corp', inserted: 1 });
  });

  it('logs one structured line per request, without tokens, query strings or record contents', async () => {
    logLines.length = 0;
    const c = await serve();
    await post(c, '/v1/ingest/aws-cloudtrail', ndjson('rotate-key-service-event'), { ...auth(), ...NDJSON });
    await post(c, '/v1/ingest/aws-cloudtrail', ndjson('rotate-key-service-event'), { ...auth(`${INITECH_TOKEN}-wrong`), ...NDJSON });
    await fetch(`${c.address}/v1/ingest/aws-cloudtrail?access_token=${GLOBEX_TOKEN}`);
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.msg !== undefined && String(l.msg).startsWith('http request'))).toEqual([
      expect.objectContaining({ method: 'POST', path: '/v1/ingest/:format', status: 200, tenant: 'globex', format: 'aws-cloudtrail', read: 1, inserted: 1, remote: '127.0.0.1' }),
      expect.objectContaining({ method: 'POST', path: '/v1/ingest/:format', status: 401, error: 'unauthorized' }),
      expect.objectContaining({ method: 'GET', path: '/v1/ingest/:format', status: 405 }),
    ]);
    const text = logLines.join('');
    for (const secret of [GLOBEX_TOKEN, INITECH_TOKEN, 'Bearer', 'eventSource', 'arn:aws']) expect(text).not.toContain(secret);
  });
});

describe('fitJsonFraming', () => {
  it('leaves NDJSON, arrays, text and single-line records alone', () => {
    for (const s of ['{"a":1}\n{"a":2}\n', '[{"a":1},\n{"a":2}]', '{"records": [\n{"a":1}]}', '2026-03-02 08:14:52 audit line\n', '{"a":1}', '{"a":1}\n\n', '{"a":\n1}\n{"b":2}']) {
      expect(fitJsonFraming(Buffer.from(s), 1024).toString()).toBe(s);
    }
  });

  it('joins the lines of one pretty-printed document', () => {
    expect(fitJsonFraming(Buffer.from('{\r\n  "a": [1,\n 2]\n}\n'), 1024).toString()).toBe('{    "a": [1,  2] } ');
  });

  it('leaves a pretty-printed document larger than one record may be to the line framing', () => {
    const big = JSON.stringify({ a: 'x'.repeat(2000) }, null, 2);
    expect(fitJsonFraming(Buffer.from(big), 1024).toString()).toBe(big);
  });
});

describe('keywatch collect', () => {
  it('serves until SIGTERM, stores pushed events under the token tenant, prints the address and a summary, exits 0', async () => {
    const cli = tempDir('keywatch-collect-cli-');
    try {
      const dataDir = join(cli.path, 'store');
      const cfg = join(cli.path, 'keywatch.config.json');
      writeFileSync(cfg, JSON.stringify({ tenants: TENANTS, http: { tokens: [{ tenant: 'globex', token: GLOBEX_TOKEN }] } }));
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEYWATCH_')));
      const child = spawn(process.execPath, [BIN, '--config', cfg, '--data-dir', dataDir, 'collect', '--listen', '127.0.0.1:0'], { env, cwd: cli.path, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const out: string[] = [];
      const lines = createInterface({ input: child.stdout });
      const address = await new Promise<string>((resolve, reject) => {
        lines.on('line', (l) => {
          out.push(l);
          const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(l);
          if (m) resolve(m[1] as string);
        });
        void exited.then((code) => reject(new Error(`collect exited ${code} before listening: ${stderr}`)));
      });
      const r = await fetch(`${address}/v1/ingest/aws-cloudtrail`, { method: 'POST', headers: { ...auth(), ...NDJSON }, body: ndjson('decrypt-assumed-role') });
      expect(r.status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out[0]).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
      expect(out.join('\n')).toMatch(/requests +1 \(200: 1\)\n.*\n.*\ninserted +1/);
      expect(stderr).not.toContain(GLOBEX_TOKEN);
      const q = spawnSync(process.execPath, [BIN, '--data-dir', dataDir, 'sql', '--format', 'json', 'SELECT event_id, account, tenant FROM key_events'], { env, cwd: cli.path, encoding: 'utf8' });
      expect(JSON.parse(q.stdout)).toEqual([{ event_id: eventIdOf('decrypt-assumed-role'), account: '111122223333', tenant: 'globex' }]);
    } finally {
      cli.remove();
    }
  });

  it('refuses to start without a token, in one line, with exit code 2', () => {
    const cli = tempDir('keywatch-collect-cli-');
    try {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEYWATCH_')));
      const r = spawnSync(process.execPath, [BIN, '--data-dir', join(cli.path, 'store'), 'collect', '--listen', '127.0.0.1:0'], { env, cwd: cli.path, encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^keywatch: no HTTP tokens are configured/);
    } finally {
      cli.remove();
    }
  });
});
