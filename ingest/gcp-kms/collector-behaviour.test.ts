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
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import { openInput } from '../transports/file.ts';

// Behaviour of the gcp-kms collector over whole inputs, through the real pipeline into an embedded
// store; the one-fixture-at-a-time golden cases are in collector.test.ts.

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const BAD = join(FIXTURES, 'bad');
const TENANTS = { 'acme-kms-prod': 'acme' };

/** One fixture's LogEntry as an object (fixtures hold one compact entry per line). */
const fixtureEntry = (name: string) => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Record<string, unknown>;
const fixtureLine = (path: string) => readFileSync(path, 'utf8').replace(/\r?\n$/, '');
const pp = (e: Record<string, unknown>) => e.protoPayload as Record<string, unknown>;

/** A copy of a fixture entry under a new insertId, so that a test's events are its own. */
function reinserted(name: string, insertId: string, change: (e: Record<string, unknown>) => void = () => undefined): Record<string, unknown> {
  const e = structuredClone(fixtureEntry(name));
  e.insertId = insertId;
  change(e);
  return e;
}

const pubsubEnvelope = (entry: Record<string, unknown>, messageId: string) => ({
  message: { data: Buffer.from(JSON.stringify(entry)).toString('base64'), messageId, publishTime: '2026-03-20T10:00:00.000Z' },
  subscription: 'projects/acme-sec-tools/subscriptions/keywatch-kms-audit',
});

