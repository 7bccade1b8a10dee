import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import { openInput } from '../transports/file.ts';
import { awsKmsCollector } from './collector.ts';

// Every fixture goes through the real pipeline (file transport, framing, sink) into one embedded
// store, and is read back from key_events. Expected files hold the row exactly as
// `SELECT * FROM key_events FORMAT JSONEachRow` returns it, except raw_id, which is
// "<batch_id>:<seq>" and written `<batch_id>:0` there (see fixtures/README.md).

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const BAD = join(FIXTURES, 'bad');
const TENANTS = { '111122223333': 'acme' };
const DEFAULT_TENANT = 'default';
const INGEST_TIME = '2026-11-29 00:00:00.000';
const RAW_ID = /^[0-9a-f-]{36}:\d+$/;

const REQUIRED_CASES = [
  'decrypt-assumed-role', 'decrypt-access-denied', 'decrypt-custom-key-store', 'decrypt-xks', 'generate-data-key-alias',
  'rotate-key-service-event', 'delete-key-service-event', 'aws-internal-caller', 'aws-service-caller', 'cross-account-decrypt',
  'schedule-key-deletion', 'put-key-policy-wildcard', 'create-grant-external', 'import-key-material', 'delete-imported-key-material',
  'enable-key-rotation', 'create-key', 'list-keys', 'key-material-id', 'event-without-event-id', 'eventbridge-envelope',
  'cloudwatch-export-line', 'unknown-operation',
];
const REQUIRED_BAD_CASES = ['invalid-json', 'json-array-not-object', 'missing-event-name', 'bad-event-time', 'non-kms-event', 'cloudtrail-digest'];

interface BadExpectation {
  status: 'quarantined' | 'dropped';
  reason: string;
  messageContains: string;
}

const caseNames = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
const GOOD = caseNames(FIXTURES);
const BAD_CASES = caseNames(BAD);

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
/** The fixture's one record as the framer hands it over: the file without its final newline. */
const fixtureText = (path: string) => readFileSync(path, 'utf8').replace(/\r?\n$/, '');
const fixtureRecord = (name: string) => JSON.parse(fixtureText(join(FIXTURES, `${name}.json`))) as Record<string, unknown>;

