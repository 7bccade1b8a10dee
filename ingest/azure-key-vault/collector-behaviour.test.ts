import { createHash } from 'node:crypto';
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
import { sniffCollector } from '../collectors.ts';
import { detectFraming, frameRecords, type Framed } from '../framing.ts';
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import { openInput } from '../transports/file.ts';
import { azureKeyVaultCollector } from './collector.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const TENANTS = { '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0': 'acme' };

/** The fixture's one record: the file without its final newline. */
const fixtureText = (name: string) => readFileSync(join(FIXTURES, `${name}.json`), 'utf8').replace(/\r?\n$/, '');
const fixtureRecord = (name: string) => JSON.parse(fixtureText(name)) as Record<string, unknown>;

/**
 * event_id as README.md defines it, computed here independently of the SQL: SHA-256 over the
 * request's identifying fields joined by newlines, the time written to 100 ns.
 */
function expectedEventId(o: Record<string, unknown>): string {
  const get = (...paths: string[]): string => {
    for (const p of paths) {
      let cur: unknown = o;
      for (const k of p.split('.')) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
      if (cur !== undefined && cur !== null && String(cur) !== '') return String(cur);
    }
    return '';
  };
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(get('time', 'TimeGenerated'));
  if (!m) throw new Error('fixture time must be ISO UTC');
  const time = `${m[1]} ${m[2]}.${(m[3] ?? '').slice(0, 7).padEnd(7, '0')}`;
  const status = get('properties.httpStatusCode', 'httpStatusCode', 'HttpStatusCode', 'httpStatusCode_d');
  const parts = [
    time,
    get('resourceId', 'ResourceId', '_ResourceId').toLowerCase(),
    get('operationName', 'OperationName'),
    get('callerIpAddress', 'CallerIpAddress', 'CallerIPAddress'),
    get('correlationId', 'CorrelationId'),
    get('properties.requestUri', 'requestUri', 'RequestUri', 'requestUri_s'),
    get('properties.id', 'id', 'Id', 'id_s'),
    String(status === '' ? 0 : Number(status.split('.')[0])),
    get('durationMs', 'DurationMs'),
  ];
  return `akv:${createHash('sha256').update(parts.join('\n')).digest('hex')}`;
}

/** A fixture record moved to another second, so that a test's events are its own. */
function at(record: Record<string, unknown>, time: string): Record<string, unknown> {
  return 'TimeGenerated' in record ? { ...record, TimeGenerated: time } : { ...record, time };
}

let store: Store;
let workDir: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'keywatch-azure-key-vault-'));
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
      defaultTenant: 'default',
      batchBytes: 8 << 20,
      maxRecordBytes: 1 << 20,
      onBatch: (b) => batches.push(b),
      ...opts,
    },
  );
  return { summary, batches };
}

async function eventsOf(batches: BatchResult[]): Promise<KeyEvent[]> {
  const ids = batches.map((b) => b.batchId);
  const rows = await store.query(`SELECT * FROM key_events WHERE splitByChar(':', raw_id)[1] IN {ids:Array(String)} ORDER BY event_time, event_id`, { ids });
  return rows.map((r) => KeyEvent.parse(r));
}

function writeTemp(name: string, content: string | Buffer): string {
  const path = join(workDir, name);
  writeFileSync(path, content);
  return path;
}

const lines = (records: Record<string, unknown>[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('azure-key-vault event ids', () => {
  it('gives every fixture the id README.md defines (a hash of the request, not of the bytes)', () => {
    for (const name of ['unwrap-sql-tde', 'managed-hsm-unwrap', 'azure-diagnostics-row', 'key-rotate-if-due', 'key-purge']) {
      const expected = JSON.parse(readFileSync(join(FIXTURES, `${name}.expected.json`), 'utf8')) as { event_id: string };
      expect(expected.event_id, name).toBe(expectedEventId(fixtureRecord(name)));
    }
    const la = (JSON.parse(readFileSync(join(FIXTURES, 'log-analytics-azkv-row.json'), 'utf8')) as Record<string, unknown>[])[0] as Record<string, unknown>;
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'log-analytics-azkv-row.expected.json'), 'utf8')) as { event_id: string };
    expect(expected.event_id).toBe(expectedEventId(la));
  });

  it('stores one event for a request exported twice: as a storage record and as a Log Analytics row', async () => {
    const storage = at(fixtureRecord('unwrap-sql-tde'), '2026-03-05T08:00:00.1234567Z');
    const props = storage.properties as Record<string, unknown>;
    const claims = (storage.identity as { claim: Record<string, string> }).claim;
    // The same request as AZKVAuditLogs shows it: PascalCase columns, lower-case _ResourceId, numbers as numbers.
    const row = {
      TenantId: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f',
      TimeGenerated: '2026-03-05T08:00:00.1234567Z',
      OperationName: storage.operationName,
      OperationVersion: storage.operationVersion,
      ResultType: storage.resultType,
      ResultSignature: storage.resultSignature,
      DurationMs: Number(storage.durationMs),
      CallerIpAddress: storage.callerIpAddress,
      CorrelationId: storage.correlationId,
      Identity: { claim: claims },
      Id: props.id,
      RequestUri: props.requestUri,
      HttpStatusCode: props.httpStatusCode,
      ClientInfo: props.clientInfo,
      _ResourceId: String(storage.resourceId).toLowerCase(),
      Type: 'AZKVAuditLogs',
    };
    expect(expectedEventId(row)).toBe(expectedEventId(storage));

    const first = await run([writeTemp('twice-storage.json', lines([storage]))]);
    expect(first.summary).toMatchObject({ read: 1, inserted: 1, duplicates: 0 });
    const second = await run([writeTemp('twice-la.json', JSON.stringify([row]))]);
    expect(second.summary).toMatchObject({ read: 1, normalized: 1, inserted: 0, duplicates: 1, quarantined: {}, dropped: {} });
    const [event] = await eventsOf(first.batches);
    expect(event?.event_id).toBe(expectedEventId(storage));
  });
});

