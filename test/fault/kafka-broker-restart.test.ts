import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { Config } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { openKafkaProducer, startKafkaConsumers, type KafkaConsumers } from '../../ingest/transports/kafka.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { buildMockBroker, missingMockBrokerMustFail, startMockBroker, type MockBroker } from '../helpers/kafka-mock/mock-broker.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { cloudTrailRecords, countEvents } from './events.ts';

// Fault: the Kafka cluster (librdkafka's in-memory mock) is killed during consumption and
// restarted on the same port, empty: topics, records and committed offsets are gone. The topic is
// created again on the broker's command line and the source sends everything the lost broker held
// again, plus the rest. The running consumer must find the broker again by itself, and the store
// must end with every event exactly once.

const mock = buildMockBroker();
if (!mock.ok) {
  if (missingMockBrokerMustFail()) {
    describe('Kafka broker restart', () => {
      it('requires gcc and librdkafka-dev in CI', () => {
        throw new Error(mock.message);
      });
    });
  } else {
    console.warn(`[fault: kafka broker restart] skipped: ${mock.message}`);
  }
}

const TOPIC = 'audit';
const TOTAL = 3000;
const quiet = createLogger(process.env.KEYWATCH_FAULT_LOG ?? 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, progress?: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${progress ? `: ${await progress()}` : ''}`);
    await sleep(200);
  }
}

describe.skipIf(!mock.ok)('Kafka broker restart during consumption', () => {
  const dir = tempDir('keywatch-fault-kafka-');
  let store: Store | undefined;
  let broker: MockBroker | undefined;
  let consumers: KafkaConsumers | undefined;
  afterAll(async () => {
    await consumers?.stop().catch(() => undefined);
    await broker?.stop();
    await store?.close();
    dir.remove();
  });

  it('reconnects to the restarted broker by itself and ends with every event stored exactly once', { timeout: 180_000 }, async () => {
    store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
    await migrate(store, { now: () => new Date() });
    broker = await startMockBroker({ topics: { [TOPIC]: 2 } });
    const port = Number((broker.brokers[0] as string).split(':').pop());
    const config = Config.parse({
      dataDir: dir.path,
      kafka: { brokers: broker.brokers, topics: [{ topic: TOPIC, format: 'aws-cloudtrail' }], sessionTimeoutMs: 3000, heartbeatIntervalMs: 400, maxBatchBytes: 256 * 1024 },
    });
    const { lines, ids } = cloudTrailRecords(TOTAL, 31);
    // Keyed by event id, so that a record goes to the same partition, in the same order, when re-sent.
    const messages = lines.map((value, i) => ({ key: ids[i] as string, value }));
    const first = messages.slice(0, 1200);

    consumers = await startKafkaConsumers({ store, config, clock: systemClock, logger: quiet, retry: { baseDelayMs: 200, maxDelayMs: 1000 } });
    let producer = await openKafkaProducer(config.kafka, quiet);
    for (let i = 0; i < first.length; i += 200) await producer.send(TOPIC, first.slice(i, i + 200));
    await producer.disconnect();
    const s = store;
    await waitFor('the consumer stored some of the first records', async () => (await countEvents(s, ids.slice(0, 1200))).stored > 0, 60_000);

    const storedBeforeKill = (await countEvents(s, ids)).stored;
    // The broker dies with everything it held and comes back empty on the same port.
    process.kill(broker.pid, 'SIGKILL');
    await broker.stop();
    broker = await startMockBroker({ topics: { [TOPIC]: 2 }, port });
    expect(broker.brokers[0]).toBe(config.kafka.brokers[0]);

    // The source sends again what the lost broker held, then the rest.
    producer = await openKafkaProducer(config.kafka, quiet);
    for (let i = 0; i < messages.length; i += 300) await producer.send(TOPIC, messages.slice(i, i + 300));
    await producer.disconnect();

    await waitFor('every event is stored', async () => (await countEvents(s, ids)).stored === TOTAL, 90_000, async () => JSON.stringify({ ...(await countEvents(s, ids)), totals: consumers?.totals() }));
    // Redeliveries after the restart have had time to arrive; they must all be duplicates.
    await sleep(2000);
    expect(await countEvents(s, ids)).toEqual({ sent: TOTAL, stored: TOTAL, rows: TOTAL });
    // The same consumers did it: they are still running (done has not settled).
    expect(await Promise.race([consumers.done.then(() => 'ended', () => 'crashed'), sleep(10).then(() => 'running')])).toBe('running');
    expect(consumers.totals().inserted + consumers.totals().duplicates).toBeGreaterThanOrEqual(TOTAL - storedBeforeKill);
    await consumers.stop();
    consumers = undefined;
  });
});
