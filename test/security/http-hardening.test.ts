import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { generateCloudTrail } from '../../demo/cloudtrail-generator.ts';
import { startHttpCollector, type HttpCollector } from '../../ingest/transports/http.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// The HTTP collector against hostile clients: tenant pinning, rate limits, slow and oversized
// requests, all on real sockets against one embedded store (one chdb data directory per process).

const ACME_TOKEN = 'acme-push-token-0123456789abcdef';
const GLOBEX_TOKEN = 'globex-push-token-0123456789abcdef';
const TOKENS = [
  { tenant: 'acme', token: ACME_TOKEN },
  { tenant: 'globex', token: GLOBEX_TOKEN },
];
const NDJSON = { 'content-type': 'application/x-ndjson' };
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** Distinct generated CloudTrail KMS records: an NDJSON body, their event ids and accounts. */
function generated(seed: number, n: number, days = 1): { body: string; ids: string[]; accounts: string[] } {
  const recs = [...generateCloudTrail({ start: new Date('2026-06-01T00:00:00Z'), days, seed })].slice(0, n);
  expect(recs).toHaveLength(n);
  return { body: recs.map((r) => JSON.stringify(r)).join('\n') + '\n', ids: recs.map((r) => String(r.eventID)), accounts: [...new Set(recs.map((r) => String(r.recipientAccountId)))] };
}

// Every account of the generated estate belongs to acme by the account mapping.
const SEEDED = generated(7, 40);
const TENANTS = Object.fromEntries(SEEDED.accounts.map((a) => [a, 'acme']));

const dir = tempDir('keywatch-security-http-');
let store: Store;
const running: HttpCollector[] = [];
const logLines: string[] = [];
const logger: Logger = pino({ level: 'info', base: undefined }, { write: (s: string) => void logLines.push(s) });

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

async function serve(http: Record<string, unknown> = {}, o: { insecureNoAuth?: boolean; store?: Store } = {}): Promise<HttpCollector> {
  const config = Config.parse({ tenants: TENANTS, http: { ...(o.insecureNoAuth ? {} : { tokens: TOKENS }), ...http } });
  const c = await startHttpCollector({ store, config, clock: fixedClock('2026-11-29T00:00:00.000Z'), logger, host: '127.0.0.1', port: 0, env: {}, ...o });
  running.push(c);
  return c;
}

async function post(c: HttpCollector, body: string | Buffer, headers: Record<string, string>, path = '/v1/ingest/aws-cloudtrail') {
  const r = await fetch(`${c.address}${path}`, { method: 'POST', headers, body });
  return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, any> };
}

const eventsOf = (ids: string[]) =>
  store.query<{ event_id: string; tenant: string; account: string; principal: string; ingest_time: string }>(
    'SELECT event_id, tenant, account, principal, toString(ingest_time) AS ingest_time FROM key_events WHERE event_id IN {ids:Array(String)} ORDER BY event_id',
    { ids },
  );
const batchCount = async () => Number((await store.query<{ n: string }>('SELECT count() AS n FROM ingest_batches'))[0]?.n);

interface RawExchange {
  /** Everything the server sent before closing. */
  response: string;
  /** Bytes the client had written when the server closed the connection. */
  written: number;
  /** True when the server closed before the client ran out of bytes to send. */
  cutOff: boolean;
}

/**
 * Writes `head` at once, then `trickle` one slice every `everyMs`, until the server closes the
 * connection or everything is sent; resolves when the connection ends.
 */
function slowClient(address: string, head: string, trickle: Buffer, o: { sliceBytes: number; everyMs: number }): Promise<RawExchange> {
  const { hostname, port } = new URL(address);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let written = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ response: Buffer.concat(chunks).toString('utf8'), written, cutOff: written < trickle.length });
    });
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (socket.destroyed) return;
        if (written >= trickle.length) {
          clearInterval(timer);
          // Sent everything: give the server a moment to answer, then hang up.
          setTimeout(() => socket.end(), 2000);
          return;
        }
        const slice = trickle.subarray(written, written + o.sliceBytes);
        written += slice.length;
        socket.write(slice);
      }, o.everyMs);
    });
    setTimeout(() => reject(new Error('slow client: the server never closed the connection')), 30_000).unref();
  });
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
const jsonOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };

describe('tenant pinning', () => {
  it('stores records sent with tenant A’s token as A even when their account maps to tenant B, and leaves B’s events untouched', async () => {
    // acme's events arrive first, tenant taken from the account mapping.
    const open = await serve({}, { insecureNoAuth: true });
    const seeded = await post(open, SEEDED.body, NDJSON);
    expect(seeded.body).toMatchObject({ tenant: null, inserted: 40 });
    await open.close();
    const before = await eventsOf(SEEDED.ids);
    expect(new Set(before.map((e) => e.tenant))).toEqual(new Set(['acme']));

    const c = await serve();
    // globex pushes new records of acme's accounts, plus copies of acme's own records. Duplicates
    // are judged within globex's own events only: the copies tell globex nothing about acme's data.
    const fresh = generated(8, 30);
    expect(fresh.ids.some((id) => SEEDED.ids.includes(id))).toBe(false);
    const copyLines = SEEDED.body.split('\n').slice(0, 10);
    const body = fresh.body + copyLines.join('\n') + '\n';
    const r = await post(c, body, { ...auth(GLOBEX_TOKEN), ...NDJSON });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ tenant: 'globex', read: 40, inserted: 40, duplicates: 0 });
    // A resend is recognised as globex's own duplicates.
    const again = await post(c, body, { ...auth(GLOBEX_TOKEN), ...NDJSON });
    expect(again.body).toMatchObject({ tenant: 'globex', read: 40, inserted: 0, duplicates: 40 });

    const theirs = await eventsOf(fresh.ids);
    expect(theirs).toHaveLength(30);
    expect(new Set(theirs.map((e) => e.tenant))).toEqual(new Set(['globex']));
    expect(theirs.every((e) => fresh.accounts.includes(e.account) && TENANTS[e.account] === 'acme')).toBe(true);
    // acme's rows are exactly as they were: same tenant, same values; globex's copies are its own rows.
    const acmeAfter = (await eventsOf(SEEDED.ids)).filter((e) => e.tenant === 'acme');
    expect(acmeAfter).toEqual(before);
    const [n] = await store.query<{ n: string }>("SELECT count() AS n FROM key_events WHERE tenant = 'globex' AND event_id IN {ids:Array(String)}", { ids: SEEDED.ids });
    expect(Number(n?.n)).toBe(10);
  });
});

describe('request rate limit', () => {
  it('answers 429 with Retry-After and the collector’s error shape past http.rateLimit.max, per tenant, and stores nothing from the refused request', async () => {
    const c = await serve({ rateLimit: { max: 3, windowMs: 60_000 } });
    const one = generated(21, 4);
    const lines = one.body.trim().split('\n');
    for (let i = 0; i < 3; i++) {
      const r = await post(c, `${lines[i]}\n`, { ...auth(GLOBEX_TOKEN), ...NDJSON });
      expect(r.status).toBe(200);
    }
    const refused = await post(c, `${lines[3]}\n`, { ...auth(GLOBEX_TOKEN), ...NDJSON });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(/more than 3 requests in 60 s \(http\.rateLimit\)/) } });
    expect((await eventsOf(one.ids)).map((e) => e.event_id).sort()).toEqual(one.ids.slice(0, 3).sort());

    // Another tenant has its own budget; /healthz is never limited.
    const other = await post(c, `${lines[3]}\n`, { ...auth(ACME_TOKEN), ...NDJSON });
    expect(other.status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await fetch(`${c.address}/healthz`)).status).toBe(200);
  });

  it('limits requests without a valid token per client address, so guessing tokens is slowed too', async () => {
    const c = await serve({ rateLimit: { max: 2, windowMs: 60_000 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(c, '{}\n', { ...auth(`wrong-token-${i}-0123456789abcdef`), ...NDJSON })).status);
    expect(statuses).toEqual([401, 401, 429, 429]);
    // A valid token is counted under its tenant, not the address.
    expect((await post(c, '\n', { ...auth(ACME_TOKEN), ...NDJSON })).status).not.toBe(429);
  });
});

