import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Config } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { generateCloudTrail } from '../../demo/cloudtrail-generator.ts';
import { openKafkaProducer } from '../../ingest/transports/kafka.ts';
import { buildMockBroker, missingMockBrokerMustFail, startMockBroker, type MockBroker } from '../../test/helpers/kafka-mock/mock-broker.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';

const BIN = new URL('../../bin/keywatch.js', import.meta.url).pathname;
const mock = buildMockBroker();
if (!mock.ok) {
  if (missingMockBrokerMustFail()) {
    describe('keywatch consume', () => {
      it('requires gcc and librdkafka-dev in CI', () => {
        throw new Error(mock.message);
      });
    });
  } else {
    console.warn(`[keywatch consume] skipped: ${mock.message}`);
  }
}

const dir = tempDir('keywatch-consume-');
const dataDir = join(dir.path, 'store');
const env = { ...process.env, KEYWATCH_DATA_DIR: '', KEYWATCH_LOG_LEVEL: 'warn' };

function kw(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

afterAll(() => dir.remove());

describe('keywatch consume without Kafka settings', () => {
  it('exits 2 with one line naming the missing kafka.brokers and kafka.topics', () => {
    const cfg = join(dir.path, 'no-kafka.json');
    writeFileSync(cfg, '{}');
    const r = kw('--config', cfg, 'consume');
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^keywatch: the Kafka consumers need kafka\.brokers and kafka\.topics in the config file/);
  });
});

describe.skipIf(!mock.ok)('keywatch consume against the librdkafka mock cluster', () => {
  let broker: MockBroker;
  let child: ChildProcess | undefined;
  const configPath = join(dir.path, 'keywatch.config.json');
  const records = [...generateCloudTrail({ start: new Date('2026-05-04T00:00:00Z'), days: 1, seed: 21 })].slice(0, 120).map((r) => JSON.stringify({ ...r, eventID: randomUUID() }));

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { 'cli-audit': 2 } });
    const kafka = { brokers: broker.brokers, groupId: 'cli', topics: [{ topic: 'cli-audit', format: 'aws-cloudtrail' }], sessionTimeoutMs: 3000, heartbeatIntervalMs: 400 };
    writeFileSync(configPath, JSON.stringify({ kafka }));
    const producer = await openKafkaProducer(Config.parse({ kafka }).kafka, createLogger('silent'));
    await producer.send('cli-audit', records.slice(0, 60).map((value) => ({ value })));
    await producer.send('cli-audit', [...records.slice(60).map((value) => ({ value })), { value: 'not json at all' }, { value: null }]);
    await producer.disconnect();
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await broker?.stop();
  });

  it('stores what it reads, prints one line per batch, and on SIGTERM commits, prints the totals and exits 0', async () => {
    child = spawn(process.execPath, [BIN, '--config', configPath, '--data-dir', dataDir, 'consume', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    const lines = () => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const deadline = Date.now() + 90_000;
    while (lines().reduce((a, l) => a + (l.type === 'batch' ? Number(l.messages) : 0), 0) < 122) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`keywatch consume did not read all 122 messages; stdout:\n${stdout}\nstderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const out = lines();
    const batches = out.filter((l) => l.type === 'batch');
    expect(batches.length).toBeGreaterThanOrEqual(2);
    for (const b of batches) expect(b).toMatchObject({ topic: 'cli-audit', committedOffset: String(Number(b.lastOffset) + 1) });
    const totals = out[out.length - 1];
    expect(totals).toMatchObject({ type: 'totals', messages: 122, tombstones: 1, records: 121, inserted: 120, duplicates: 0, quarantined: { invalid_json: 1 } });
    expect((totals?.lag as { lag: number }[]).map((p) => p.lag)).toEqual([0, 0]);

    const stored = kw('sql', '--format', 'json', "SELECT count() AS n, uniqExact(event_id) AS d FROM key_events");
    expect(JSON.parse(stored.out)).toEqual([{ n: '120', d: '120' }]);
    const q = kw('sql', '--format', 'json', 'SELECT reason, transport, position FROM quarantine');
    expect(JSON.parse(q.out)).toEqual([{ reason: 'invalid_json', transport: 'kafka', position: expect.stringMatching(/^kafka:cli-audit\/[01]@\d+$/) }]);
  }, 120_000);

  it('prints the committed offset, high watermark and lag per partition with --status', () => {
    const r = kw('--config', configPath, 'consume', '--status');
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(rows[0]).toEqual(['partition', 'committed', 'high', 'lag']);
    expect(rows.slice(1).map((c) => c[0])).toEqual(['cli-audit/0', 'cli-audit/1']);
    expect(rows.slice(1).reduce((a, c) => a + Number(c[2]), 0)).toBe(122);
    for (const c of rows.slice(1)) {
      expect(c[1]).toBe(c[2]);
      expect(c[3]).toBe('0');
    }
  });
});
