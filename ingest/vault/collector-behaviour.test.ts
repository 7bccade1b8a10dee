import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import { openInput } from '../transports/file.ts';
import { vaultCollector } from './collector.ts';
import { vaultNormalizeSql } from './normalize-sql.ts';

// Behaviour of the vault collector over whole inputs, through the real pipeline into an embedded
// store; the one-fixture-at-a-time golden cases are in collector.test.ts.

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const BAD = join(FIXTURES, 'bad');
const TENANTS = { root: 'acme', globex: 'globex' };
const DEFAULT_TENANT = 'default';
const INGEST_TIME = '2026-11-29 00:00:00.000';

type Entry = Record<string, unknown> & { request: Record<string, unknown>; response?: Record<string, unknown> };

const fixtureLines = (file: string) => readFileSync(join(FIXTURES, file), 'utf8').replace(/\r?\n$/, '').split('\n');
const fixtureEntries = (file: string) => fixtureLines(file).map((l) => JSON.parse(l) as Entry);
const badLine = (file: string) => readFileSync(join(BAD, file), 'utf8').replace(/\r?\n$/, '');

/** A copy of an entry under another request id, so that a test's events are its own. */
function renamed(e: Entry, id: string, change: (e: Entry) => void = () => undefined): Entry {
  const c = structuredClone(e);
  c.request.id = id;
  change(c);
  return c;
}

const dir = tempDir('keywatch-vault-behaviour-');
let store: Store;

beforeAll(async () => {
  store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
});
afterAll(async () => {
  await store?.close();
  dir.remove();
});

async function run(paths: string[], opts: Partial<IngestOptions> = {}): Promise<{ summary: IngestSummary; batches: BatchResult[] }> {
  const batches: BatchResult[] = [];
  const summary = await ingest(paths.map((p) => openInput(p)), {
    store,
    clock: fixedClock('2026-11-29T00:00:00.000Z'),
    format: 'auto',
    tenants: TENANTS,
    defaultTenant: DEFAULT_TENANT,
    batchBytes: 8 << 20,
    maxRecordBytes: 1 << 20,
    onBatch: (b) => batches.push(b),
    ...opts,
  });
  return { summary, batches };
}

function writeTemp(name: string, content: string | Buffer): string {
  const path = join(dir.path, name);
  writeFileSync(path, content);
  return path;
}

const linesOf = (entries: Entry[]) => entries.map((e) => JSON.stringify(e)).join('\n') + '\n';

async function eventById(id: string): Promise<KeyEvent> {
  const rows = await store.query('SELECT * FROM key_events WHERE event_id = {id:String}', { id });
  expect(rows, id).toHaveLength(1);
  return KeyEvent.parse(rows[0]);
}

async function eventsOfBatches(batches: BatchResult[]): Promise<KeyEvent[]> {
  const rows = await store.query("SELECT * FROM key_events WHERE splitByChar(':', raw_id)[1] IN {ids:Array(String)} ORDER BY raw_id", { ids: batches.map((b) => b.batchId) });
  return rows.map((r) => KeyEvent.parse(r));
}

