import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { openSpool } from '../../ingest/spool.ts';
import { startSpoolReplayer } from '../../ingest/spool-replayer.ts';
import { startHttpCollector } from '../../ingest/transports/http.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { verifyChain } from '../../storage/ledger.ts';
import { migrate } from '../../storage/migrate.ts';
import { StoreError } from '../../storage/store-error.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { cloudTrailRecords, countEvents } from './events.ts';

// Fault: the store goes away in the middle of an HTTP push stream and comes back. The wrapper
// fails every call the way the server store reports a dropped connection (STORE_UNAVAILABLE,
// "connection reset", which isRetryable accepts), including calls in the middle of a batch.

const dir = tempDir('keywatch-fault-http-');
let inner: Store;
const TOKEN = 'fault-test-token-0123456789';
const logger: Logger = pino({ level: 'silent' });

interface Flaky extends Store {
  down: boolean;
  failures: number;
}

function flaky(s: Store): Flaky {
  const f = {
    down: false,
    failures: 0,
    backend: s.backend,
    database: s.database,
  } as Flaky;
  const gate = () => {
    if (f.down) {
      f.failures++;
      throw new StoreError('STORE_UNAVAILABLE', 'cannot reach ClickHouse server at http://127.0.0.1:8123: connection reset');
    }
  };
  f.exec = async (sql, params) => (gate(), s.exec(sql, params));
  f.query = async (sql, params) => (gate(), s.query(sql, params));
  f.queryText = async (sql, format, params) => (gate(), s.queryText(sql, format, params));
  f.insertRaw = async (t, fmt, payload, cols) => (gate(), s.insertRaw(t, fmt, payload, cols));
  f.insertRows = async (t, rows) => (gate(), s.insertRows(t, rows));
  f.withInput = async (input, fn) => (gate(), s.withInput(input, fn));
  f.info = async () => (gate(), s.info());
  f.close = async () => undefined;
  return f;
}

beforeAll(async () => {
  inner = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
  await migrate(inner, { now: () => new Date() });
});
afterAll(async () => {
  await inner?.close();
  dir.remove();
});

const config = Config.parse({ http: { tokens: [{ tenant: 'acme', token: TOKEN }] } });

async function push(address: string, lines: string[]): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const r = await fetch(`${address}/v1/ingest/aws-cloudtrail`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
    body: lines.join('\n') + '\n',
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown>, retryAfter: r.headers.get('retry-after') };
}