describe('slow clients', () => {
  const LIMITS = { headersTimeoutMs: 300, requestTimeoutMs: 1000 };

  it('answers 408 and closes a connection whose headers arrive byte by byte slower than http.headersTimeoutMs', async () => {
    const c = await serve(LIMITS);
    const head = `POST /v1/ingest/aws-cloudtrail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${GLOBEX_TOKEN}\r\nContent-Type: application/x-ndjson\r\nX-Padding: ${'p'.repeat(200)}\r\nContent-Length: 3\r\n\r\n{}\n`;
    const x = await slowClient(c.address, '', Buffer.from(head), { sliceBytes: 1, everyMs: 20 });
    expect(x.cutOff).toBe(true);
    expect(statusOf(x.response)).toBe(408);
    expect(jsonOf(x.response).error.code).toBe('request_timeout');
    expect(logLines.some((l) => l.includes('"status":408') && l.includes('http connection refused'))).toBe(true);
  });

  it('closes a connection that opens and sends nothing', async () => {
    const c = await serve(LIMITS);
    const x = await slowClient(c.address, '', Buffer.alloc(0), { sliceBytes: 1, everyMs: 60_000 });
    expect(x.written).toBe(0);
    expect(x.response === '' || statusOf(x.response) === 408).toBe(true);
  });

  it('answers 408 to a body trickled past http.requestTimeoutMs, and stores nothing of it', async () => {
    const c = await serve(LIMITS);
    const g = generated(31, 5);
    const body = Buffer.from(g.body);
    const batches = await batchCount();
    const head = `POST /v1/ingest/aws-cloudtrail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${GLOBEX_TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${body.length}\r\n\r\n`;
    const x = await slowClient(c.address, head, body, { sliceBytes: 16, everyMs: 50 });
    expect(x.cutOff).toBe(true);
    expect(statusOf(x.response)).toBe(408);
    expect(jsonOf(x.response).error.code).toBe('request_timeout');
    // Let the handler notice the dead connection before looking at the store.
    await new Promise((r) => setTimeout(r, 200));
    expect(await eventsOf(g.ids)).toEqual([]);
    expect(await batchCount()).toBe(batches);
    expect(c.stats().waiting).toBe(0);
  });

  it('still accepts a body that arrives in pieces within the limits', async () => {
    const c = await serve(LIMITS);
    const g = generated(32, 2);
    const body = Buffer.from(g.body);
    const head = `POST /v1/ingest/aws-cloudtrail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${GLOBEX_TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const x = await slowClient(c.address, head, body, { sliceBytes: Math.ceil(body.length / 3), everyMs: 50 });
    expect(statusOf(x.response)).toBe(200);
    expect(await eventsOf(g.ids)).toHaveLength(2);
  });

  it('answers a request whose body arrived in time even when the store takes longer than http.requestTimeoutMs', async () => {
    // The timeout covers receiving the request, not the wait for the store behind other requests.
    const slow: Store = Object.assign(Object.create(store) as Store, {
      withInput: async <T>(input: Parameters<Store['withInput']>[0], fn: (relation: string) => Promise<T>) => {
        await new Promise((r) => setTimeout(r, 1500));
        return store.withInput(input, fn);
      },
    });
    const c = await serve(LIMITS, { store: slow });
    const g = generated(33, 2);
    const r = await post(c, g.body, { ...auth(GLOBEX_TOKEN), ...NDJSON });
    expect(r.status).toBe(200);
    expect(r.body.inserted).toBe(2);
  });
});

describe('size limits', () => {
  it('answers 431 in the collector’s error shape when the request head exceeds http.maxHeaderBytes', async () => {
    const c = await serve({ maxHeaderBytes: 4096 });
    const head = `POST /v1/ingest/aws-cloudtrail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${GLOBEX_TOKEN}\r\nX-Big: ${'b'.repeat(8192)}\r\nContent-Length: 0\r\n\r\n`;
    const x = await slowClient(c.address, head, Buffer.alloc(0), { sliceBytes: 1, everyMs: 10 });
    expect(statusOf(x.response)).toBe(431);
    expect(jsonOf(x.response).error.code).toBe('headers_too_large');
    // Just under the limit is fine.
    const ok = await fetch(`${c.address}/healthz`, { headers: { 'x-big': 'b'.repeat(2048) } });
    expect(ok.status).toBe(200);
  });

  it('answers 413 to a gzip bomb of real records and stores none of them', async () => {
    const c = await serve({ maxBodyBytes: 256 * 1024 });
    const g = generated(41, 2000, 7);
    const bomb = gzipSync(Buffer.from(g.body));
    expect(Buffer.byteLength(g.body)).toBeGreaterThan(256 * 1024 * 4);
    expect(bomb.length).toBeLessThan(256 * 1024);
    const batches = await batchCount();
    const r = await post(c, bomb, { ...auth(GLOBEX_TOKEN), ...NDJSON, 'content-encoding': 'gzip' });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('body_too_large');
    expect(await eventsOf(g.ids.slice(0, 200))).toEqual([]);
    expect(await batchCount()).toBe(batches);
  });

  it('closes connections beyond http.maxConnections at once', async () => {
    const c = await serve({ maxConnections: 2 });
    const { hostname, port } = new URL(c.address);
    const held = [connect({ host: hostname, port: Number(port) }), connect({ host: hostname, port: Number(port) })];
    await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))));
    await new Promise((r) => setTimeout(r, 100));
    const third = await slowClient(c.address, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', Buffer.alloc(0), { sliceBytes: 1, everyMs: 10 });
    expect(third.response).toBe('');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${c.address}/healthz`)).status).toBe(200);
  });
});