describe('vault collector, pairing request and response entries', () => {
  it('still makes the event from the response when its request is in an earlier batch, without latency', async () => {
    const [req, resp] = fixtureEntries('decrypt-pair.jsonl').map((e) => renamed(e, '0a0a0a0a-1111-4111-8111-000000000001'));
    const path = writeTemp('split.jsonl', linesOf([req as Entry, resp as Entry]));
    // A batch limit below one record's size closes a batch after every record.
    const { summary, batches } = await run([path], { batchBytes: 64 });
    expect(batches.map((b) => [b.records, b.inserted, b.dropped])).toEqual([
      [1, 0, { vault_request_unanswered: 1 }],
      [1, 1, {}],
    ]);
    expect(summary).toMatchObject({ read: 2, inserted: 1, duplicates: 0, quarantined: {} });
    const e = await eventById('vault:0a0a0a0a-1111-4111-8111-000000000001');
    expect(e).toMatchObject({ operation: 'decrypt', key_id: 'transit/orders', event_time: '2026-03-02 08:17:05.551', latency_ms: null });
    // The request entry is kept as received, only not as an event.
    const raw = await store.query<{ n: string }>('SELECT count() AS n FROM raw_events WHERE batch_id = {b:String}', { b: (batches[0] as BatchResult).batchId });
    expect(Number(raw[0]?.n)).toBe(1);
  });

  it('adds nothing when the same file is ingested again, and the response is a duplicate whatever batch it lands in', async () => {
    const entries = [
      ...fixtureEntries('decrypt-pair.jsonl').map((e) => renamed(e, '0b0b0b0b-1111-4111-8111-000000000001')),
      ...fixtureEntries('encrypt-denied.jsonl').map((e) => renamed(e, '0b0b0b0b-1111-4111-8111-000000000002')),
    ];
    const path = writeTemp('again.jsonl', linesOf(entries));
    const first = await run([path]);
    expect(first.summary).toMatchObject({ read: 4, inserted: 2, duplicates: 0, dropped: { vault_request_paired: 2 } });
    const second = await run([path]);
    expect(second.summary).toMatchObject({ read: 4, normalized: 2, inserted: 0, duplicates: 2, dropped: { vault_request_paired: 2 }, quarantined: {} });
    const third = await run([path], { batchBytes: 64 });
    expect(third.summary).toMatchObject({ read: 4, inserted: 0, duplicates: 2, dropped: { vault_request_unanswered: 2 } });
  });

  it('gives the same latency when the batch is passed as a relation as when it is looked up in raw_events', async () => {
    const entries = fixtureEntries('policy-write.jsonl').map((e) => renamed(e, '0c0c0c0c-1111-4111-8111-000000000001'));
    const path = writeTemp('latency.jsonl', linesOf(entries));
    const { batches } = await run([path]);
    const batchId = (batches[0] as BatchResult).batchId;
    const params = { batch_id: batchId, ingest_time: INGEST_TIME, tenants: TENANTS, default_tenant: DEFAULT_TENANT };
    const batch = '(SELECT seq, position, record FROM raw_events WHERE batch_id = {batch_id:String})';
    const response = '(SELECT seq, position, record FROM raw_events WHERE batch_id = {batch_id:String} AND seq = 1)';
    const viaRaw = await store.query<{ latency_ms: number }>(`SELECT latency_ms FROM (${vaultNormalizeSql(response)})`, params);
    const viaBatch = await store.query<{ latency_ms: number }>(`SELECT latency_ms FROM (${vaultNormalizeSql(response, batch)})`, params);
    expect(viaRaw).toEqual([{ latency_ms: 6.116 }]);
    expect(viaBatch).toEqual(viaRaw);
  });
});

