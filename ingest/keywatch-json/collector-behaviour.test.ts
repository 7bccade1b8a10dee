import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { KeyEvent } from '../../core/key-event.ts';
import { OPERATION_CLASSES, OPERATION_CLASS_OF, OPERATIONS } from '../../core/operations.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { LAYOUTS_ENV } from '../luna-hsm/layouts.ts';
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import { openInput } from '../transports/file.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const INGEST = join(HERE, '..');
// The Luna fixtures include a line only the example layouts read.
process.env[LAYOUTS_ENV] = join(INGEST, 'luna-hsm', 'fixtures', 'layouts', 'example-layouts.json');

const TENANTS = { 'luna-partition-acme-01': 'acme', '111122223333': 'acme', '1520001': 'globex' };

let dir: ReturnType<typeof tempDir>;
let store: Store;

beforeAll(async () => {
  dir = tempDir('keywatch-json-behaviour-');
});

afterAll(async () => {
  await store?.close();
  dir?.remove();
});

async function openStore(name: string): Promise<Store> {
  const s = await openEmbeddedStore({ dataDir: join(dir.path, name) });
  await migrate(s, { now: () => new Date('2026-11-29T00:00:00.000Z') });
  return s;
}

async function run(s: Store, paths: string[], opts: Partial<IngestOptions> = {}): Promise<{ summary: IngestSummary; batches: BatchResult[] }> {
  const batches: BatchResult[] = [];
  const summary = await ingest(
    paths.map((p) => openInput(p)),
    { store: s, clock: fixedClock('2026-11-29T00:00:00.000Z'), format: 'auto', tenants: TENANTS, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20, onBatch: (b) => batches.push(b), ...opts },
  );
  return { summary, batches };
}

function write(name: string, lines: unknown[]): string {
  const path = join(dir.path, name);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}

/** The good fixture inputs of a collector folder. */
function fixtureInputs(source: string): string[] {
  const d = join(INGEST, source, 'fixtures');
  return readdirSync(d)
    .filter((f) => /\.(json|log)$/.test(f) && !f.endsWith('.expected.json'))
    .map((f) => join(d, f));
}

describe('keywatch-json round trip', () => {
  it('re-ingests an export of key_events into a fresh store as the same rows, apart from ingest_time and raw_id', async () => {
    const first = await openStore('first');
    const inputs = [...fixtureInputs('aws-kms'), ...fixtureInputs('luna-hsm'), ...fixtureInputs('keywatch-json')];
    const loaded = await run(first, inputs);
    expect(loaded.summary.inserted).toBeGreaterThan(40);
    const sources = Object.keys(loaded.summary.bySource).sort();
    expect(sources).toEqual(['aws-kms', 'keywatch-json', 'luna-hsm']);
    const exported = await first.queryText('SELECT * FROM key_events ORDER BY event_id', 'JSONEachRow');
    const before = await first.queryText('SELECT * EXCEPT (ingest_time, raw_id) FROM key_events ORDER BY event_id', 'JSONEachRow');
    await first.close();

    const exportPath = join(dir.path, 'key-events-export.ndjson');
    writeFileSync(exportPath, exported);
    store = await openStore('second');
    const again = await run(store, [exportPath], { clock: fixedClock('2026-12-01T00:00:00.000Z') });
    const rows = exported.trim().split('\n').length;
    expect(again.summary).toMatchObject({ read: rows, inserted: rows, duplicates: 0, quarantined: {}, dropped: {} });
    expect(Object.keys(again.summary.bySource)).toEqual(['keywatch-json']);
    const after = await store.queryText('SELECT * EXCEPT (ingest_time, raw_id) FROM key_events ORDER BY event_id', 'JSONEachRow');
    expect(after).toBe(before);
    // Every source survives as the record names it, not as the collector's name.
    const bySource = await store.query<{ source: string }>('SELECT DISTINCT source FROM key_events ORDER BY source');
    expect(bySource.map((r) => r.source)).toEqual(['aws-kms', 'custom-kms-proxy', 'luna-hsm', 'pkcs11-probe']);
    const [times] = await store.query<{ t: string }>('SELECT toString(min(ingest_time)) AS t FROM key_events');
    expect(times?.t).toBe('2026-12-01 00:00:00.000');
  });
});

