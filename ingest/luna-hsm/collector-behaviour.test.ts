import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { KeyEvent } from '../../core/key-event.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import type { Collector } from '../collector.ts';
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import { openInput } from '../transports/file.ts';
import { createLunaHsmCollector } from './collector.ts';
import { compileLayouts, LAYOUTS_ENV } from './layouts.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const EXAMPLE_LAYOUTS = join(FIXTURES, 'layouts', 'example-layouts.json');
const TENANTS = { '5b1c6a2e-8f3d-4c7a-9e21-0d4f6b8a1c35': 'acme', '1520001': 'globex' };
const PARAMS = { ingest_time: '2026-11-29 00:00:00.000', batch_id: 'b', tenants: TENANTS, default_tenant: 'default' };

// The registered collector (used by ingest) reads the example layouts; the tests below that need
// other layouts build their own collector and run its SQL directly.
process.env[LAYOUTS_ENV] = EXAMPLE_LAYOUTS;

const fixtureLine = (name: string) => readFileSync(join(FIXTURES, name), 'utf8').replace(/\r?\n$/, '');

let store: Store;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir('keywatch-luna-behaviour-');
  store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
});

afterAll(async () => {
  await store?.close();
  dir?.remove();
});

async function run(paths: string[], opts: Partial<IngestOptions> = {}): Promise<{ summary: IngestSummary; batches: BatchResult[] }> {
  const batches: BatchResult[] = [];
  const summary = await ingest(
    paths.map((p) => openInput(p)),
    { store, clock: fixedClock('2026-11-29T00:00:00.000Z'), format: 'auto', tenants: TENANTS, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20, onBatch: (b) => batches.push(b), ...opts },
  );
  return { summary, batches };
}

function write(name: string, content: string | Buffer): string {
  const path = join(dir.path, name);
  writeFileSync(path, content);
  return path;
}

let stageNo = 0;
/** Runs a collector's own SQL over the given lines (as one batch from `origin`), both SELECTs, with the sink's settings. */
async function normalizeLines(collector: Collector, lines: string[], origin = 'stdin') {
  const stage = `luna_stage_${++stageNo}`;
  await store.exec(`CREATE TABLE ${stage} (seq UInt32, origin String, position String, record String) ENGINE = Memory`);
  await store.insertRows(stage, lines.map((record, seq) => ({ seq, origin, position: `line:${seq + 1}`, record })));
  const classified = await store.query<{ seq: number; event_id: string; event_time: string; _status: string; _reason: string; _message: string }>(
    `SELECT * FROM (${collector.classifySql(stage)}) ORDER BY seq SETTINGS query_plan_enable_optimizations = 0`,
  );
  const rows = await store.query<Record<string, unknown>>(`SELECT * FROM (${collector.normalizeSql(stage)}) ORDER BY seq SETTINGS query_plan_enable_optimizations = 0`, PARAMS);
  return { classified, rows };
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);