describe('vault collector, whole files', () => {
  it('ingests a gzip audit log as the same events as the plain file', async () => {
    const entries = [
      ...fixtureEntries('decrypt-pair.jsonl'),
      ...fixtureEntries('rotate.json'),
      ...fixtureEntries('approle-login.jsonl'),
      ...fixtureEntries('kv-read.jsonl'),
    ].map((e) => renamed(e, `0d0d0d0d-1111-4111-8111-${String(e.request.id).slice(-12)}`));
    const gz = writeTemp('audit.log.gz', gzipSync(linesOf(entries)));
    const { summary, batches } = await run([gz]);
    expect(summary).toMatchObject({ read: 7, inserted: 3, dropped: { vault_request_paired: 2, non_key_path: 2 }, quarantined: {} });
    const events = await eventsOfBatches(batches);
    expect(events.map((e) => e.operation).sort()).toEqual(['decrypt', 'login', 'rotate_key']);
    expect(events.find((e) => e.operation === 'decrypt')?.latency_ms).toBe(1.342);
  });

  it('keeps every good entry of a file with malformed lines and quarantines each bad line with its line number', async () => {
    const good = [
      ...fixtureEntries('decrypt-pair.jsonl').map((e) => renamed(e, '0e0e0e0e-1111-4111-8111-000000000001')),
      renamed(fixtureEntries('export-key.json')[0] as Entry, '0e0e0e0e-1111-4111-8111-000000000002'),
    ];
    const lines = [
      JSON.stringify(good[0]), // 1 request
      badLine('invalid-json.json'), // 2
      '', // 3: blank lines are skipped but counted
      badLine('missing-type.json'), // 4
      JSON.stringify(good[1]), // 5 response
      badLine('bad-time.json'), // 6
      badLine('kv-list-response.json'), // 7 dropped
      `2026-03-02T23:14:09.771211+00:00 vault-2 vault[913]: ${JSON.stringify(good[2])}`, // 8 syslog
    ];
    const path = writeTemp('mixed.log', lines.join('\n') + '\n');
    const { summary, batches } = await run([path], { format: 'vault' });
    expect(summary).toMatchObject({
      read: 7, inserted: 2,
      dropped: { vault_request_paired: 1, non_key_path: 1 },
      quarantined: { invalid_json: 1, missing_field: 1, bad_event_time: 1 },
    });
    const events = await eventsOfBatches(batches);
    expect(events.map((e) => [e.event_id, e.raw_id.split(':')[1]])).toEqual([
      ['vault:0e0e0e0e-1111-4111-8111-000000000001', '3'],
      ['vault:0e0e0e0e-1111-4111-8111-000000000002', '6'],
    ]);
    const quarantined = await store.query<{ position: string; reason: string; record: string }>(
      'SELECT position, reason, record FROM quarantine WHERE batch_id = {b:String} ORDER BY toUInt32(substring(position, 6))',
      { b: (batches[0] as BatchResult).batchId },
    );
    expect(quarantined).toEqual([
      { position: 'line:2', reason: 'invalid_json', record: lines[1] },
      { position: 'line:4', reason: 'missing_field', record: lines[3] },
      { position: 'line:6', reason: 'bad_event_time', record: lines[5] },
    ]);
  });

  it('routes the vault entries of a stream that also carries CloudTrail records to the vault collector', async () => {
    const cloudtrail = readFileSync(join(FIXTURES, '..', '..', 'aws-kms', 'fixtures', 'list-keys.json'), 'utf8').trim();
    const entries = fixtureEntries('decrypt-pair.jsonl').map((e) => renamed(e, '0f0f0f0f-1111-4111-8111-000000000001'));
    const path = writeTemp('mixed-sources.jsonl', `${linesOf(entries)}${cloudtrail}\n`);
    const { summary } = await run([path]);
    expect(summary.bySource.vault).toMatchObject({ read: 2, inserted: 1, dropped: 1 });
    expect(summary.bySource['aws-kms']).toMatchObject({ read: 1 });
  });
});

describe('vault collector, namespaces and mounts', () => {
  it('strips a namespace prefix from mount_point when a Vault version writes one', async () => {
    const [base] = fixtureEntries('namespace-encrypt.json');
    const e = renamed(base as Entry, '10101010-1111-4111-8111-000000000001', (x) => {
      x.request.mount_point = 'globex/transit/';
    });
    await run([writeTemp('ns-mount.json', linesOf([e]))]);
    expect(await eventById('vault:10101010-1111-4111-8111-000000000001')).toMatchObject({
      key_id: 'globex/transit/ledger', account: 'globex', tenant: 'globex', attributes: expect.objectContaining({ mount_point: 'transit/', namespace: 'globex' }),
    });
  });

  it('maps a namespace the tenants do not name to the default tenant', async () => {
    const [base] = fixtureEntries('namespace-encrypt.json');
    const e = renamed(base as Entry, '10101010-1111-4111-8111-000000000002', (x) => {
      x.request.namespace = { id: 'pQ81z', path: 'globex/payments/' };
    });
    await run([writeTemp('ns-nested.json', linesOf([e]))]);
    expect(await eventById('vault:10101010-1111-4111-8111-000000000002')).toMatchObject({
      key_id: 'globex/payments/transit/ledger', account: 'globex/payments', tenant: 'default',
    });
  });
});

interface PathCase {
  name: string;
  operation: string;
  path: string;
  mountType?: string;
  mountPoint?: string | null;
  data?: Record<string, unknown>;
  respData?: Record<string, unknown>;
  error?: string;
  expected: Partial<KeyEvent>;
  attributes?: Record<string, string>;
}