describe('azure-key-vault collector, whole files', () => {
  it('frames {"records":[...]} files and labels each record records[i]', async () => {
    const head = readFileSync(join(FIXTURES, 'records-wrapper-file.json'));
    expect(detectFraming(head)).toMatchObject({ framing: 'records-array', arrayKey: 'records' });
    const framed: Framed[] = [];
    for await (const batch of frameRecords((async function* () { yield head; })())) framed.push(...batch);
    expect(framed.map((f) => [f.kind, f.position])).toEqual([
      ['record', 'records[0]'],
      ['record', 'records[1]'],
      ['record', 'records[2]'],
    ]);
    // CloudTrail's capitalised key keeps its label.
    expect(detectFraming(Buffer.from('{"Records":[{}]}'))).toMatchObject({ framing: 'records-array', arrayKey: 'Records' });
  });

  it('ingests a gzip {"records":[...]} blob as the same events as the PT1H.json line form of the same records', async () => {
    const names = ['unwrap-sql-tde', 'unwrap-forbidden', 'key-rotate-if-due', 'key-import', 'vault-patch-access-policy', 'managed-hsm-unwrap'];
    const records = names.map((n, i) => at(fixtureRecord(n), `2026-03-06T09:00:0${i}.0000000Z`));
    const gz = writeTemp('wrapped.json.gz', gzipSync(JSON.stringify({ records })));
    const nd = writeTemp('PT1H.json', lines(records));

    const blob = await run([gz]);
    expect(blob.summary).toMatchObject({ read: names.length, inserted: names.length, duplicates: 0, dropped: {}, quarantined: {} });
    const positions = await store.query<{ position: string }>('SELECT position FROM raw_events WHERE batch_id = {b:String} ORDER BY seq', { b: blob.batches[0]?.batchId ?? '' });
    expect(positions.map((p) => p.position)).toEqual(names.map((_, i) => `records[${i}]`));
    const events = await eventsOf(blob.batches);
    expect(events.map((e) => e.event_id).sort()).toEqual(records.map(expectedEventId).sort());
    expect(events.map((e) => e.vendor_operation)).toEqual(['KeyUnwrap', 'KeyUnwrap', 'KeyRotateIfDue', 'KeyImport', 'VaultPatch', 'KeyUnwrap']);

    const again = await run([nd]);
    expect(again.summary).toMatchObject({ read: names.length, normalized: names.length, inserted: 0, duplicates: names.length });
  });

  it('keeps every good line of a file with bad lines and quarantines each bad line with its line number and reason', async () => {
    const good = [
      at(fixtureRecord('key-backup'), '2026-03-07T01:00:00.0000000Z'),
      at(fixtureRecord('key-purge'), '2026-03-07T01:00:01.0000000Z'),
      at(fixtureRecord('authentication-missing-token'), '2026-03-07T01:00:02.0000000Z'),
    ];
    const bad = (name: string) => readFileSync(join(FIXTURES, 'bad', `${name}.json`), 'utf8').replace(/\n$/, '');
    const wrapperAsLine = JSON.stringify({ records: [good[0]] });
    const input = [
      JSON.stringify(good[0]), // 1
      bad('invalid-json'), // 2
      bad('secret-get'), // 3: dropped
      JSON.stringify(good[1]), // 4
      bad('missing-operation-name'), // 5
      wrapperAsLine, // 6: an Event Hub message body taken as one record
      bad('bad-time'), // 7
      bad('activity-log-record'), // 8: dropped
      JSON.stringify(good[2]), // 9
    ];
    const { summary, batches } = await run([writeTemp('mixed.json', input.join('\n') + '\n')]);
    expect(summary).toMatchObject({
      read: 9,
      inserted: 3,
      dropped: { non_key_operation: 1, non_audit_event: 1 },
      quarantined: { invalid_json: 1, missing_field: 1, records_wrapper: 1, bad_event_time: 1 },
    });
    expect((await eventsOf(batches)).map((e) => e.event_id)).toEqual(good.map(expectedEventId));
    const quarantined = await store.query<{ position: string; reason: string; message: string; record: string }>(
      'SELECT position, reason, message, record FROM quarantine WHERE batch_id = {b:String} ORDER BY toUInt32(substring(position, 6))',
      { b: batches[0]?.batchId ?? '' },
    );
    expect(quarantined.map((q) => [q.position, q.reason, q.record])).toEqual([
      ['line:2', 'invalid_json', input[1]],
      ['line:5', 'missing_field', input[4]],
      ['line:6', 'records_wrapper', input[5]],
      ['line:7', 'bad_event_time', input[6]],
    ]);
    expect(quarantined[2]?.message).toContain('{"records":[...]}');
  });

  it('adds nothing when the same file is ingested again and reports every event as a duplicate', async () => {
    const records = ['key-delete', 'key-rotation-policy-set', 'managed-hsm-role-assignment', 'missing-identity'].map((n, i) =>
      at(fixtureRecord(n), `2026-03-08T12:00:0${i}.5000000Z`),
    );
    const path = writeTemp('again.json', lines(records));
    const first = await run([path]);
    expect(first.summary).toMatchObject({ read: 4, inserted: 4, duplicates: 0 });
    const second = await run([path]);
    expect(second.summary).toMatchObject({ read: 4, normalized: 4, inserted: 0, duplicates: 4, dropped: {}, quarantined: {} });
    expect(await eventsOf(second.batches)).toEqual([]);
  });

  it('keeps two requests apart that differ only in the object they touched, even at the same instant', async () => {
    // Expiry notifications for two keys can share time, vault and (empty) caller and request URI.
    const base = {
      time: '2026-03-09T00:00:00.0000000Z',
      resourceId: '/SUBSCRIPTIONS/0B1C2D3E-4F50-4172-8394-A5B6C7D8E9F0/RESOURCEGROUPS/RG-KEYS/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-BYOK-KV',
      operationName: 'KeyNearExpiryEventGridNotification',
      category: 'AuditEvent',
      resultType: 'Success',
      identity: {},
    };
    const a = { ...base, properties: { id: 'https://acme-byok-kv.vault.azure.net/keys/orders/0c1d2e3f405162738495a6b7c8d9e0f1' } };
    const b = { ...base, properties: { id: 'https://acme-byok-kv.vault.azure.net/keys/hr-cmk/6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d' } };
    const { summary, batches } = await run([writeTemp('expiry.json', lines([a, b]))]);
    expect(summary).toMatchObject({ read: 2, inserted: 2, duplicates: 0 });
    const events = await eventsOf(batches);
    expect(events.map((e) => [e.key_id, e.operation, e.operation_class, e.principal, e.principal_type, e.outcome])).toEqual(
      expect.arrayContaining([
        ['https://acme-byok-kv.vault.azure.net/keys/orders', 'other', 'lifecycle', 'Azure Key Vault', 'internal', 'success'],
        ['https://acme-byok-kv.vault.azure.net/keys/hr-cmk', 'other', 'lifecycle', 'Azure Key Vault', 'internal', 'success'],
      ]),
    );
  });

  it('reads the outcome from the HTTP status, and from resultSignature or resultType when a record has no status', async () => {
    const base = fixtureRecord('missing-identity');
    const { properties, ...rest } = base;
    const noStatus = { ...(properties as Record<string, unknown>) };
    delete noStatus.httpStatusCode;
    const cases = [
      { ...rest, time: '2026-03-10T00:00:01.0000000Z', resultSignature: 'TooManyRequests', properties: noStatus },
      { ...rest, time: '2026-03-10T00:00:02.0000000Z', resultSignature: '', resultType: 'Failed', properties: noStatus },
      { ...rest, time: '2026-03-10T00:00:03.0000000Z', resultSignature: '', properties: { ...noStatus, httpStatusCode: 404 } },
      { ...rest, time: '2026-03-10T00:00:04.0000000Z', resultSignature: '', resultType: '', properties: noStatus },
    ];
    const { batches } = await run([writeTemp('outcomes.json', lines(cases))]);
    const events = await eventsOf(batches);
    expect(events.map((e) => [e.outcome, e.error_code, e.attributes.http_status ?? ''])).toEqual([
      ['failure', 'TooManyRequests', '429'],
      ['failure', 'Failed', ''],
      ['failure', 'NotFound', '404'],
      ['success', '', ''],
    ]);
  });

  it('is recognised by --format auto in each of its layouts, and not taken for CloudTrail', async () => {
    for (const name of ['records-wrapper-file', 'log-analytics-azkv-row', 'azure-diagnostics-row', 'managed-hsm-unwrap', 'storage-pt1h-blob']) {
      expect(sniffCollector(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'))?.source, name).toBe('azure-key-vault');
    }
    expect(azureKeyVaultCollector.sniff('{"Records":[{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}]}')).toBe(false);
    expect(azureKeyVaultCollector.sniffRecord(Buffer.from(fixtureText('azure-diagnostics-row')))).toBe(true);
    expect(azureKeyVaultCollector.sniffRecord(Buffer.from('{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}'))).toBe(false);
  });
});
