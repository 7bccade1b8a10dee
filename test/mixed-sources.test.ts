import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../core/clock.ts';
import { KeyEvent } from '../core/key-event.ts';
import { COLLECTORS } from '../ingest/collectors.ts';
import { ingest, type IngestSummary } from '../ingest/pipeline.ts';
import { listInputs, openInput } from '../ingest/transports/file.ts';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import type { Store } from '../storage/store.ts';

// Every source's own fixtures, ingested together with --format auto: a directory that mixes
// producers file by file, and one NDJSON stream that mixes them line by line.

const ROOT = new URL('..', import.meta.url).pathname;
const fixture = (source: string, name: string) => join(ROOT, 'ingest', source, 'fixtures', name);

/** One whole file per source; each file's collector is chosen from its first bytes. */
const FILES: [source: string, file: string][] = [
  ['aws-kms', fixture('aws-kms', 'decrypt-assumed-role.json')],
  ['gcp-kms', fixture('gcp-kms', 'gcloud-export-array.json')],
  ['azure-key-vault', fixture('azure-key-vault', 'records-wrapper-file.json')],
  ['vault', fixture('vault', 'decrypt-pair.jsonl')],
  ['aws-cloudhsm', fixture('aws-cloudhsm', 'subscription-data-message.json')],
  ['aws-cloudhsm', fixture('aws-cloudhsm', 'export-hsm-t3s9d2f8g1h.txt')],
  ['luna-hsm', fixture('luna-hsm', 'syslog-rfc3164-decrypt.log')],
  ['keywatch-json', fixture('keywatch-json', 'probe-sign-success.json')],
];

/** Single-line records of every JSON source, interleaved in one stream. */
const LINES: [source: string, file: string][] = [
  ['aws-kms', fixture('aws-kms', 'create-grant-external.json')],
  ['gcp-kms', fixture('gcp-kms', 'set-iam-policy-all-users.json')],
  ['azure-key-vault', fixture('azure-key-vault', 'key-purge.json')],
  ['luna-hsm', fixture('luna-hsm', 'dpod-login-success.json')],
  ['keywatch-json', fixture('keywatch-json', 'probe-failure-other.json')],
  ['aws-kms', fixture('aws-kms', 'schedule-key-deletion.json')],
  ['gcp-kms', fixture('gcp-kms', 'destroy-version.json')],
  ['azure-key-vault', fixture('azure-key-vault', 'unwrap-forbidden.json')],
  ['vault', fixture('vault', 'rotate.json')],
];

let store: Store;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-mixed-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00Z') });
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(paths: string[]): Promise<IngestSummary> {
  return ingest(
    (function* () {
      for (const f of listInputs(paths)) yield openInput(f);
    })(),
    { store, clock: fixedClock('2026-11-29T00:00:00Z'), format: 'auto', tenants: {}, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20 },
  );
}

const expectedEvents = (file: string): number => {
  const expected = JSON.parse(readFileSync(file.replace(/\.(json|jsonl|ndjson|txt|log)$/, '.expected.json'), 'utf8')) as unknown;
  if (Array.isArray(expected)) return expected.length;
  if (expected && typeof expected === 'object' && 'events' in expected) return (expected as { events: unknown[] }).events.length;
  return 1;
};

describe('a directory that mixes every source, ingested with --format auto', () => {
  it('gives each file to its own collector and reports per-source counts that add up', async () => {
    const input = join(dir, 'mixed-dir');
    for (const [source, file] of FILES) {
      mkdirSync(join(input, source), { recursive: true });
      copyFileSync(file, join(input, source, basename(file)));
    }
    const summary = await run([input]);
    expect(summary.quarantined).toEqual({});
    const want: Record<string, number> = {};
    for (const [source, file] of FILES) want[source] = (want[source] ?? 0) + expectedEvents(file);
    const inserted = Object.fromEntries(Object.entries(summary.bySource).map(([s, c]) => [s, c.inserted]));
    expect(inserted).toEqual(want);
    for (const c of Object.values(summary.bySource)) expect(c.read).toBe(c.inserted + c.duplicates + c.dropped + c.quarantined);
    expect(Object.keys(summary.bySource).sort()).toEqual(COLLECTORS.map((c) => c.source).sort());

    const rows = await store.query<{ source: string; n: string }>('SELECT source, count() AS n FROM key_events GROUP BY source ORDER BY source');
    // keywatch-json events keep the source their producer gave them.
    const probe = JSON.parse(readFileSync(fixture('keywatch-json', 'probe-sign-success.json'), 'utf8')) as { source: string };
    const stored = Object.fromEntries(rows.map((r) => [r.source, Number(r.n)]));
    const { 'keywatch-json': probes, ...others } = want;
    expect(stored).toEqual({ ...others, [probe.source]: (others[probe.source] ?? 0) + (probes ?? 0) });
    const all = await store.query('SELECT * FROM key_events');
    for (const r of all) KeyEvent.parse(r);
  });
});

describe('one stream that mixes JSON sources line by line', () => {
  it('routes each line to the collector that recognises it, in one run, without quarantine', async () => {
    const path = join(dir, 'mixed.ndjson');
    writeFileSync(path, LINES.map(([, f]) => readFileSync(f, 'utf8').trim()).join('\n') + '\n');
    const summary = await run([path]);
    expect(summary.read).toBe(LINES.length);
    expect(summary.quarantined).toEqual({});
    const perSource: Record<string, number> = {};
    for (const [source] of LINES) perSource[source] = (perSource[source] ?? 0) + 1;
    expect(Object.fromEntries(Object.entries(summary.bySource).map(([s, c]) => [s, c.read]))).toEqual(perSource);
    expect(summary.inserted).toBe(LINES.length);
    // Each source's batch is its own ledger row.
    expect(summary.batches).toBe(Object.keys(perSource).length);
  });

  it("leaves a line that no collector recognises to the stream's own collector, which quarantines it", async () => {
    const path = join(dir, 'mixed-bad.ndjson');
    const first = readFileSync(fixture('aws-kms', 'list-keys.json'), 'utf8').trim();
    writeFileSync(path, [first, '{"hello":"world"}', 'not json at all'].join('\n') + '\n');
    const summary = await run([path]);
    expect(summary.bySource['aws-kms']).toMatchObject({ read: 3, quarantined: 2 });
    expect(summary.quarantined).toEqual({ missing_field: 1, invalid_json: 1 });
  });
});