// One response entry per case, built from a fixture's encrypt response, all ingested as one file.
const PATH_CASES: PathCase[] = [
  { name: 'create a key', operation: 'update', path: 'transit/keys/invoices', data: { type: 'aes256-gcm96', exportable: true },
    expected: { operation: 'create_key', operation_class: 'lifecycle', key_id: 'transit/invoices', vendor_operation: 'update transit/keys' }, attributes: { exportable: 'true' } },
  { name: 'read a key', operation: 'read', path: 'transit/keys/invoices', expected: { operation: 'describe', operation_class: 'read', key_id: 'transit/invoices', vendor_operation: 'read transit/keys' } },
  { name: 'delete a key', operation: 'delete', path: 'transit/keys/invoices', expected: { operation: 'destroy_version', operation_class: 'lifecycle', key_id: 'transit/invoices' } },
  { name: 'list keys', operation: 'list', path: 'transit/keys/', expected: { operation: 'list', operation_class: 'read', key_id: '', vendor_operation: 'list transit/keys' } },
  { name: 'trim old versions', operation: 'update', path: 'transit/keys/invoices/trim', expected: { operation: 'destroy_version', key_id: 'transit/invoices', vendor_operation: 'update transit/keys/trim' } },
  { name: 'key config without rotation period', operation: 'update', path: 'transit/keys/invoices/config', data: { deletion_allowed: true },
    expected: { operation: 'update_key', operation_class: 'lifecycle' }, attributes: { deletion_allowed: 'true' } },
  { name: 'rotation period "0s"', operation: 'update', path: 'transit/keys/invoices/config', data: { auto_rotate_period: '0s' }, expected: { operation: 'disable_rotation' } },
  { name: 'import key material', operation: 'update', path: 'transit/keys/byok-1/import', expected: { operation: 'import_key_material', key_id: 'transit/byok-1', vendor_operation: 'update transit/keys/import' } },
  { name: 'import a key version', operation: 'update', path: 'transit/keys/byok-1/import_version', expected: { operation: 'import_key_material', key_id: 'transit/byok-1' } },
  { name: 'read the BYOK wrapping key', operation: 'read', path: 'transit/wrapping_key', expected: { operation: 'describe', operation_class: 'read', key_id: '', vendor_operation: 'read transit/wrapping_key' } },
  { name: 'restore a backup', operation: 'update', path: 'transit/restore/invoices', expected: { operation: 'restore_key', operation_class: 'lifecycle', key_id: 'transit/invoices' } },
  { name: 'BYOK export to another key', operation: 'read', path: 'transit/byok-export/partner-wrap/invoices/3',
    expected: { operation: 'export_key', key_id: 'transit/invoices', key_version: '3' }, attributes: { destination_key: 'partner-wrap' } },
  { name: 'datakey plaintext', operation: 'update', path: 'transit/datakey/plaintext/invoices', respData: { ciphertext: 'hmac-sha256:00', plaintext: 'hmac-sha256:01', key_version: 'hmac-sha256:02' },
    expected: { operation: 'generate_data_key', key_version: '' }, attributes: { datakey_type: 'plaintext' } },
  { name: 'random bytes', operation: 'update', path: 'transit/random/32', expected: { operation: 'other', operation_class: 'crypto', key_id: '', vendor_operation: 'update transit/random' } },
  { name: 'cache config', operation: 'update', path: 'transit/cache-config', expected: { operation: 'other', operation_class: 'admin', key_id: '' } },
  { name: 'denied decrypt without mount_point', operation: 'update', path: 'kms/eu/decrypt/invoices', mountPoint: null, error: '1 error occurred:\n\t* permission denied\n\n',
    expected: { operation: 'decrypt', key_id: 'kms/eu/invoices', outcome: 'failure', error_code: 'permission_denied' }, attributes: { mount_point: 'kms/eu/' } },
  { name: 'legacy policy write', operation: 'update', path: 'sys/policy/ops', mountType: 'system', mountPoint: 'sys/',
    expected: { operation: 'update_policy', operation_class: 'policy', key_id: '', vendor_operation: 'update sys/policy' }, attributes: { policy_name: 'ops' } },
  { name: 'policy read', operation: 'read', path: 'sys/policies/acl/ops', mountType: 'system', mountPoint: 'sys/', expected: { operation: 'describe', operation_class: 'read' }, attributes: { policy_name: 'ops' } },
  { name: 'policy delete', operation: 'delete', path: 'sys/policies/acl/ops', mountType: 'system', mountPoint: 'sys/', expected: { operation: 'update_policy', vendor_operation: 'delete sys/policies/acl' } },
  { name: 'policy list', operation: 'list', path: 'sys/policies/acl/', mountType: 'system', mountPoint: 'sys/', expected: { operation: 'list', operation_class: 'read' } },
  { name: 'enable an auth method', operation: 'update', path: 'sys/auth/github', mountType: 'system', mountPoint: 'sys/',
    expected: { operation: 'other', operation_class: 'admin', vendor_operation: 'update sys/auth' }, attributes: { auth_path: 'github', auth_change: 'enable' } },
  { name: 'disable an auth method', operation: 'delete', path: 'sys/auth/team/ldap', mountType: 'system', mountPoint: 'sys/',
    expected: { operation: 'other', operation_class: 'admin' }, attributes: { auth_path: 'team/ldap', auth_change: 'disable' } },
  { name: 'tune an auth method', operation: 'update', path: 'sys/auth/github/tune', mountType: 'system', mountPoint: 'sys/',
    expected: { operation: 'other', vendor_operation: 'update sys/auth/tune' }, attributes: { auth_path: 'github', auth_change: 'tune' } },
  { name: 'list auth methods', operation: 'read', path: 'sys/auth', mountType: 'system', mountPoint: 'sys/', expected: { operation: 'list', operation_class: 'read' } },
  { name: 'enable an audit device', operation: 'update', path: 'sys/audit/socket', mountType: 'system', mountPoint: 'sys/',
    expected: { operation: 'other', operation_class: 'admin' }, attributes: { audit_device: 'socket', audit_device_change: 'enable' } },
  { name: 'enable a secrets engine', operation: 'update', path: 'sys/mounts/transit-eu', mountType: 'system', mountPoint: 'sys/',
    expected: { operation: 'other', operation_class: 'admin', vendor_operation: 'update sys/mounts' }, attributes: { mount_path: 'transit-eu', mount_change: 'enable' } },
  { name: 'move a secrets engine', operation: 'update', path: 'sys/remount', mountType: 'system', mountPoint: 'sys/',
    expected: { operation: 'other', operation_class: 'admin', vendor_operation: 'update sys/remount' }, attributes: { mount_change: 'remount' } },
  { name: 'list secrets engines', operation: 'read', path: 'sys/mounts', mountType: 'system', mountPoint: 'sys/', expected: { operation: 'list', operation_class: 'read' } },
  { name: 'kubernetes login', operation: 'update', path: 'auth/kubernetes/login', mountType: 'kubernetes', mountPoint: 'auth/kubernetes/',
    expected: { operation: 'login', operation_class: 'auth', vendor_operation: 'update auth/kubernetes/login' }, attributes: { auth_method: 'kubernetes' } },
  { name: 'OIDC callback', operation: 'read', path: 'auth/oidc/oidc/callback', mountType: 'oidc', mountPoint: 'auth/oidc/', expected: { operation: 'login', operation_class: 'auth' } },
  { name: 'error only in the response data', operation: 'update', path: 'transit/decrypt/invoices', respData: { error: 'hmac-sha256:0f' },
    expected: { outcome: 'failure', error_code: 'error_response' }, attributes: { response_error: 'hmac-sha256:0f' } },
  { name: 'two errors, the first one counts', operation: 'update', path: 'transit/encrypt/invoices', error: '2 errors occurred:\n\t* encryption key not found\n\t* invalid request\n\n',
    expected: { outcome: 'failure', error_code: 'encryption_key_not_found' } },
  { name: 'rate limited', operation: 'update', path: 'transit/encrypt/invoices', error: 'request path "transit/encrypt/invoices": rate limit quota exceeded',
    expected: { outcome: 'failure', error_code: 'rate_limited' } },
];