describe('Luna collector, whole inputs', () => {
  it('ingests a gzip DPoD export written as a JSON list as the same events as its NDJSON lines', async () => {
    const records = ['dpod-login-success.json', 'dpod-key-create.json', 'dpod-failure.json'].map((f) => fixtureLine(f));
    const gz = write('dpod-export.json.gz', gzipSync(`[\n${records.join(',\n')}\n]\n`));
    const { summary, batches } = await run([gz]);
    expect(summary).toMatchObject({ read: 3, inserted: 3, duplicates: 0, quarantined: {}, dropped: {} });
    expect(summary.bySource['luna-hsm']?.inserted).toBe(3);
    const batch = batches[0] as BatchResult;
    const events = (await store.query(`SELECT * FROM key_events WHERE startsWith(raw_id, {b:String}) ORDER BY event_time`, { b: `${batch.batchId}:` })).map((r) => KeyEvent.parse(r));
    expect(events.map((e) => [e.operation, e.outcome, e.account])).toEqual([
      ['login', 'success', '5b1c6a2e-8f3d-4c7a-9e21-0d4f6b8a1c35'],
      ['create_key', 'success', '5b1c6a2e-8f3d-4c7a-9e21-0d4f6b8a1c35'],
      ['verify', 'failure', '7d2f4b91-0c3e-4a58-b6d7-e18f2a4c6b03'],
    ]);
    const positions = await store.query<{ position: string }>('SELECT position FROM raw_events WHERE batch_id = {b:String} ORDER BY seq', { b: batch.batchId });
    expect(positions.map((p) => p.position)).toEqual(['[0]', '[1]', '[2]']);
    // An element is framed with the bytes of the record, so the same records as NDJSON lines have
    // the same content hash and are duplicates.
    const lines = await run([write('dpod-export.ndjson', records.join('\n') + '\n')]);
    expect(lines.summary).toMatchObject({ read: 3, inserted: 0, duplicates: 3 });
  });

  it('keeps every good line of a syslog file with bad lines and quarantines each bad one at its line', async () => {
    const lines = [
      fixtureLine('syslog-rfc3164-decrypt.log').replace('1842,', '2842,'),
      fixtureLine('bad/garbage-line.log'),
      fixtureLine('generate-key.log').replace('1845,', '2845,'),
      '{"time":"2026-03-02 08:14:52 UTC","action":',
      '',
      fixtureLine('bad/bad-time.log'),
      fixtureLine('bad/missing-result.log'),
      fixtureLine('unknown-event.log').replace('1870,', '2870,'),
    ];
    const { summary, batches } = await run([write('mixed.log', lines.join('\n') + '\n')]);
    expect(summary.read).toBe(7);
    expect(summary.inserted).toBe(3);
    expect(summary.quarantined).toEqual({ unrecognized_luna_line: 1, invalid_json: 1, bad_event_time: 1, missing_field: 1 });
    expect(summary.read).toBe(summary.inserted + summary.duplicates + sum(summary.quarantined) + sum(summary.dropped));
    const batchId = (batches[0] as BatchResult).batchId;
    const q = await store.query<{ position: string; reason: string; record: string }>(
      'SELECT position, reason, record FROM quarantine WHERE batch_id = {b:String} ORDER BY position',
      { b: batchId },
    );
    expect(q).toEqual([
      { position: 'line:2', reason: 'unrecognized_luna_line', record: lines[1] },
      { position: 'line:4', reason: 'invalid_json', record: lines[3] },
      { position: 'line:6', reason: 'bad_event_time', record: lines[5] },
      { position: 'line:7', reason: 'missing_field', record: lines[6] },
    ]);
    const ids = await store.query<{ event_id: string }>(`SELECT event_id FROM key_events WHERE startsWith(raw_id, {b:String}) ORDER BY event_id`, { b: `${batchId}:` });
    expect(ids.map((r) => r.event_id)).toEqual(['luna:1520001:2842', 'luna:1520001:2845', 'luna:1520001:2870']);
  });

  it('adds nothing when the same lines come again, whether by id or by content hash', async () => {
    const path = write('again.log', [fixtureLine('destroy-object.log').replace('1851,', '3851,'), fixtureLine('no-header-record.log').replace('23   ', '24   ')].join('\n') + '\n');
    const first = await run([path]);
    expect(first.summary).toMatchObject({ read: 2, inserted: 2, duplicates: 0 });
    const second = await run([path]);
    expect(second.summary).toMatchObject({ read: 2, normalized: 2, inserted: 0, duplicates: 2, quarantined: {}, dropped: {} });
  });
});

