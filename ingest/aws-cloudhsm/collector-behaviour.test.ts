import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { KeyEvent } from '../../core/key-event.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import type { Framed } from '../framing.ts';
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import { openInput, type Input } from '../transports/file.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const TENANTS = { 'cluster-a1b2c3d4e5f': 'globex' };

let store: Store;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-cloudhsm-behaviour-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(inputs: Input[], opts: Partial<IngestOptions> = {}): Promise<{ summary: IngestSummary; batches: BatchResult[] }> {
  const batches: BatchResult[] = [];
  const summary = await ingest(inputs, {
    store,
    clock: fixedClock('2026-11-29T00:00:00.000Z'),
    format: 'auto',
    tenants: TENANTS,
    defaultTenant: 'default',
    batchBytes: 8 << 20,
    maxRecordBytes: 1 << 20,
    onBatch: (b) => batches.push(b),
    ...opts,
  });
  return { summary, batches };
}

const write = (name: string, content: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

async function eventsOf(batches: BatchResult[]): Promise<KeyEvent[]> {
  const rows = await store.query(`SELECT * FROM key_events WHERE splitByChar(':', raw_id)[1] IN {ids:Array(String)} ORDER BY event_time, event_id`, { ids: batches.map((b) => b.batchId) });
  return rows.map((r) => KeyEvent.parse(r));
}

function entry(seq: number, opts: { op?: string; response?: string; time?: string; us?: bigint; extra?: string[] } = {}): string {
  const us = opts.us ?? 1772445600000000n + BigInt(seq) * 1_000_000n;
  const d = new Date(Number(us / 1000n));
  const p = (n: number) => String(n).padStart(2, '0');
  return [
    opts.time ?? `Time: ${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.000000, usecs:${us}`,
    `Sequence No : 0x${seq.toString(16)}`,
    'Reboot counter : 0x2a',
    'Command Type(hex) : CN_MGMT_CMD (0x0)',
    `Opcode : ${opts.op ?? 'CN_GENERATE_KEY (0x17)'}`,
    'Session Handle : 0xc008004',
    `Response : ${opts.response ?? '0:HSM Return: SUCCESS'}`,
    'Log type : MGMT_KEY_DETAILS_LOG (1)',
    `Priv/Secret Key Handle : ${1000 + seq}`,
    'Public Key Handle : 0',
    ...(opts.extra ?? []),
  ].join('\n');
}

const delivery = (stream: string, messages: string[], messageType = 'DATA_MESSAGE') => ({
  messageType,
  owner: '111122223333',
  logGroup: '/aws/cloudhsm/cluster-a1b2c3d4e5f',
  logStream: stream,
  subscriptionFilters: ['keywatch-to-firehose'],
  logEvents: messages.map((message, i) => ({ id: `3793${String(i).padStart(52, '0')}`, timestamp: 1772445600000 + i, message })),
});

describe('aws-cloudhsm collector behaviour', () => {
  it('reads a gzip Firehose object of concatenated deliveries with --format auto, dropping the control message', async () => {
    const body =
      JSON.stringify(delivery('hsm-gz1', [entry(1), entry(2)])) +
      JSON.stringify({ messageType: 'CONTROL_MESSAGE', owner: 'CloudwatchLogs', logGroup: '', logStream: '', subscriptionFilters: [], logEvents: [{ id: '', timestamp: 1772445600000, message: 'CWL CONTROL MESSAGE: Checking health of destination Firehose.' }] }) +
      JSON.stringify(delivery('hsm-gz2', [entry(3)]));
    const path = write('firehose-object', gzipSync(Buffer.from(body)));
    const { summary, batches } = await run([openInput(path)]);
    expect(summary).toMatchObject({ read: 4, inserted: 3, duplicates: 0, quarantined: {}, dropped: { cloudwatch_control_message: 1 } });
    expect(summary.bySource['aws-cloudhsm']).toMatchObject({ read: 4, inserted: 3, dropped: 1 });
    const events = await eventsOf(batches);
    expect(events.map((e) => [e.attributes.stream, e.key_id, e.operation, e.tenant])).toEqual([
      ['hsm-gz1', 'cluster-a1b2c3d4e5f/1001', 'create_key', 'globex'],
      ['hsm-gz1', 'cluster-a1b2c3d4e5f/1002', 'create_key', 'globex'],
      ['hsm-gz2', 'cluster-a1b2c3d4e5f/1003', 'create_key', 'globex'],
    ]);
    const raw = await store.query<{ position: string }>('SELECT position FROM raw_events WHERE batch_id = {b:String} ORDER BY seq', { b: batches[0]?.batchId });
    expect(raw.map((r) => r.position)).toEqual(['logEvents[0]', 'logEvents[1]', 'doc:2/logEvents[0]', 'doc:3/logEvents[0]']);
    const [ledger] = await store.query<{ dropped_by_reason: Record<string, string> }>('SELECT dropped_by_reason FROM ingest_batches WHERE batch_id = {b:String}', { b: batches[0]?.batchId });
    expect(ledger?.dropped_by_reason).toEqual({ cloudwatch_control_message: '1' });
  });

  it('stores nothing new when the same input is ingested again', async () => {
    const path = join(FIXTURES, 'subscription-data-message.json');
    const first = await run([openInput(path)]);
    expect(first.summary).toMatchObject({ read: 4, inserted: 4 });
    const again = await run([openInput(path)]);
    expect(again.summary).toMatchObject({ read: 4, inserted: 0, duplicates: 4, quarantined: {} });
  });

  it('gives an entry the same event id whether it came by subscription or as text, so it is stored once', async () => {
    const e = entry(0x40);
    const viaSubscription = await run([openInput(write('sub.json', JSON.stringify(delivery('hsm-same1', [e]))))]);
    expect(viaSubscription.summary.inserted).toBe(1);
    const viaText = await run([openInput(write('export-hsm-same1.txt', `2026-03-02T10:01:04.000Z ${e}\n`))]);
    expect(viaText.summary).toMatchObject({ read: 1, inserted: 0, duplicates: 1 });
  });

  it('normalizes the good entries of a text file and quarantines each bad one with its position and text', async () => {
    const text = [
      entry(0x50),
      'stray line that belongs to no entry',
      entry(0x51, { time: 'Time: 99/99/99 99:99:99.000000, usecs:x' }),
      entry(0x52).replace(/\nOpcode : .*/, ''),
      entry(0x53, { op: 'CN_LOGIN (0xd)', response: '163:HSM Error: RET_USER_LOGIN_FAILURE', extra: ['User Name : mallory', 'User Type : CN_CRYPTO_OFFICER (2)'] }),
    ].join('\n');
    const { summary, batches } = await run([openInput(write('hsm-mixed1.log', text))]);
    expect(summary).toMatchObject({ read: 4, inserted: 2, quarantined: { bad_event_time: 1, missing_field: 1 }, dropped: {} });
    const events = await eventsOf(batches);
    expect(events.map((e) => [e.vendor_operation, e.outcome, e.error_code, e.principal])).toEqual([
      ['CN_GENERATE_KEY', 'success', '', ''],
      ['CN_LOGIN', 'failure', 'RET_USER_LOGIN_FAILURE', 'mallory'],
    ]);
    // The stray line stays with the entry before it (text after an entry's last field is part of it).
    expect(events[0]?.attributes).toMatchObject({ key_handle: '1080', stream: 'hsm-mixed1' });
    const q = await store.query<{ reason: string; position: string; message: string; record: string }>(
      'SELECT reason, position, message, record FROM quarantine WHERE batch_id = {b:String} ORDER BY position',
      { b: batches[0]?.batchId },
    );
    expect(q.map((r) => [r.reason, r.position])).toEqual([['bad_event_time', 'line:12'], ['missing_field', 'line:22']]);
    expect(q[1]?.message).toContain('missing: Opcode');
    expect(JSON.parse(q[0]?.record ?? '{}')).toMatchObject({ via: 'text', stream: 'hsm-mixed1', message: expect.stringContaining('usecs:x') });
  });

  it('quarantines an entry over the record size limit as record_too_large and keeps its first bytes', async () => {
    const big = entry(0x60, { extra: Array.from({ length: 200 }, (_, i) => `Padding ${i} : ${'z'.repeat(40)}`) });
    const { summary } = await run([openInput(write('hsm-big1.log', `${entry(0x5f)}\n${big}\n${entry(0x61)}\n`))], { maxRecordBytes: 4096 });
    expect(summary).toMatchObject({ read: 3, inserted: 2, quarantined: { record_too_large: 1 } });
    const [row] = await store.query<{ position: string; record: string }>("SELECT position, record FROM quarantine WHERE reason = 'record_too_large' AND origin LIKE '%hsm-big1.log'");
    expect(row?.position).toBe('line:11');
    expect(row?.record.startsWith('Time: ')).toBe(true);
  });

  it('reads an entry that arrives already framed (one per message), naming its stream by the origin', async () => {
    const framed: Framed[] = [{ kind: 'record', record: Buffer.from(entry(0x70)), position: 'offset:12' }];
    const input: Input = {
      transport: 'kafka',
      origin: 'kafka:cloudhsm-audit/hsm-kafka1',
      chunks: (async function* () {})(),
      framed: (async function* () {
        yield framed;
      })(),
      format: 'aws-cloudhsm',
      bytesRead: () => 0,
    };
    const { summary, batches } = await run([input]);
    expect(summary).toMatchObject({ read: 1, inserted: 1 });
    const [e] = await eventsOf(batches);
    expect(e).toMatchObject({ event_id: `cloudhsm:hsm-kafka1:0x2a:0x70:${1772445600000000n + 0x70n * 1_000_000n}`, key_id: 'hsm-kafka1/1112', tenant: 'default' });
  });

  it('stores only attributes that the collector README documents', async () => {
    const events = await store.query<{ keys: string[] }>("SELECT groupUniqArrayArray(mapKeys(attributes)) AS keys FROM key_events WHERE source = 'aws-cloudhsm'");
    const documented = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'README.md'), 'utf8');
    for (const k of events[0]?.keys ?? []) expect(documented, `README.md documents attribute ${k}`).toContain(k.startsWith('log.') ? '`log.<name>`' : `\`${k}\``);
  });
});
