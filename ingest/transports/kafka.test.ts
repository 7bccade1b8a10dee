import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { Config } from '../../core/config.ts';
import { KeyEvent } from '../../core/key-event.ts';
import { createLogger } from '../../core/logger.ts';
import { generateCloudTrail } from '../../demo/cloudtrail-generator.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import { StoreError } from '../../storage/store-error.ts';
import type { Store } from '../../storage/store.ts';
import { buildMockBroker, missingMockBrokerMustFail, startMockBroker, type MockBroker } from '../../test/helpers/kafka-mock/mock-broker.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import {
  DEAD_LETTER_HEADERS,
  fetchKafkaLag,
  openKafkaProducer,
  readKafkaTopic,
  startKafkaConsumers,
  type KafkaBatchSummary,
  type KafkaConsumers,
  type OutgoingMessage,
  type PartitionLag,
} from './kafka.ts';

// Real produce, fetch, group membership and offset commits against librdkafka's mock cluster
// (test/helpers/kafka-mock). The mock's group coordinator waits 3 s before the first join and
// sessionTimeout - 1 s for a join into a running group, so each consumer start costs seconds; the
// tests on their own topics and groups run concurrently to overlap those waits. The store-outage
// test runs alone: its failing store wrapper is a second pipeline lock on the same store.

const mock = buildMockBroker();
if (!mock.ok) {
  if (missingMockBrokerMustFail()) {
    describe('Kafka transport', () => {
      it('requires gcc and librdkafka-dev in CI', () => {
        throw new Error(mock.message);
      });
    });
  } else {
    console.warn(`[kafka transport] skipped: ${mock.message}`);
  }
}

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'aws-kms', 'fixtures');
const GOOD = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();
const fixture = (name: string) => readFileSync(join(FIXTURES, `${name}.json`), 'utf8').replace(/\r?\n$/, '');
const TENANTS = { '111122223333': 'acme' };
const CLOCK = fixedClock('2026-11-29T00:00:00.000Z');
const quiet = createLogger('silent');

/** `n` CloudTrail records with event ids of their own, as NDJSON lines. */
function cloudTrail(n: number, seed: number): string[] {
  const out: string[] = [];
  for (const r of generateCloudTrail({ start: new Date('2026-05-04T00:00:00Z'), days: 2, seed, rateScale: 4 })) {
    out.push(JSON.stringify({ ...r, eventID: randomUUID() }));
    if (out.length === n) return out;
  }
  throw new Error(`the generator made fewer than ${n} records`);
}

// Group joins, rebalances and many small store batches on a 2-core machine shared with other work.
const SLOW_TEST_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(100);
  }
}

const caughtUp = (lag: PartitionLag[]) => lag.every((p) => p.lag === 0 && (p.highWatermark === 0 || p.committedOffset === p.highWatermark));