describe('keywatch-json vocabulary', () => {
  it('accepts every operation of core/operations.ts with its class, and other with any class', async () => {
    const records = OPERATIONS.flatMap((op, i) => {
      const cls = OPERATION_CLASS_OF[op];
      const base = { source: 'vocab-test', event_time: `2026-04-01T00:00:${String(i % 60).padStart(2, '0')}Z`, operation: op, outcome: 'success' };
      return cls === null ? OPERATION_CLASSES.map((c) => ({ ...base, operation_class: c, event_id: `vocab-${op}-${c}` })) : [{ ...base, event_id: `vocab-${op}` }];
    });
    const { summary, batches } = await run(store, [write('vocab.ndjson', records)]);
    expect(summary).toMatchObject({ read: records.length, inserted: records.length, quarantined: {} });
    const rows = await store.query(`SELECT * FROM key_events WHERE startsWith(raw_id, {b:String})`, { b: `${(batches[0] as BatchResult).batchId}:` });
    for (const r of rows) {
      const e = KeyEvent.parse(r);
      const expected = OPERATION_CLASS_OF[e.operation];
      if (expected !== null) expect(e.operation_class).toBe(expected);
    }
  });

  it('quarantines every classed operation written with another class', async () => {
    const wrong = OPERATIONS.filter((op) => OPERATION_CLASS_OF[op] !== null).map((op, i) => ({
      source: 'vocab-test',
      event_time: `2026-04-02T00:00:${String(i % 60).padStart(2, '0')}Z`,
      operation: op,
      operation_class: OPERATION_CLASS_OF[op] === 'admin' ? 'read' : 'admin',
      outcome: 'success',
    }));
    const { summary } = await run(store, [write('vocab-wrong.ndjson', wrong)]);
    expect(summary).toMatchObject({ read: wrong.length, inserted: 0, quarantined: { operation_class_mismatch: wrong.length } });
  });
});

describe('keywatch-json inputs', () => {
  const probe = (n: number, extra: Record<string, unknown> = {}) => ({
    source: 'pkcs11-probe',
    event_time: `2026-05-01T10:00:${String(n).padStart(2, '0')}.000Z`,
    account: 'luna-partition-acme-01',
    key_id: 'luna-partition-acme-01/probe-key',
    operation: 'sign',
    outcome: 'success',
    attributes: { n: String(n) },
    ...extra,
  });

  it('keeps the good records of a file with bad ones and quarantines each bad one at its line', async () => {
    const lines = [probe(1), { ...probe(2), keyid: 'x' }, probe(3), '{"source":', probe(4, { outcome: 'maybe' }), probe(5)];
    const { summary, batches } = await run(store, [write('mixed.ndjson', lines)]);
    expect(summary).toMatchObject({ read: 6, inserted: 3, quarantined: { unknown_field: 1, invalid_json: 1, bad_outcome: 1 } });
    const q = await store.query<{ position: string; reason: string }>('SELECT position, reason FROM quarantine WHERE batch_id = {b:String} ORDER BY position', { b: (batches[0] as BatchResult).batchId });
    expect(q).toEqual([
      { position: 'line:2', reason: 'unknown_field' },
      { position: 'line:4', reason: 'invalid_json' },
      { position: 'line:5', reason: 'bad_outcome' },
    ]);
  });

  it('adds nothing when the same records come again, with or without their own event ids', async () => {
    const path = write('again.ndjson', [probe(10), probe(11, { event_id: 'probe-fixed-id-11' })]);
    const first = await run(store, [path]);
    expect(first.summary).toMatchObject({ read: 2, inserted: 2 });
    const second = await run(store, [path]);
    expect(second.summary).toMatchObject({ read: 2, normalized: 2, inserted: 0, duplicates: 2 });
  });

  it('lets a forced tenant (HTTP token, Kafka topic) override the tenant a record names', async () => {
    const { summary, batches } = await run(store, [write('forced.ndjson', [probe(20, { tenant: 'someone-else' })])], { tenant: 'initech' });
    expect(summary.inserted).toBe(1);
    const [row] = await store.query<{ tenant: string }>('SELECT tenant FROM key_events WHERE startsWith(raw_id, {b:String})', { b: `${(batches[0] as BatchResult).batchId}:` });
    expect(row?.tenant).toBe('initech');
  });
});