describe('HTTP push through a store outage', () => {
  it('acknowledges every request while the store is down, replays the spool in order when it returns, and stores each event exactly once', { timeout: 120_000 }, async () => {
    const store = flaky(inner);
    const spool = openSpool({ dir: join(dir.path, 'spool-a'), maxBytes: 64 << 20, clock: systemClock, logger });
    const collector = await startHttpCollector({ store, config, clock: systemClock, logger, host: '127.0.0.1', port: 0, env: {}, spool, retry: { attempts: 2, baseDelayMs: 20 } });
    const replayer = startSpoolReplayer({ spool, store, config, clock: systemClock, logger, baseDelayMs: 50, maxDelayMs: 400 });
    try {
      const { lines, ids } = cloudTrailRecords(800, 11);
      const requests = 40;
      const per = lines.length / requests;
      const statuses: number[] = [];
      // Four clients at a time, as a shipper with a small connection pool would send.
      let next = 0;
      const client = async () => {
        for (let i = next++; i < requests; i = next++) {
          if (i === 10) store.down = true;
          if (i === 28) store.down = false;
          const r = await push(collector.address, lines.slice(i * per, (i + 1) * per));
          statuses[i] = r.status;
          if (r.status === 202) expect(r.body).toMatchObject({ spooled: true, requestId: expect.any(String), spool: { entries: expect.any(Number) } });
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      expect(statuses.filter((s) => s !== 200 && s !== 202)).toEqual([]);
      expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(0);
      expect(store.failures).toBeGreaterThan(0);

      await replayer.drained();
      expect(spool.stats()).toMatchObject({ entries: 0, corrupt: 0, rejected: 0 });
      expect(replayer.stats().replayed).toBe(statuses.filter((s) => s === 202).length);

      const counts = await countEvents(inner, ids);
      expect(counts).toEqual({ sent: 800, stored: 800, rows: 800 });
      // Replayed batches extend the same ledger chain as the direct ones.
      expect((await verifyChain(inner)).ok).toBe(true);
    } finally {
      await collector.close();
      await replayer.stop();
    }
  });

  it('replays a spool left by a stopped collector, and spools new requests behind it until it is drained', { timeout: 60_000 }, async () => {
    const store = flaky(inner);
    const { lines, ids } = cloudTrailRecords(90, 29);
    const part = (i: number) => lines.slice(i * 30, (i + 1) * 30);
    const spoolPath = join(dir.path, 'spool-c');
    const first = await startHttpCollector({ store, config, clock: systemClock, logger, host: '127.0.0.1', port: 0, env: {}, spool: openSpool({ dir: spoolPath, maxBytes: 8 << 20, clock: systemClock, logger }), retry: { attempts: 1, baseDelayMs: 10 } });
    store.down = true;
    expect((await push(first.address, part(0))).status).toBe(202);
    expect((await push(first.address, part(1))).status).toBe(202);
    await first.close();

    // A new process: the store is back, but older records wait in the spool, so this one queues behind them.
    store.down = false;
    const spool = openSpool({ dir: spoolPath, maxBytes: 8 << 20, clock: systemClock, logger });
    expect(spool.size()).toBe(2);
    const second = await startHttpCollector({ store, config, clock: systemClock, logger, host: '127.0.0.1', port: 0, env: {}, spool });
    try {
      const behind = await push(second.address, part(2));
      expect(behind.status).toBe(202);
      expect(behind.body).toMatchObject({ spooled: true, spool: { entries: 3 } });
      const order: string[] = [];
      const replayer = startSpoolReplayer({ spool, store, config, clock: systemClock, logger, baseDelayMs: 50, onReplayed: (m) => order.push(m.requestId) });
      await replayer.drained();
      await replayer.stop();
      expect(order[2]).toBe(behind.body.requestId);
      expect(order).toHaveLength(3);
      expect(await countEvents(inner, ids)).toEqual({ sent: 90, stored: 90, rows: 90 });
      // Drained: requests are written directly again.
      expect((await push(second.address, part(0))).status).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('with http.acknowledge: spooled, answers 202 once the body is in the spool, stores many requests per run through an outage, and refuses an unrecognisable body at once', { timeout: 120_000 }, async () => {
    const store = flaky(inner);
    const ack = Config.parse({ http: { tokens: [{ tenant: 'acme', token: TOKEN }], acknowledge: 'spooled' } });
    const spool = openSpool({ dir: join(dir.path, 'spool-ack'), maxBytes: 64 << 20, clock: systemClock, logger });
    const collector = await startHttpCollector({ store, config: ack, clock: systemClock, logger, host: '127.0.0.1', port: 0, env: {}, spool });
    const runs: number[] = [];
    const replayer = startSpoolReplayer({ spool, store, config: ack, clock: systemClock, logger, baseDelayMs: 50, maxDelayMs: 400, onReplayed: () => runs.push(Date.now()) });
    try {
      const { lines, ids } = cloudTrailRecords(600, 41);
      const requests = 60;
      const per = lines.length / requests;
      let next = 0;
      const statuses: number[] = [];
      const client = async () => {
        for (let i = next++; i < requests; i = next++) {
          if (i === 20) store.down = true;
          if (i === 40) store.down = false;
          const r = await push(collector.address, lines.slice(i * per, (i + 1) * per));
          statuses[i] = r.status;
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      // Every request is acknowledged by the spool, whatever the store is doing.
      expect(statuses).toEqual(Array(requests).fill(202));

      const unknown = await fetch(`${collector.address}/v1/ingest/auto`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
        body: 'this is no audit log at all\n',
      });
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('format_not_detected');

      await replayer.drained();
      expect(spool.stats()).toMatchObject({ entries: 0, corrupt: 0, rejected: 0 });
      expect(replayer.stats().replayed).toBe(requests);
      expect(store.failures).toBeGreaterThan(0);
      // Stored in fewer runs than requests: consecutive bodies share a run (onReplayed fires per body, with the run's time).
      expect(new Set(runs).size).toBeLessThan(requests);
      expect(await countEvents(inner, ids)).toEqual({ sent: 600, stored: 600, rows: 600 });
      const vc = await verifyChain(inner);
      expect(vc, JSON.stringify(vc).slice(0, 2000)).toMatchObject({ ok: true });
    } finally {
      await collector.close();
      await replayer.stop();
    }
  });

  it('answers 503 spool_full with Retry-After only when the spool cannot take the body, and stores what it took', { timeout: 60_000 }, async () => {
    const store = flaky(inner);
    const { lines, ids } = cloudTrailRecords(60, 23);
    const part = (i: number) => lines.slice(i * 20, (i + 1) * 20);
    const bodyBytes = Buffer.byteLength(part(0).join('\n') + '\n');
    // Room for two bodies of this size, not three.
    const spool = openSpool({ dir: join(dir.path, 'spool-b'), maxBytes: Math.floor(bodyBytes * 2.5), clock: systemClock, logger });
    const collector = await startHttpCollector({ store, config, clock: systemClock, logger, host: '127.0.0.1', port: 0, env: {}, spool, retry: { attempts: 1, baseDelayMs: 10 } });
    try {
      store.down = true;
      expect((await push(collector.address, part(0))).status).toBe(202);
      expect((await push(collector.address, part(1))).status).toBe(202);
      const full = await push(collector.address, part(2));
      expect(full.status).toBe(503);
      expect(full.body).toMatchObject({ error: { code: 'spool_full' } });
      expect(Number(full.retryAfter)).toBeGreaterThan(0);
      expect(spool.stats()).toMatchObject({ entries: 2, fullRefusals: 1 });

      store.down = false;
      const replayer = startSpoolReplayer({ spool, store, config, clock: systemClock, logger, baseDelayMs: 50 });
      await replayer.drained();
      await replayer.stop();
      // The client sends the refused body again once the store is back.
      expect((await push(collector.address, part(2))).status).toBe(200);
      expect(await countEvents(inner, ids)).toEqual({ sent: 60, stored: 60, rows: 60 });
    } finally {
      await collector.close();
    }
  });
});