describe('Luna record-number gaps', () => {
  const line = (n: number, serial = '1520077') => `${n},03/03/26 10:00:${String(n % 60).padStart(2, '0')},S/N ${serial} session 3 Access 2147483651:9000 CU(5) operation LUNA_SIGN returned RC_OK(0x00000000) using key handle(12)`;

  it('records a gap in one HSM\'s record numbers as an audit_integrity finding, once', async () => {
    const { summary } = await run([write('gap-1.log', [line(100), line(101), line(104), line(105), line(100, '1520078'), line(102, '1520078')].join('\n') + '\n')]);
    expect(summary.inserted).toBe(6);
    expect(summary.findings).toBe(2);
    const rows = await store.query<Record<string, string>>(
      `SELECT stream, kind, from_position, to_position, missing, before_event_id, after_event_id, tenant, toString(before_time) AS before_time
       FROM audit_integrity FINAL WHERE source = 'luna-hsm' AND stream IN ('1520077', '1520078') ORDER BY stream`,
    );
    expect(rows).toEqual([
      { stream: '1520077', kind: 'sequence_gap', from_position: '102', to_position: '103', missing: '2', before_event_id: 'luna:1520077:101', after_event_id: 'luna:1520077:104', tenant: 'default', before_time: '2026-03-03 10:00:41.000' },
      { stream: '1520078', kind: 'sequence_gap', from_position: '101', to_position: '101', missing: '1', before_event_id: 'luna:1520078:100', after_event_id: 'luna:1520078:102', tenant: 'default', before_time: '2026-03-03 10:00:40.000' },
    ]);
    // The same input again finds nothing new.
    const again = await run([write('gap-1-again.log', line(104) + '\n')]);
    expect(again.summary.duplicates).toBe(1);
  });

  it('drops a finding once the missing records arrive, and keeps the rest', async () => {
    const { summary } = await run([write('gap-fill.log', [line(102), line(103), line(106)].join('\n') + '\n')]);
    expect(summary.inserted).toBe(3);
    const rows = await store.query<{ stream: string; from_position: string }>(
      `SELECT stream, toString(from_position) AS from_position FROM audit_integrity FINAL WHERE source = 'luna-hsm' AND stream IN ('1520077', '1520078') ORDER BY stream`,
    );
    expect(rows).toEqual([{ stream: '1520078', from_position: '101' }]);
  });
});

describe('Luna layouts are data', () => {
  it('reads the relay line by the user layout only when that layout is loaded', async () => {
    const relay = fixtureLine('alternative-layout.log');
    const builtIn = await normalizeLines(createLunaHsmCollector({ layouts: compileLayouts({}) }), [relay]);
    // Without the layout the line still yields what the tolerant search finds: the event, a time
    // read month-first, no serial or record number.
    expect(builtIn.classified[0]).toMatchObject({ _status: 'ok', event_time: '2026-02-03 09:30:00.000' });
    expect(builtIn.rows[0]).toMatchObject({ operation: 'sign', outcome: 'success', account: 'relay-02', key_id: '' });
    expect((builtIn.rows[0] as { attributes: Record<string, string> }).attributes.layout).toBe('tolerant');

    const withLayout = await normalizeLines(createLunaHsmCollector({ layouts: compileLayouts(JSON.parse(readFileSync(EXAMPLE_LAYOUTS, 'utf8'))) }), [relay]);
    expect(withLayout.classified[0]).toMatchObject({ _status: 'ok', event_id: 'luna:1520001:1901', event_time: '2026-03-02 09:30:00.000' });
    expect(withLayout.rows[0]).toMatchObject({ account: '1520001', key_id: '1520001/2010', tenant: 'globex' });
  });

  it('reads year-first dates when the layouts file says so', async () => {
    const sketch = '1842,26/03/02 08:19:07,S/N 1520001 session 14 access 2147483651:8812 CU(5) operation LUNA_DECRYPT_INIT returned RC_OK(0x00000000) using key handle(2001)';
    const monthFirst = await normalizeLines(createLunaHsmCollector({ layouts: compileLayouts({}) }), [sketch]);
    expect(monthFirst.classified[0]).toMatchObject({ _status: 'quarantined', _reason: 'bad_event_time' });
    expect(monthFirst.classified[0]?._message).toContain('date order MDY');
    const yearFirst = await normalizeLines(createLunaHsmCollector({ layouts: compileLayouts({ dateOrder: 'YMD' }) }), [sketch]);
    expect(yearFirst.classified[0]).toMatchObject({ _status: 'ok', event_id: 'luna:1520001:1842', event_time: '2026-03-02 08:19:07.000' });
    expect(yearFirst.rows[0]).toMatchObject({ operation: 'decrypt', principal: 'CU', key_id: '1520001/2001' });
  });

  it('quarantines as unrecognized a line that no layout matches and that names no LUNA event, naming the layouts tried', async () => {
    const c = createLunaHsmCollector({ layouts: compileLayouts({ layouts: [{ name: 'strict-relay', pattern: '^hsm=(?P<serial>\\d+) op=(?P<operation>LUNA_\\w+)' }] }) });
    const r = await normalizeLines(c, ['kernel: something else', 'hsm=1520001 op=LUNA_LOGIN rc=RC_OK at 2026-03-02T08:00:00Z']);
    expect(r.classified.map((x) => x._reason)).toEqual(['unrecognized_luna_line', '']);
    expect(r.classified[0]?._message).toContain('layouts tried: strict-relay, luna-audit-record, luna-audit-record-any');
    expect(r.rows[1]).toMatchObject({ operation: 'login', account: '1520001', outcome: 'success' });
  });
});