describe('vault collector, path mapping', () => {
  const [template] = fixtureEntries('response-without-request.json');
  let events = new Map<string, KeyEvent>();
  const idOf = (i: number) => `20202020-1111-4111-8111-${String(i).padStart(12, '0')}`;

  beforeAll(async () => {
    const entries = PATH_CASES.map((c, i) =>
      renamed(template as Entry, idOf(i), (e) => {
        e.request.operation = c.operation;
        e.request.path = c.path;
        e.request.mount_type = c.mountType ?? 'transit';
        if (c.mountPoint === null) {
          delete e.request.mount_point;
          delete e.request.mount_accessor;
        } else e.request.mount_point = c.mountPoint ?? 'transit/';
        if (c.data) e.request.data = c.data;
        else delete e.request.data;
        e.response = c.respData ? { data: c.respData } : {};
        if (c.error) e.error = c.error;
      }),
    );
    const { summary, batches } = await run([writeTemp('paths.jsonl', linesOf(entries))]);
    expect(summary).toMatchObject({ read: PATH_CASES.length, inserted: PATH_CASES.length, quarantined: {}, dropped: {} });
    events = new Map((await eventsOfBatches(batches)).map((e) => [e.event_id, e]));
  });

  it.each(PATH_CASES.map((c, i) => [c.name, i] as const))('maps %s', (_name, i) => {
    const c = PATH_CASES[i] as PathCase;
    const e = events.get(`vault:${idOf(i)}`);
    expect(e).toMatchObject(c.expected);
    if (c.attributes) expect(e?.attributes).toMatchObject(c.attributes);
  });
});