let store: Store;
let workDir: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'keywatch-aws-kms-collector-'));
  store = await openEmbeddedStore({ dataDir: join(workDir, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
});

afterAll(async () => {
  await store?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function run(paths: string[], opts: Partial<IngestOptions> = {}): Promise<{ summary: IngestSummary; batches: BatchResult[] }> {
  const batches: BatchResult[] = [];
  const summary = await ingest(
    paths.map((p) => openInput(p)),
    {
      store,
      clock: fixedClock('2026-11-29T00:00:00.000Z'),
      format: 'auto',
      tenants: TENANTS,
      defaultTenant: DEFAULT_TENANT,
      batchBytes: 8 << 20,
      maxRecordBytes: 1 << 20,
      onBatch: (b) => batches.push(b),
      ...opts,
    },
  );
  return { summary, batches };
}

function onlyBatch(batches: BatchResult[]): BatchResult {
  expect(batches).toHaveLength(1);
  return batches[0] as BatchResult;
}

async function eventsOfBatch(batchId: string): Promise<KeyEvent[]> {
  const rows = await store.query(`SELECT * FROM key_events WHERE startsWith(raw_id, {p:String}) ORDER BY raw_id`, { p: `${batchId}:` });
  return rows.map((r) => KeyEvent.parse(r));
}

async function eventById(id: string): Promise<KeyEvent> {
  const rows = await store.query(`SELECT * FROM key_events WHERE event_id = {id:String}`, { id });
  expect(rows).toHaveLength(1);
  return KeyEvent.parse(rows[0]);
}

/** The collector's own verdict on every raw record of a batch, including records it drops. */
/** What the collector decides for each raw record of a batch: `_status`, `_reason`, `_message`. */
async function collectorVerdicts(batchId: string): Promise<Record<string, unknown>[]> {
  const select = awsKmsCollector.classifySql(`(SELECT seq, position, record FROM raw_events WHERE batch_id = {batch_id:String})`);
  return store.query(`SELECT * FROM (${select}) ORDER BY seq`, { batch_id: batchId });
}

/** The collector's full normalization of every raw record of a batch, whatever became of it. */
async function normalizedRows(batchId: string): Promise<Record<string, unknown>[]> {
  const select = awsKmsCollector.normalizeSql(`(SELECT seq, position, record FROM raw_events WHERE batch_id = {batch_id:String})`);
  return store.query(`SELECT * FROM (${select}) ORDER BY seq`, {
    batch_id: batchId,
    ingest_time: INGEST_TIME,
    tenants: TENANTS,
    default_tenant: DEFAULT_TENANT,
  });
}

async function countKeyEvents(): Promise<number> {
  const [row] = await store.query<{ n: string }>('SELECT count() AS n FROM key_events');
  return Number(row?.n);
}

/** A fixture record under a new eventID, so that a test's events are its own. */
function withEventId(record: Record<string, unknown>, prefix: string): Record<string, unknown> {
  const id = String(record.eventID);
  return { ...record, eventID: `${prefix}${id.slice(prefix.length)}` };
}

function writeTemp(name: string, content: string | Buffer): string {
  const path = join(workDir, name);
  writeFileSync(path, content);
  return path;
}

describe('AWS KMS CloudTrail fixtures', () => {
  it('has every required case, each with an expected file, and the fixtures README describes each one', () => {
    expect(GOOD).toEqual(expect.arrayContaining(REQUIRED_CASES));
    expect(BAD_CASES).toEqual(expect.arrayContaining(REQUIRED_BAD_CASES));
    const files = new Set([...readdirSync(FIXTURES), ...readdirSync(BAD).map((f) => `bad/${f}`)]);
    for (const name of GOOD) expect(files.has(`${name}.expected.json`), `${name}.expected.json`).toBe(true);
    for (const name of BAD_CASES) expect(files.has(`bad/${name}.expected.json`), `bad/${name}.expected.json`).toBe(true);
    const readme = readFileSync(join(FIXTURES, 'README.md'), 'utf8');
    for (const name of [...GOOD, ...BAD_CASES]) expect(readme, `README.md mentions ${name}`).toContain(`\`${name}\``);
  });
});

describe('AWS KMS collector, one fixture at a time', () => {
  it.each(GOOD)('ingests %s.json through the pipeline as exactly the KeyEvent in its expected file', async (name) => {
    const expected = readJson<Record<string, unknown>>(join(FIXTURES, `${name}.expected.json`));
    const { summary, batches } = await run([join(FIXTURES, `${name}.json`)]);
    expect(summary).toMatchObject({ read: 1, normalized: 1, inserted: 1, duplicates: 0, dropped: {}, quarantined: {} });

    const event = await eventById(String(expected.event_id));
    expect(event.raw_id).toMatch(RAW_ID);
    expect(event.raw_id).toBe(`${onlyBatch(batches).batchId}:0`);
    expect({ ...event, raw_id: '<batch_id>:0' }).toEqual(expected);
  });

  it.each(BAD_CASES)('quarantines or drops bad/%s.json with the reason in its expected file and keeps the record', async (name) => {
    const path = join(BAD, `${name}.json`);
    const expected = readJson<BadExpectation>(join(BAD, `${name}.expected.json`));
    // Auto-detection, as a bucket prefix with CloudTrail-Digest/ files would be ingested; json-array-not-object
    // names the format because a bare array holds nothing that identifies its producer.
    const { summary, batches } = await run([path], name === 'json-array-not-object' ? { format: 'aws-cloudtrail' } : { format: 'auto' });
    const batchId = onlyBatch(batches).batchId;

    expect(summary).toMatchObject({ read: 1, normalized: 0, inserted: 0, duplicates: 0 });
    expect(await eventsOfBatch(batchId)).toEqual([]);

    const [raw] = await store.query<{ record: string; position: string }>('SELECT record, position FROM raw_events WHERE batch_id = {b:String}', { b: batchId });
    const text = fixtureText(path);
    // Lines are records as they stand; a JSON-array export's record is its one element.
    const framed = raw?.position === '[0]' ? text.slice(1, -1) : text;
    expect(raw?.record).toBe(framed);

    const [verdict] = await collectorVerdicts(batchId);
    expect(verdict).toMatchObject({ _status: expected.status, _reason: expected.reason });
    expect(String(verdict?._message)).toContain(expected.messageContains);

    const quarantined = await store.query<{ reason: string; message: string; record: string; position: string }>(
      'SELECT reason, message, record, position FROM quarantine WHERE batch_id = {b:String}',
      { b: batchId },
    );
    if (expected.status === 'quarantined') {
      expect(summary.quarantined).toEqual({ [expected.reason]: 1 });
      expect(summary.dropped).toEqual({});
      expect(quarantined).toHaveLength(1);
      expect(quarantined[0]).toMatchObject({ reason: expected.reason, record: framed, position: raw?.position });
      expect(quarantined[0]?.message).toContain(expected.messageContains);
    } else {
      expect(summary.dropped).toEqual({ [expected.reason]: 1 });
      expect(summary.quarantined).toEqual({});
      expect(quarantined).toEqual([]);
      const [ledger] = await store.query<{ dropped: string; dropped_by_reason: Record<string, string> }>(
        'SELECT dropped, dropped_by_reason FROM ingest_batches WHERE batch_id = {b:String}',
        { b: batchId },
      );
      expect(Number(ledger?.dropped)).toBe(1);
      expect(Object.fromEntries(Object.entries(ledger?.dropped_by_reason ?? {}).map(([k, v]) => [k, Number(v)]))).toEqual({ [expected.reason]: 1 });
    }
  });
});

describe('AWS KMS collector, whole files', () => {
  it('ingests an S3-style gzip {"Records":[...]} file as the same events as the NDJSON form of the same records', async () => {
    const names = ['decrypt-assumed-role', 'rotate-key-service-event', 'create-grant-external', 'schedule-key-deletion', 'list-keys', 'create-key'];
    const records = names.map((n) => withEventId(fixtureRecord(n), 'a0a0a0a0'));
    const gz = writeTemp('s3-form.json.gz', gzipSync(JSON.stringify({ Records: records })));
    const nd = writeTemp('ndjson-form.json', records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    expect([...readFileSync(gz).subarray(0, 2)]).toEqual([0x1f, 0x8b]);

    const s3 = await run([gz]);
    expect(s3.summary).toMatchObject({ read: names.length, inserted: names.length, duplicates: 0, dropped: {}, quarantined: {} });
    const fromS3 = await eventsOfBatch(onlyBatch(s3.batches).batchId);
    expect(fromS3.map((e) => e.event_id).sort()).toEqual(records.map((r) => String(r.eventID)).sort());
    const positions = await store.query<{ position: string }>('SELECT position FROM raw_events WHERE batch_id = {b:String} ORDER BY seq', { b: onlyBatch(s3.batches).batchId });
    expect(positions.map((p) => p.position)).toEqual(names.map((_, i) => `Records[${i}]`));

    // The same events again, line by line: all of them are already there.
    const lines = await run([nd]);
    expect(lines.summary).toMatchObject({ read: names.length, normalized: names.length, inserted: 0, duplicates: names.length });
    const lineBatch = onlyBatch(lines.batches).batchId;
    expect((await collectorVerdicts(lineBatch)).map((v) => v._status)).toEqual(names.map(() => 'ok'));
    const fromLines = (await normalizedRows(lineBatch)).map((r) => {
      const { seq: _seq, raw_id: _raw, ...event } = r;
      return event;
    });
    const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.event_id).localeCompare(String(b.event_id));
    expect(fromLines.sort(byId)).toEqual(fromS3.map(({ raw_id: _raw, ...event }) => event).sort(byId));
  });

  it('keeps every good record of a file with malformed lines and quarantines each bad line with its line number', async () => {
    const cw = fixtureText(join(FIXTURES, 'cloudwatch-export-line.json'));
    const cwSpace = cw.indexOf(' ');
    const cwRecord = withEventId(JSON.parse(cw.slice(cwSpace + 1)) as Record<string, unknown>, 'b0b0b0b0');
    const envelope = fixtureRecord('eventbridge-envelope');
    const good = [
      withEventId(fixtureRecord('decrypt-assumed-role'), 'b0b0b0b0'),
      withEventId(fixtureRecord('put-key-policy-wildcard'), 'b0b0b0b0'),
      cwRecord,
      { ...envelope, detail: withEventId(envelope.detail as Record<string, unknown>, 'b0b0b0b0') },
    ];
    const lines = [
      JSON.stringify(good[0]), // 1
      fixtureText(join(BAD, 'invalid-json.json')), // 2
      JSON.stringify(good[1]), // 3
      '[{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}]', // 4
      '', // 5: blank lines are skipped but still counted
      fixtureText(join(BAD, 'missing-event-name.json')), // 6
      fixtureText(join(BAD, 'non-kms-event.json')), // 7
      `${cw.slice(0, cwSpace)} ${JSON.stringify(cwRecord)}`, // 8
      fixtureText(join(BAD, 'bad-event-time.json')), // 9
      JSON.stringify(good[3]), // 10
    ];
    const path = writeTemp('mixed.json', lines.join('\n') + '\n');

    const { summary, batches } = await run([path]);
    const batchId = onlyBatch(batches).batchId;
    const quarantinedTotal = Object.values(summary.quarantined).reduce((a, n) => a + n, 0);
    const droppedTotal = Object.values(summary.dropped).reduce((a, n) => a + n, 0);
    expect(summary.read).toBe(9);
    expect(summary.inserted).toBe(4);
    expect(summary.dropped).toEqual({ non_kms_event: 1 });
    expect(summary.read).toBe(summary.inserted + summary.duplicates + quarantinedTotal + droppedTotal);

    const events = await eventsOfBatch(batchId);
    const goodIds = good.map((r) => String((r.detail as Record<string, unknown> | undefined)?.eventID ?? r.eventID));
    expect(events.map((e) => e.event_id).sort()).toEqual([...goodIds].sort());
    expect(events.map((e) => e.raw_id.split(':')[1]).sort()).toEqual(['0', '2', '6', '8']);

    const quarantined = await store.query<{ position: string; reason: string; record: string }>(
      'SELECT position, reason, record FROM quarantine WHERE batch_id = {b:String} ORDER BY toUInt32(substring(position, 6))',
      { b: batchId },
    );
    expect(quarantined).toEqual([
      { position: 'line:2', reason: 'invalid_json', record: lines[1] },
      { position: 'line:4', reason: 'not_an_object', record: lines[3] },
      { position: 'line:6', reason: 'missing_field', record: lines[5] },
      { position: 'line:9', reason: 'bad_event_time', record: lines[8] },
    ]);
  });

  it('adds nothing when the same file is ingested again and reports every event as a duplicate', async () => {
    const noId = fixtureRecord('event-without-event-id');
    const records = [
      withEventId(fixtureRecord('decrypt-xks'), 'c0c0c0c0'),
      withEventId(fixtureRecord('import-key-material'), 'c0c0c0c0'),
      withEventId(fixtureRecord('delete-key-service-event'), 'c0c0c0c0'),
      // Without an eventID the id is a hash of the record, which must be just as stable.
      { ...noId, requestID: 'c0c0c0c0-3e5a-4d7f-b9c1-2a4c6e8a0fd6' },
    ];
    const path = writeTemp('again.json', records.map((r) => JSON.stringify(r)).join('\n') + '\n');

    const first = await run([path]);
    expect(first.summary).toMatchObject({ read: 4, inserted: 4, duplicates: 0 });
    const before = await countKeyEvents();

    const second = await run([path]);
    expect(second.summary).toMatchObject({ read: 4, normalized: 4, inserted: 0, duplicates: 4, dropped: {}, quarantined: {} });
    expect(await countKeyEvents()).toBe(before);
    expect(await eventsOfBatch(onlyBatch(second.batches).batchId)).toEqual([]);
  });

  it('quarantines a record over maxRecordBytes as record_too_large and still inserts the rest of its batch', async () => {
    const maxRecordBytes = 16 * 1024;
    const policyRecord = fixtureRecord('put-key-policy-wildcard');
    const params = policyRecord.requestParameters as Record<string, unknown>;
    const statements = Array.from({ length: 900 }, (_, i) => ({
      Sid: `AllowPartner${i}`,
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::444455556666:role/partner-${i}` },
      Action: 'kms:Decrypt',
      Resource: '*',
    }));
    const huge = withEventId({ ...policyRecord, requestParameters: { ...params, policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }) } }, 'd0d0d0d0');
    const before = withEventId(fixtureRecord('enable-key-rotation'), 'd0d0d0d0');
    const after = withEventId(fixtureRecord('create-grant-external'), 'd0d0d0d0');
    const hugeLine = JSON.stringify(huge);
    expect(hugeLine.length).toBeGreaterThan(64 * 1024);
    const path = writeTemp('oversized.json', [JSON.stringify(before), hugeLine, JSON.stringify(after)].join('\n') + '\n');

    const { summary, batches } = await run([path], { maxRecordBytes });
    const batchId = onlyBatch(batches).batchId;
    expect(summary).toMatchObject({ read: 3, inserted: 2, quarantined: { record_too_large: 1 }, dropped: {} });
    expect((await eventsOfBatch(batchId)).map((e) => e.event_id).sort()).toEqual([String(before.eventID), String(after.eventID)].sort());
    expect((await store.query('SELECT 1 FROM key_events WHERE event_id = {id:String}', { id: String(huge.eventID) })).length).toBe(0);

    const [q] = await store.query<{ position: string; reason: string; message: string; record: string }>(
      'SELECT position, reason, message, record FROM quarantine WHERE batch_id = {b:String}',
      { b: batchId },
    );
    expect(q).toMatchObject({ position: 'line:2', reason: 'record_too_large' });
    expect(q?.message).toContain(`over the ${maxRecordBytes}-byte limit`);
    // Only a prefix is kept, so that one huge record cannot exhaust memory.
    expect(q?.record).toBe(hugeLine.slice(0, 64 * 1024));
  });
});