/** A store that fails as an unreachable server does while `down` is set. */
function flakyStore(inner: Store, state: { down: boolean }): Store {
  return new Proxy(inner, {
    get(target, key) {
      const v = Reflect.get(target, key) as unknown;
      if (typeof v !== 'function' || key === 'close') return v;
      return (...args: unknown[]) => {
        if (state.down) return Promise.reject(new StoreError('STORE_UNAVAILABLE', 'cannot reach ClickHouse: connect ECONNREFUSED 127.0.0.1:8123'));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A store whose statements wait while `gate` is set, to hold a batch in flight. */
function gatedStore(inner: Store, state: { gate: Promise<void> | undefined; waiting: number }): Store {
  return new Proxy(inner, {
    get(target, key) {
      const v = Reflect.get(target, key) as unknown;
      if (typeof v !== 'function' || key === 'close') return v;
      return async (...args: unknown[]) => {
        if (state.gate) {
          state.waiting++;
          await state.gate;
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe.skipIf(!mock.ok)('Kafka transport against the librdkafka mock cluster', () => {
  let dir: ReturnType<typeof tempDir>;
  let broker: MockBroker;
  let store: Store;
  let producer: Awaited<ReturnType<typeof openKafkaProducer>>;
  const running: KafkaConsumers[] = [];

  const config = (kafka: Record<string, unknown>, extra: Record<string, unknown> = {}): Config =>
    Config.parse({
      dataDir: dir.path,
      tenants: TENANTS,
      ingest: { maxRecordBytes: 16 * 1024 },
      ...extra,
      kafka: { brokers: broker.brokers, sessionTimeoutMs: 3000, heartbeatIntervalMs: 400, ...kafka },
    });

  const start = async (cfg: Config, opts: { store?: Store; batches?: KafkaBatchSummary[] } = {}) => {
    const batches = opts.batches;
    const c = await startKafkaConsumers({
      store: opts.store ?? store,
      config: cfg,
      clock: CLOCK,
      logger: quiet,
      retry: { baseDelayMs: 200, maxDelayMs: 800 },
      ...(batches ? { onBatch: (b: KafkaBatchSummary) => batches.push(b) } : {}),
    });
    running.push(c);
    return c;
  };

  const send = (topic: string, values: (string | Buffer | null)[], extra: Partial<OutgoingMessage> = {}) =>
    producer.send(topic, values.map((value) => ({ value, ...extra })));

  /** Stored events whose raw record came from `topic`: rows, and distinct event ids. */
  const storedFrom = async (topic: string) => {
    const [row] = await store.query<{ n: string; d: string }>(
      `SELECT count() AS n, uniqExact(event_id) AS d FROM key_events
       WHERE raw_id IN (SELECT concat(batch_id, ':', toString(seq)) FROM raw_events WHERE origin LIKE {o:String})`,
      { o: `kafka://${topic}/%` },
    );
    return { rows: Number(row?.n), distinct: Number(row?.d) };
  };

  beforeAll(async () => {
    dir = tempDir('keywatch-kafka-');
    broker = await startMockBroker({
      brokers: 3,
      topics: { 'ct-fixtures': 3, 'ct-globex': 2, mixed: 1, 'mixed-dlq': 1, rebalance: 4, restart: 2, outage: 1, inflight: 1, fatal: 1 },
    });
    store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
    await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
    producer = await openKafkaProducer(config({}).kafka, quiet);
  });

  afterAll(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    await store?.close();
    await broker?.stop();
    dir?.remove();
  });

  it('refuses to start without brokers or topics, or with a format nobody knows, before connecting', async () => {
    await expect(startKafkaConsumers({ store, config: Config.parse({ kafka: { brokers: ['127.0.0.1:9'] } }), clock: CLOCK, logger: quiet })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('kafka.topics'),
    });
    await expect(
      startKafkaConsumers({ store, config: Config.parse({ kafka: { brokers: ['127.0.0.1:9'], topics: [{ topic: 'x', format: 'no-such-format' }] } }), clock: CLOCK, logger: quiet }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('kafka.topics[0] (x): unknown --format "no-such-format"') });
  });

  it.concurrent('stores CloudTrail fixtures from Kafka exactly as file ingest does, with each topic’s format and tenant, and commits up to the high watermarks', async ({ expect }) => {
    const globex = cloudTrail(40, 3);
    await producer.send('ct-fixtures', GOOD.map((name) => ({ key: name, value: `${fixture(name)}\n` })));
    await send('ct-globex', globex.slice(0, 20));
    await send('ct-globex', globex.slice(20));

    const batches: KafkaBatchSummary[] = [];
    const c = await start(
      config({
        groupId: 'g-fixtures',
        topics: [
          { topic: 'ct-fixtures', format: 'aws-cloudtrail' },
          { topic: 'ct-globex', format: 'auto', tenant: 'globex' },
        ],
      }),
      { batches },
    );
    await waitFor('every partition is committed up to its high watermark', async () => caughtUp(await c.lag()) && batches.length > 0);

    const lag = await c.lag();
    expect(lag.map((p) => `${p.topic}/${p.partition}`)).toEqual(['ct-fixtures/0', 'ct-fixtures/1', 'ct-fixtures/2', 'ct-globex/0', 'ct-globex/1']);
    expect(lag.reduce((a, p) => a + p.highWatermark, 0)).toBe(GOOD.length + globex.length);
    expect(lag.filter((p) => p.topic === 'ct-fixtures').reduce((a, p) => a + p.highWatermark, 0)).toBe(GOOD.length);
    for (const p of lag) expect(p.committedOffset ?? 0).toBe(p.highWatermark);

    // The same KeyEvent as the file transport gives for each fixture (its expected file).
    for (const name of GOOD) {
      const expected = JSON.parse(readFileSync(join(FIXTURES, `${name}.expected.json`), 'utf8')) as Record<string, unknown>;
      const rows = await store.query('SELECT * FROM key_events WHERE event_id = {id:String}', { id: expected.event_id });
      expect(rows, name).toHaveLength(1);
      expect({ ...KeyEvent.parse(rows[0]), raw_id: '<batch_id>:0' }, name).toEqual(expected);
    }
    const raws = await store.query<{ transport: string; origin: string; position: string }>(
      "SELECT transport, origin, position FROM raw_events WHERE origin LIKE 'kafka://ct-fixtures/%' ORDER BY position",
    );
    expect(raws).toHaveLength(GOOD.length);
    for (const r of raws) {
      expect(r.transport).toBe('kafka');
      expect(r.position).toMatch(/^kafka:ct-fixtures\/[0-2]@\d+$/);
      expect(r.origin).toBe(`kafka://ct-fixtures/${r.position.slice('kafka:ct-fixtures/'.length, r.position.indexOf('@'))}`);
    }

    // The tenant of a topic overrides what the account maps to.
    expect(await storedFrom('ct-globex')).toEqual({ rows: 40, distinct: 40 });
    const tenants = await store.query<{ tenant: string; n: string }>(
      `SELECT tenant, count() AS n FROM key_events WHERE raw_id IN (SELECT concat(batch_id, ':', toString(seq)) FROM raw_events WHERE origin LIKE 'kafka://ct-globex/%') GROUP BY tenant`,
    );
    expect(tenants).toEqual([{ tenant: 'globex', n: '40' }]);

    const t = c.totals();
    expect(t).toMatchObject({ messages: GOOD.length + 40, records: GOOD.length + 40, inserted: GOOD.length + 40, duplicates: 0, quarantined: {}, tombstones: 0, groupJoins: 1 });
    expect(batches.every((b) => b.committedOffset === String(Number(b.lastOffset) + 1))).toBe(true);
    await c.stop();
  }, SLOW_TEST_MS);

  it.concurrent('quarantines poison records, copies them to the dead-letter topic with headers naming reason and source, counts tombstones, and splits multi-record messages', async ({ expect }) => {
    const [a, b, c1, c2, c3, d, e] = cloudTrail(7, 5) as [string, string, string, string, string, string, string];
    const invalid = readFileSync(join(FIXTURES, 'bad', 'invalid-json.json'), 'utf8').trim();
    const badTime = readFileSync(join(FIXTURES, 'bad', 'bad-event-time.json'), 'utf8').trim();
    const oversized = JSON.stringify({ ...(JSON.parse(a) as object), eventID: randomUUID(), padding: 'x'.repeat(20_000) });
    const values: (string | null)[] = [
      a, // 0
      invalid, // 1: poison
      null, // 2: tombstone
      '', // 3: empty value
      JSON.stringify({ Records: [JSON.parse(c1), JSON.parse(c2), JSON.parse(c3)] }), // 4: a CloudTrail file in one message
      `${d}\nnot json at all\n`, // 5: NDJSON, second line poison
      badTime, // 6: poison
      oversized, // 7: poison (over ingest.maxRecordBytes)
      JSON.stringify(JSON.parse(e), null, 2), // 8: one pretty-printed document
      b, // 9
    ];
    await send('mixed', values, { key: 'k1' });

    const batches: KafkaBatchSummary[] = [];
    const cons = await start(config({ groupId: 'g-mixed', deadLetterTopic: 'mixed-dlq', topics: [{ topic: 'mixed', format: 'aws-cloudtrail' }] }), { batches });
    await waitFor('the mixed topic is committed', async () => caughtUp(await cons.lag()) && batches.length > 0);
    await cons.stop();

    const t = cons.totals();
    expect(t).toMatchObject({
      messages: 10,
      tombstones: 2,
      records: 11,
      inserted: 7,
      duplicates: 0,
      quarantined: { invalid_json: 2, bad_event_time: 1, record_too_large: 1 },
      deadLettered: 4,
    });
    expect(await storedFrom('mixed')).toEqual({ rows: 7, distinct: 7 });

    const q = await store.query<{ reason: string; position: string; record: string; transport: string }>(
      "SELECT reason, position, record, transport FROM quarantine WHERE origin = 'kafka://mixed/0' ORDER BY position",
    );
    expect(q.map((r) => [r.reason, r.position])).toEqual([
      ['invalid_json', 'kafka:mixed/0@1'],
      ['invalid_json', 'kafka:mixed/0@5#line:2'],
      ['bad_event_time', 'kafka:mixed/0@6'],
      ['record_too_large', 'kafka:mixed/0@7'],
    ]);
    expect(q[0]?.record).toBe(invalid);
    expect(q.every((r) => r.transport === 'kafka')).toBe(true);

    const dlq = await readKafkaTopic(config({}).kafka, 'mixed-dlq', { logger: quiet });
    expect(dlq).toHaveLength(4);
    const byOffset = new Map(dlq.map((m) => [m.headers[DEAD_LETTER_HEADERS.position], m]));
    const expectCopy = (position: string, reason: string, offset: string, value: string) => {
      const m = byOffset.get(position);
      expect(byOffset.has(position), position).toBe(true);
      expect(m?.headers).toMatchObject({
        [DEAD_LETTER_HEADERS.reason]: reason,
        [DEAD_LETTER_HEADERS.topic]: 'mixed',
        [DEAD_LETTER_HEADERS.partition]: '0',
        [DEAD_LETTER_HEADERS.offset]: offset,
      });
      expect(m?.headers[DEAD_LETTER_HEADERS.message]?.length).toBeGreaterThan(0);
      expect(m?.headers[DEAD_LETTER_HEADERS.batch]).toMatch(/^[0-9a-f-]{36}$/);
      expect(m?.key?.toString()).toBe('k1');
      expect(m?.value?.toString()).toBe(value);
    };
    expectCopy('kafka:mixed/0@1', 'invalid_json', '1', invalid);
    expectCopy('kafka:mixed/0@5#line:2', 'invalid_json', '5', 'not json at all');
    expectCopy('kafka:mixed/0@6', 'bad_event_time', '6', badTime);
    expectCopy('kafka:mixed/0@7', 'record_too_large', '7', oversized);
  }, SLOW_TEST_MS);

  it.concurrent('loses nothing and stores no event twice when a second consumer joins the group mid-stream', async ({ expect }) => {
    const records = cloudTrail(600, 7);
    const batchesA: KafkaBatchSummary[] = [];
    const batchesB: KafkaBatchSummary[] = [];
    const cfg = config({ groupId: 'g-rebalance', topics: [{ topic: 'rebalance', format: 'aws-cloudtrail' }] });
    const a = await start(cfg, { batches: batchesA });
    // The mock serves one producer batch per partition per fetch, so sends of 200 make fetches of ~50.
    const sendSlice = async (from: number, to: number) => {
      for (let i = from; i < to; i += 200) {
        await send('rebalance', records.slice(i, Math.min(i + 200, to)));
        await sleep(300);
      }
    };
    await sendSlice(0, 400);
    await waitFor('the first consumer stored something', () => batchesA.length > 0);
    // B's join rebalances the group while A is consuming. The rest is sent once both members hold
    // partitions, so that B has records of its own to read (otherwise A may drain them all first).
    const b = await start(cfg, { batches: batchesB });
    await waitFor('both members have joined the rebalanced group', () => a.totals().groupJoins >= 2 && b.totals().groupJoins >= 1, 30_000);
    await sendSlice(400, 600);
    await waitFor('every partition is committed up to its high watermark', async () => caughtUp(await b.lag()) && (await storedFrom('rebalance')).distinct === 600, 60_000);

    expect(await storedFrom('rebalance')).toEqual({ rows: 600, distinct: 600 });
    expect(a.totals().groupJoins).toBeGreaterThanOrEqual(2);
    expect(batchesB.length).toBeGreaterThan(0);
    const lag = await b.lag();
    expect(lag.reduce((s, p) => s + p.highWatermark, 0)).toBe(600);
    // Redelivery across the rebalance is allowed (at least once): a record may be read twice, never stored twice.
    expect(a.totals().records + b.totals().records).toBeGreaterThanOrEqual(600);
    await Promise.all([a.stop(), b.stop()]);
  }, SLOW_TEST_MS);

  it.concurrent('resumes from the committed offsets after a restart: exactly the records produced meanwhile are read', async ({ expect }) => {
    const records = cloudTrail(350, 11);
    const cfg = config({ groupId: 'g-restart', topics: [{ topic: 'restart', format: 'aws-cloudtrail' }] });
    await send('restart', records.slice(0, 200));
    const first = await start(cfg);
    await waitFor('the first 200 are committed', async () => caughtUp(await first.lag()) && first.totals().records === 200);
    await first.stop();

    await send('restart', records.slice(200, 275));
    await send('restart', records.slice(275));
    const lagBetween = await fetchKafkaLag(cfg.kafka, quiet);
    expect(lagBetween.reduce((s, p) => s + p.lag, 0)).toBe(150);

    const second = await start(cfg);
    await waitFor('the new 150 are committed', async () => caughtUp(await second.lag()) && second.totals().records >= 150);
    expect(second.totals()).toMatchObject({ messages: 150, records: 150, inserted: 150, duplicates: 0 });
    expect(await storedFrom('restart')).toEqual({ rows: 350, distinct: 350 });
    await second.stop();
  }, SLOW_TEST_MS);

  it.concurrent('stops, uncommitted, when the store rejects a batch in a way retrying cannot fix', async ({ expect }) => {
    // Fails at the first statement, before anything is written: safe beside the other tests.
    const broken = new Proxy(store, {
      get(target, key) {
        const v = Reflect.get(target, key) as unknown;
        if (typeof v !== 'function' || key === 'close') return v;
        return () => Promise.reject(new StoreError('STORE_QUERY_FAILED', 'Code: 60. DB::Exception: Unknown table expression identifier'));
      },
    });
    const cfg = config({ groupId: 'g-fatal', topics: [{ topic: 'fatal', format: 'aws-cloudtrail' }] });
    await send('fatal', cloudTrail(10, 19));
    const c = await start(cfg, { store: broken });
    await expect(c.done).rejects.toMatchObject({ code: 'STORE_QUERY_FAILED' });
    expect(c.totals()).toMatchObject({ batches: 0, storeRetries: 0 });
    expect(await fetchKafkaLag(cfg.kafka, quiet)).toEqual([{ topic: 'fatal', partition: 0, committedOffset: null, highWatermark: 10, lag: 10 }]);
  }, SLOW_TEST_MS);

  it('commits nothing while the store is down, keeps its partitions by heartbeating, and stores everything once the store is back', async () => {
    const records = cloudTrail(150, 13);
    const state = { down: true };
    const flaky = flakyStore(store, state);
    const cfg = config({ groupId: 'g-outage', topics: [{ topic: 'outage', format: 'aws-cloudtrail' }] });
    const c = await start(cfg, { store: flaky });
    await send('outage', records.slice(0, 100));
    await waitFor('the batch has been retried', () => c.totals().storeRetries >= 2);
    // Longer than the 3 s session timeout: without heartbeats the member would be evicted.
    await sleep(3500);
    expect(await c.lag()).toEqual([{ topic: 'outage', partition: 0, committedOffset: null, highWatermark: 100, lag: 100 }]);
    expect(await storedFrom('outage')).toEqual({ rows: 0, distinct: 0 });

    state.down = false;
    await waitFor('the batch is stored and committed', async () => caughtUp(await c.lag()));
    expect(await storedFrom('outage')).toEqual({ rows: 100, distinct: 100 });
    expect(c.totals()).toMatchObject({ groupJoins: 1, inserted: 100 });

    // Down again, and stopped while waiting: the batch stays uncommitted and comes again on the next start.
    state.down = true;
    const retriesBefore = c.totals().storeRetries;
    await send('outage', records.slice(100));
    await waitFor('the second batch has been retried', () => c.totals().storeRetries > retriesBefore);
    await c.stop();
    expect((await fetchKafkaLag(cfg.kafka, quiet))[0]).toMatchObject({ committedOffset: 100, highWatermark: 150, lag: 50 });

    state.down = false;
    const again = await start(cfg, { store: flaky });
    await waitFor('the redelivered batch is committed', async () => caughtUp(await again.lag()));
    expect(again.totals()).toMatchObject({ records: 50, inserted: 50 });
    expect(await storedFrom('outage')).toEqual({ rows: 150, distinct: 150 });
    await again.stop();
  }, SLOW_TEST_MS);

  it('stores and commits the batch in flight before stop() returns', async () => {
    let open: () => void = () => undefined;
    const state: { gate: Promise<void> | undefined; waiting: number } = { gate: new Promise<void>((r) => (open = r)), waiting: 0 };
    const cfg = config({ groupId: 'g-inflight', topics: [{ topic: 'inflight', format: 'aws-cloudtrail' }] });
    const c = await start(cfg, { store: gatedStore(store, state) });
    await send('inflight', cloudTrail(50, 17));
    await waitFor('a batch is being stored', () => state.waiting > 0);

    let stopped = false;
    const stopping = c.stop().then(() => (stopped = true));
    await sleep(1000);
    expect(stopped).toBe(false);
    state.gate = undefined;
    open();
    await stopping;

    expect(c.totals()).toMatchObject({ batches: 1, records: 50, inserted: 50 });
    expect(await fetchKafkaLag(cfg.kafka, quiet)).toEqual([{ topic: 'inflight', partition: 0, committedOffset: 50, highWatermark: 50, lag: 0 }]);
    expect(await storedFrom('inflight')).toEqual({ rows: 50, distinct: 50 });
  }, SLOW_TEST_MS);
});