describe('Luna syslog headers', () => {
  const c = createLunaHsmCollector({ layouts: compileLayouts({}) });

  it('takes the time from the header when the body has none, and the year from an rsyslog year prefix', async () => {
    const r = await normalizeLines(c, ['<134>2026 Mar  2 08:19:07 luna-nyc-01 luna-audit: S/N 1520001 session 4 Access 2147483651:1 CO(0) operation LUNA_LOGOUT returned RC_OK(0x00000000)']);
    expect(r.classified[0]).toMatchObject({ _status: 'ok', event_time: '2026-03-02 08:19:07.000' });
    expect(r.rows[0]).toMatchObject({ operation: 'logout', principal: 'CO', account: '1520001' });
  });

  it('reads the audit record after the ^ that Luna remote logging puts in the message', async () => {
    const r = await normalizeLines(c, ['<158>1 2026-03-02T08:19:07Z luna-nyc-01 hsm - - - HSM-AUDIT^1842,03/02/26 08:19:07,S/N 1520001 session 14 Access 2147483651:8812 CU(5) operation LUNA_ENCRYPT_INIT returned RC_OK(0x00000000) using key handle(2001)']);
    expect(r.classified[0]).toMatchObject({ _status: 'ok', event_id: 'luna:1520001:1842' });
    expect(r.rows[0]).toMatchObject({ operation: 'encrypt', key_id: '1520001/2001' });
    expect((r.rows[0] as { attributes: Record<string, string> }).attributes).toMatchObject({ msg_prefix: 'HSM-AUDIT', layout: 'luna-audit-record', syslog_header: '5424' });
  });

  it('reads an rsyslog file line with an ISO timestamp and a tag with a pid', async () => {
    const r = await normalizeLines(c, ['2026-03-02T08:19:07.123456+00:00 luna-nyc-01 luna-audit[311]: 1899,03/02/26 08:19:07,S/N 1520001 session 1 Access 2147483651:2 CU(5) operation LUNA_UNWRAP_KEY returned RC_OK(0x00000000) using key handle(77)']);
    expect(r.rows[0]).toMatchObject({ operation: 'unwrap', event_id: 'luna:1520001:1899', key_id: '1520001/77' });
    expect((r.rows[0] as { attributes: Record<string, string> }).attributes).toMatchObject({ syslog_header: 'iso', syslog_host: 'luna-nyc-01', syslog_app: 'luna-audit' });
  });

  it('maps multi-part calls, cloning and sessions by their event names', async () => {
    const names = ['LUNA_SIGN_FINAL', 'LUNA_WRAP_KEY', 'LUNA_CLONE_AS_SOURCE', 'LUNA_CLONE_AS_TARGET', 'LUNA_OPEN_SESSION', 'LUNA_LOG_SET_CONFIG', 'LUNA_FIND_OBJECTS_INIT', 'LUNA_INIT_TOKEN'];
    const r = await normalizeLines(c, names.map((n, i) => `${500 + i},03/02/26 08:19:07,S/N 1520009 session 1 Access 1:2 SO(1) operation ${n} returned RC_OK(0x00000000)`));
    expect(r.rows.map((x) => `${x.operation}/${x.operation_class}`)).toEqual([
      'sign/crypto',
      'wrap/crypto',
      'backup_key/lifecycle',
      'restore_key/lifecycle',
      'other/auth',
      'other/admin',
      'list/read',
      'other/admin',
    ]);
  });

  it('gives the same event id and time in classification and normalization for every fixture', async () => {
    const lines = ['syslog-rfc3164-decrypt.log', 'syslog-rfc5424-login-failure.log', 'no-header-record.log', 'tolerant-field-order.log', 'dpod-key-create.json', 'dpod-failure.json'].map(fixtureLine);
    const r = await normalizeLines(c, lines);
    expect(r.classified.every((x) => x._status === 'ok')).toBe(true);
    expect(r.rows.map((x) => [x.event_id, x.event_time])).toEqual(r.classified.map((x) => [x.event_id, x.event_time]));
  });
});
