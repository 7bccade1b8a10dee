import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Config } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { generateCloudTrail } from '../demo/cloudtrail-generator.ts';
import { fetchKafkaLag, openKafkaProducer } from '../ingest/transports/kafka.ts';
import { buildMockBroker, missingMockBrokerMustFail, startMockBroker, type MockBroker } from './helpers/kafka-mock/mock-broker.ts';
import { eventually, kwCli, scheduleKeyDeletionRecord, startServe, type ServeProcess } from './helpers/serve.ts';
import { tempDir } from './helpers/temp-dir.ts';

const mock = buildMockBroker();
if (!mock.ok) {
  if (missingMockBrokerMustFail()) {
    describe('keywatch serve with Kafka', () => {
      it('requires gcc and librdkafka-dev in CI', () => {
        throw new Error(mock.message);
      });
    });
  } else {
    console.warn(`[keywatch serve with Kafka] skipped: ${mock.message}`);
  }
}

const dir = tempDir('keywatch-serve-kafka-');
let broker: MockBroker | undefined;
let svc: ServeProcess | undefined;

afterAll(async () => {
  await svc?.stop('SIGKILL');
  await broker?.stop();
  dir.remove();
});

describe.skipIf(!mock.ok)('keywatch serve with Kafka consumers (librdkafka mock cluster)', () => {
  it('is ready only once the group has its partitions, stores what it consumes, alerts on it, and commits every offset before exiting 0 on SIGTERM', async () => {
    broker = await startMockBroker({ brokers: 1, topics: { 'serve-audit': 2 } });
    const kafka = { brokers: broker.brokers, groupId: 'serve', topics: [{ topic: 'serve-audit', format: 'aws-cloudtrail' }], sessionTimeoutMs: 3000, heartbeatIntervalMs: 400 };
    svc = await startServe({
      dir: dir.path,
      config: {
        dataDir: join(dir.path, 'data'),
        kafka,
        service: { ops: { listen: '127.0.0.1:0' }, schedules: { detect: false, slo: false, deliver: false }, detectOnIngest: { debounceMs: 300, pollMs: 100 } },
      },
    });
    // No tokens: no HTTP collector; readiness waits for the group join (the mock's first join takes 3 s).
    expect(svc.addresses.http).toBeUndefined();
    const ready = await svc.waitReady(60_000);
    expect(ready).toMatchObject({ checks: { kafka: { ready: true }, store: { ready: true } } });
    expect(Object.keys(ready.checks as object)).not.toContain('http');

    const records = [...generateCloudTrail({ start: new Date(Date.now() - 2 * 86_400_000), days: 1, seed: 9 })].slice(0, 40).map((r) => JSON.stringify({ ...r, eventID: randomUUID() }));
    const producer = await openKafkaProducer(Config.parse({ kafka }).kafka, createLogger('silent'));
    await producer.send('serve-audit', [...records.map((value) => ({ value })), { value: JSON.stringify(scheduleKeyDeletionRecord(new Date(), 7)) }, { value: 'not json at all' }]);
    await producer.disconnect();

    const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const text = await eventually(
      async () => {
        const t = await (await fetch(`${svc!.addresses.ops}/metrics`)).text();
        return metric(t, /^keywatch_events_received_total\{transport="kafka"\} (\d+)/m) >= 42 ? t : undefined;
      },
      { timeoutMs: 45_000, what: 'the Kafka records in /metrics' },
    );
    expect(metric(text, /^keywatch_events_inserted_total\{transport="kafka"\} (\d+)/m)).toBe(41);
    expect(metric(text, /^keywatch_events_quarantined_total\{transport="kafka",reason="invalid_json"\} (\d+)/m)).toBe(1);
    expect(text).toMatch(/^keywatch_kafka_group_joins_total \d+/m);

    await eventually(
      () => {
        const l = kwCli(svc!.configPath, 'alerts', 'list', '--json', '--detector', 'key-disabled-or-deleted');
        return l.out.includes('0b9d7f5e-3c1a-4b8d-9f6e-4c2a0e8d6b57') ? true : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 500, what: 'the alert of the consumed incident' },
    );
    const lagText = await (await fetch(`${svc.addresses.ops}/metrics`)).text();
    expect(lagText).toMatch(/^keywatch_consumer_lag\{topic="serve-audit",partition="[01]"\} \d+/m);

    const { code, ms } = await svc.stop('SIGTERM');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    const lag = await fetchKafkaLag(Config.parse({ kafka }).kafka, createLogger('silent'));
    expect(lag.map((p) => p.lag)).toEqual([0, 0]);
  }, 150_000);
});