describe('gcp-kms collector behaviour', () => {
  let store: Store;
  let workDir: string;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'keywatch-gcp-kms-collector-'));
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

  function writeTemp(name: string, content: string | Buffer): string {
    const path = join(workDir, name);
    writeFileSync(path, content);
    return path;
  }

  const ndjson = (entries: unknown[]) => entries.map((e) => JSON.stringify(e)).join('\n') + '\n';

  async function eventsOf(batches: BatchResult[]): Promise<KeyEvent[]> {
    const rows = await store.query(`SELECT * FROM key_events WHERE splitByChar(':', raw_id)[1] IN {ids:Array(String)} ORDER BY event_time, event_id`, {
      ids: batches.map((b) => b.batchId),
    });
    return rows.map((r) => KeyEvent.parse(r));
  }

  it('ingests a file mixing good entries, bad lines and other services, accounting for every line', async () => {
    const lines = [
      JSON.stringify(reinserted('decrypt-data-access', 'mix-0001')), // 1
      fixtureLine(join(BAD, 'invalid-json.json')), // 2
      JSON.stringify(pubsubEnvelope(reinserted('asymmetric-sign-version', 'mix-0003'), '20000000000000003')), // 3
      fixtureLine(join(BAD, 'non-kms-service.json')), // 4
      '', // 5: blank lines are skipped but still counted
      fixtureLine(join(BAD, 'missing-method-name.json')), // 6
      fixtureLine(join(BAD, 'text-payload-entry.json')), // 7
      fixtureLine(join(BAD, 'pubsub-data-not-base64.json')), // 8
      JSON.stringify(reinserted('destroy-version', 'mix-0009')), // 9
      fixtureLine(join(BAD, 'bad-timestamp.json')), // 10
    ];
    const { summary, batches } = await run([writeTemp('mixed.ndjson', lines.join('\n') + '\n')]);

    expect(summary).toMatchObject({ read: 9, inserted: 3, duplicates: 0, dropped: { non_kms_service: 1, not_audit_log: 1 } });
    expect(summary.quarantined).toEqual({ invalid_json: 1, missing_field: 1, bad_pubsub_data: 1, bad_event_time: 1 });
    const events = await eventsOf(batches);
    expect(events.map((e) => [e.operation, e.raw_id.split(':')[1]])).toEqual([
      ['decrypt', '0'],
      ['sign', '2'],
      ['schedule_deletion', '7'],
    ]);
    const quarantined = await store.query<{ position: string; reason: string; record: string }>(
      'SELECT position, reason, record FROM quarantine WHERE batch_id = {b:String} ORDER BY toUInt32(substring(position, 6))',
      { b: (batches[0] as BatchResult).batchId },
    );
    expect(quarantined).toEqual([
      { position: 'line:2', reason: 'invalid_json', record: lines[1] },
      { position: 'line:6', reason: 'missing_field', record: lines[5] },
      { position: 'line:8', reason: 'bad_pubsub_data', record: lines[7] },
      { position: 'line:10', reason: 'bad_event_time', record: lines[9] },
    ]);
  });

  it('reads a gzip Cloud Storage sink file like the plain one', async () => {
    const plain = readFileSync(join(FIXTURES, 'gcs-sink-ndjson.ndjson'), 'utf8').replace(/"insertId":"/g, '"insertId":"gz-');
    const { summary, batches } = await run([writeTemp('08:00:00_08:59:59_S0.json.gz', gzipSync(plain))]);
    expect(summary).toMatchObject({ read: 4, inserted: 4, quarantined: {}, dropped: {} });
    const events = await eventsOf(batches);
    expect(events.map((e) => [e.operation, e.key_id, e.key_version, e.outcome])).toEqual([
      ['other', '', '', 'success'],
      ['create_key', 'projects/acme-kms-prod/locations/us-east1/keyRings/ledger/cryptoKeys/ledger-cmek', '', 'success'],
      ['create_key', 'projects/acme-kms-prod/locations/us-east1/keyRings/ledger/cryptoKeys/ledger-cmek', '', 'failure'],
      ['create_key', 'projects/acme-kms-prod/locations/us-east1/keyRings/ledger/cryptoKeys/ledger-cmek', '2', 'success'],
    ]);
  });

  it('adds nothing on re-ingest, and an entry delivered both by Pub/Sub and in an export is stored once', async () => {
    const entries = [
      reinserted('decrypt-data-access', 'again-0001'),
      reinserted('set-iam-policy-all-users', 'again-0002'),
      reinserted('import-key-version', 'again-0003'),
    ];
    const noInsertId = fixtureEntry('entry-without-insert-id');
    (noInsertId.protoPayload as Record<string, unknown>).resourceName = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/again-key';
    const exported = writeTemp('again.ndjson', ndjson([...entries, noInsertId]));

    const first = await run([exported]);
    expect(first.summary).toMatchObject({ read: 4, inserted: 4, duplicates: 0 });
    const second = await run([exported]);
    expect(second.summary).toMatchObject({ read: 4, normalized: 4, inserted: 0, duplicates: 4, quarantined: {}, dropped: {} });

    const pushed = writeTemp('again-push.ndjson', ndjson(entries.map((e, i) => pubsubEnvelope(e, `3000000000000000${i}`))));
    const third = await run([pushed]);
    expect(third.summary).toMatchObject({ read: 3, normalized: 3, inserted: 0, duplicates: 3 });
  });

  it('reads pulled Pub/Sub messages (ackId and message, no subscription) like push bodies', async () => {
    const entry = reinserted('decrypt-data-access', 'pull-0001');
    const pulled = { ackId: 'UAYWLF1GSFE3GQhoUQ5PXiM_NSAoRRIJB08CKF15MEorQVh0Dj4NGXJ9YHxrWxEDC0cCeV5ZFgdodFhQ', message: pubsubEnvelope(entry, '40000000000000001').message };
    const { summary, batches } = await run([writeTemp('pulled.json', `${JSON.stringify(pulled)}\n`)]);
    expect(summary).toMatchObject({ read: 1, inserted: 1, quarantined: {}, dropped: {} });
    const [event] = await eventsOf(batches);
    expect(event).toMatchObject({ event_id: `gcp-kms:${String(entry.logName)}:pull-0001`, operation: 'decrypt' });
    expect(event?.attributes.pubsub_message_id).toBe('40000000000000001');
    expect(event?.attributes.pubsub_subscription).toBeUndefined();
  });

  it('reads updateMask as a FieldMask object or in snake_case, and leaves other updates as update_key', async () => {
    const key = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
    const version = `${key}/cryptoKeyVersions/3`;
    const entries = [
      // Clearing the rotation schedule, mask as {"paths": [...]} in snake_case.
      reinserted('clear-rotation', 'mask-0001', (e) => {
        (pp(e).request as Record<string, unknown>).updateMask = { paths: ['rotation_period', 'next_rotation_time'] };
      }),
      // Only nextRotationTime set: a rotation is scheduled.
      reinserted('update-rotation-period', 'mask-0002', (e) => {
        const req = pp(e).request as Record<string, unknown>;
        req.cryptoKey = { name: key, nextRotationTime: '2026-09-01T00:00:00Z' };
        req.updateMask = 'next_rotation_time';
      }),
      // Labels only: not a rotation change.
      reinserted('update-rotation-period', 'mask-0003', (e) => {
        const req = pp(e).request as Record<string, unknown>;
        req.cryptoKey = { name: key, labels: { team: 'orders' } };
        req.updateMask = 'labels';
      }),
      // A version update that does not touch the state, although the logged version carries one.
      reinserted('version-disabled', 'mask-0004', (e) => {
        const p = pp(e);
        p.resourceName = version;
        p.request = { cryptoKeyVersion: { name: version, state: 'ENABLED', externalProtectionLevelOptions: { externalKeyUri: 'https://ekm.example.com/v0/keys/k2' } }, updateMask: 'externalProtectionLevelOptions' };
      }),
    ];
    const { summary, batches } = await run([writeTemp('masks.ndjson', ndjson(entries))]);
    expect(summary).toMatchObject({ read: 4, inserted: 4 });
    const events = await eventsOf(batches);
    // In event_time order: mask-0002 and mask-0003 share a timestamp (then event_id order).
    expect(events.map((e) => [e.event_id.split(':').pop(), e.operation, e.attributes.update_mask ?? ''])).toEqual([
      ['mask-0002', 'enable_rotation', 'next_rotation_time'],
      ['mask-0003', 'update_key', 'labels'],
      ['mask-0001', 'disable_rotation', 'rotation_period,next_rotation_time'],
      ['mask-0004', 'update_key', 'externalProtectionLevelOptions'],
    ]);
  });

  it('maps unlisted Get and List methods to reads and canonicalizes a resource name given with the project number', async () => {
    const entries = [
      reinserted('decrypt-data-access', 'prefix-0001', (e) => {
        pp(e).methodName = 'GetKeyAccessJustificationsPolicyConfig';
      }),
      reinserted('decrypt-data-access', 'prefix-0002', (e) => {
        pp(e).methodName = 'google.cloud.kms.v1.KeyManagementService.ListRetiredResources';
      }),
      reinserted('decrypt-data-access', 'prefix-0003', (e) => {
        pp(e).resourceName = 'projects/123456789012/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
        pp(e).status = { code: 99, message: 'a code from the future' };
      }),
    ];
    const { batches } = await run([writeTemp('prefix.ndjson', ndjson(entries))]);
    const events = await eventsOf(batches);
    const byId = new Map(events.map((e) => [String(e.event_id.split(':').pop()), e]));
    expect(byId.get('prefix-0001')).toMatchObject({ operation: 'describe', operation_class: 'read', vendor_operation: 'GetKeyAccessJustificationsPolicyConfig' });
    expect(byId.get('prefix-0002')).toMatchObject({ operation: 'list', operation_class: 'read', vendor_operation: 'ListRetiredResources' });
    expect(byId.get('prefix-0003')).toMatchObject({
      account: 'acme-kms-prod',
      key_id: 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek',
      outcome: 'failure',
      error_code: '99',
    });
    expect(byId.get('prefix-0003')?.attributes.resource_name).toBe('projects/123456789012/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek');
  });

  it('routes Cloud Audit Logs entries in a stream that starts with CloudTrail records to this collector', async () => {
    const cloudTrail = JSON.parse(readFileSync(join(FIXTURES, '../../aws-kms/fixtures/decrypt-assumed-role.json'), 'utf8')) as Record<string, unknown>;
    cloudTrail.eventID = 'e1e1e1e1-0000-4000-8000-000000000001';
    const { summary } = await run([writeTemp('mixed-producers.ndjson', ndjson([cloudTrail, reinserted('decrypt-data-access', 'route-0001')]))]);
    expect(summary.bySource['gcp-kms']).toMatchObject({ read: 1, inserted: 1 });
    expect(summary.bySource['aws-kms']).toMatchObject({ read: 1, inserted: 1 });
  });

  it('never copies key material or payloads from the request into attributes', async () => {
    const secret = 'c2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtbG9n';
    const entries = [
      reinserted('import-key-version', 'secret-0001', (e) => {
        Object.assign(pp(e).request as Record<string, unknown>, { wrappedKey: secret, rsaAesWrappedKey: secret });
      }),
      reinserted('decrypt-data-access', 'secret-0002', (e) => {
        Object.assign(pp(e).request as Record<string, unknown>, { ciphertext: secret, additionalAuthenticatedData: secret });
      }),
    ];
    const { batches } = await run([writeTemp('secrets.ndjson', ndjson(entries))]);
    const events = await eventsOf(batches);
    expect(events).toHaveLength(2);
    for (const e of events) expect(JSON.stringify(e)).not.toContain(secret);
  });
});