describe('vault collector, secrets', () => {
  /** Every token, accessor and request or response data value in the fixtures. */
  function secretValues(): Set<string> {
    const out = new Set<string>();
    const walk = (v: unknown) => {
      if (typeof v === 'string' && v !== '') out.add(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    for (const f of readdirSync(FIXTURES).filter((n) => /\.(json|jsonl|log)$/.test(n) && !n.endsWith('.expected.json'))) {
      for (const line of fixtureLines(f)) {
        const e = JSON.parse(line.slice(line.indexOf('{'))) as { auth?: Record<string, unknown>; request: Record<string, unknown>; response?: Record<string, unknown> };
        for (const k of ['client_token', 'accessor']) walk(e.auth?.[k]);
        for (const k of ['client_token', 'client_token_accessor']) walk(e.request[k]);
        const data = e.request.data as Record<string, unknown> | undefined;
        // Only the rotation period is meant to be kept (clear or HMAC'd, as written); the rest of the data never.
        for (const [k, v] of Object.entries(data ?? {})) if (k !== 'auto_rotate_period') walk(v);
        const rdata = e.response?.data as Record<string, unknown> | undefined;
        for (const [k, v] of Object.entries(rdata ?? {})) if (k !== 'error' && k !== 'key_version' && k !== 'latest_version' && k !== 'valid') walk(v);
        const rauth = e.response?.auth as Record<string, unknown> | undefined;
        for (const k of ['client_token', 'accessor']) walk(rauth?.[k]);
      }
    }
    return out;
  }

  it('never copies tokens, accessors or request and response data of the fixtures into an event', async () => {
    const secrets = secretValues();
    expect(secrets.size).toBeGreaterThan(40);
    const names = readdirSync(FIXTURES).filter((n) => /\.(json|jsonl|log)$/.test(n) && !n.endsWith('.expected.json'));
    const { batches } = await run(names.map((n) => join(FIXTURES, n)), { format: 'vault' });
    const events = await eventsOfBatches(batches);
    expect(events.length).toBeGreaterThan(20);
    for (const e of events) {
      const values = [...Object.values(e).filter((v): v is string => typeof v === 'string'), ...Object.values(e.attributes)];
      expect(values.filter((v) => secrets.has(v)), e.event_id).toEqual([]);
      expect(Object.keys(e.attributes).some((k) => /^(client_token|accessor|client_token_accessor|plaintext|ciphertext|secret_id|role_id|password)$/.test(k)), e.event_id).toBe(false);
    }
  });

  it('recognises its entries, and only them, from their first bytes', () => {
    const head = readFileSync(join(FIXTURES, 'decrypt-pair.jsonl'), 'utf8');
    expect(vaultCollector.sniff(head)).toBe(true);
    expect(vaultCollector.sniffRecord(Buffer.from(head.split('\n')[0] as string))).toBe(true);
    const cloudtrail = readFileSync(join(FIXTURES, '..', '..', 'aws-kms', 'fixtures', 'decrypt-assumed-role.json'), 'utf8');
    expect(vaultCollector.sniff(cloudtrail)).toBe(false);
    expect(vaultCollector.sniffRecord(Buffer.from(cloudtrail))).toBe(false);
  });
});
