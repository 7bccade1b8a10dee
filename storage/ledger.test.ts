import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from './chdb/embedded-store.ts';
import { migrate } from './migrate.ts';
import { verifyChain, GENESIS_HASH } from './ledger.ts';
import type { Store } from './store.ts';
import { ingest } from '../ingest/pipeline.ts';
import { fixedClock } from '../core/clock.ts';
import type { Input } from '../ingest/transports/file.ts';
import { generateCloudTrail } from '../demo/cloudtrail-generator.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';

const dir = tempDir();
let store: Store;

function memoryInput(origin: string, lines: string[]): Input {
  const data = Buffer.from(lines.join('\n') + '\n');
  return { transport: 'file', origin, chunks: (async function* () { yield data; })(), bytesRead: () => data.length };
}

const records = [...generateCloudTrail({ start: new Date('2026-03-01T00:00:00Z'), days: 1, seed: 3 })].map((r) => JSON.stringify(r));

async function load(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const part = records.slice(i * 100, (i + 1) * 100);
    await ingest([memoryInput(`part-${i}.ndjson`, part)], { store, clock: fixedClock('2026-03-02T00:00:00Z'), format: 'aws-cloudtrail', tenants: {}, defaultTenant: 'default', batchBytes: 1 << 20, maxRecordBytes: 1 << 20 });
  }
}

beforeAll(async () => {
  store = await openEmbeddedStore({ dataDir: dir.path });
  await migrate(store);
});
afterAll(async () => {
  await store.close();
  dir.remove();
});

describe('the ingest hash chain', () => {
  beforeEach(async () => {
    for (const t of ['raw_events', 'key_events', 'ingest_batches', 'quarantine']) await store.exec(`TRUNCATE TABLE ${t}`);
    await load(4);
  });

  it('verifies an untouched store and ends at the head that status reports', async () => {
    const report = await verifyChain(store);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.batches).toBe(4);
    expect(report.head).not.toBe(GENESIS_HASH);
    const [last] = await store.query<{ h: string }>('SELECT batch_hash AS h FROM ingest_batches ORDER BY seqno DESC LIMIT 1');
    expect(report.head).toBe(last?.h);
  });

  it('detects a raw record altered behind its back, even when its digest column is altered too', async () => {
    // The first Decrypt record of batch 2 (which one that is depends on the generated traffic).
    const [target] = await store.query<{ seq: string }>(`SELECT toString(min(seq)) AS seq FROM raw_events WHERE batch_id = (SELECT batch_id FROM ingest_batches WHERE seqno = 2) AND position(record, '"Decrypt"') > 0`);
    await store.exec(`ALTER TABLE raw_events UPDATE record = replaceOne(record, '"Decrypt"', '"Encrypt"'), sha256 = SHA256(replaceOne(record, '"Decrypt"', '"Encrypt"')) WHERE batch_id = (SELECT batch_id FROM ingest_batches WHERE seqno = 2) AND seq = ${Number(target?.seq)} SETTINGS mutations_sync = 1`);
    const report = await verifyChain(store);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => [f.seqno, f.code])).toEqual([[2, 'raw_records_altered']]);
  });

  it('detects a ledger row whose counts were edited', async () => {
    await store.exec('ALTER TABLE ingest_batches UPDATE inserted = inserted - 1 WHERE seqno = 3 SETTINGS mutations_sync = 1');
    const report = await verifyChain(store);
    expect(report.findings.map((f) => [f.seqno, f.code])).toEqual([[3, 'ledger_row_altered']]);
  });

  it('detects a deleted batch: the seqno gap, the broken link and the orphaned raw records', async () => {
    await store.exec('DELETE FROM ingest_batches WHERE seqno = 2');
    const report = await verifyChain(store);
    const codes = report.findings.map((f) => f.code).sort();
    expect(codes).toEqual(['batch_missing', 'batch_missing', 'chain_link_broken']);
  });

  it('detects a whole batch of raw records deleted while its ledger row stays', async () => {
    await store.exec('DELETE FROM raw_events WHERE batch_id = (SELECT batch_id FROM ingest_batches WHERE seqno = 4)');
    const report = await verifyChain(store);
    expect(report.findings.map((f) => [f.seqno, f.code])).toEqual([[4, 'raw_records_missing']]);
  });

  it('detects a chain rewritten from scratch when the caller checks against a head recorded elsewhere', async () => {
    const recorded = (await verifyChain(store)).head;
    await load(1);
    const report = await verifyChain(store, { expectHead: recorded });
    expect(report.findings.map((f) => f.code)).toEqual(['head_mismatch']);
  });
});
