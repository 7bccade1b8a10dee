import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import { verifyChain } from '../storage/ledger.ts';
import type { Store } from '../storage/store.ts';
import { StoreError } from '../storage/store-error.ts';
import { fixedClock } from '../core/clock.ts';
import { generateCloudTrail } from '../demo/cloudtrail-generator.ts';
import { ingest } from './pipeline.ts';
import type { Input } from './transports/file.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';

const dir = tempDir();
let real: Store;
const records = [...generateCloudTrail({ start: new Date('2026-04-01T00:00:00Z'), days: 1, seed: 5 })].slice(0, 400).map((r) => JSON.stringify(r));

function input(): Input {
  const data = Buffer.from(records.join('\n') + '\n');
  return { transport: 'file', origin: 'retry.ndjson', chunks: (async function* () { yield data; })(), bytesRead: () => data.length };
}

/** The real store, except that the first call of `method` whose first argument matches `when` fails with `error`. */
function failingOnce(method: 'exec' | 'insertRows', when: RegExp, error: StoreError): { store: Store; failures: () => number } {
  let failures = 0;
  const store = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === method) {
        return async (first: string, ...rest: unknown[]) => {
          if (failures === 0 && when.test(first)) {
            failures++;
            throw error;
          }
          return (target[method] as (...a: unknown[]) => Promise<unknown>).call(target, first, ...rest);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store, failures: () => failures };
}

const run = (store: Store, retries: { attempt: number }[]) =>
  ingest([input()], {
    store,
    clock: fixedClock('2026-04-02T00:00:00Z'),
    format: 'aws-cloudtrail',
    tenants: {},
    defaultTenant: 'default',
    batchBytes: 8 << 20,
    maxRecordBytes: 1 << 20,
    retry: { attempts: 3, baseDelayMs: 1, onRetry: (r) => retries.push(r) },
  });

beforeAll(async () => {
  real = await openEmbeddedStore({ dataDir: dir.path });
  await migrate(real);
});
afterAll(async () => {
  await real.close();
  dir.remove();
});
beforeEach(async () => {
  for (const t of ['raw_events', 'key_events', 'ingest_batches', 'quarantine']) await real.exec(`TRUNCATE TABLE ${t}`);
});

describe('the sink retry rule', () => {
  it('retries a batch after a lost connection and leaves no trace of the failed attempt', async () => {
    // The failure hits after raw records and events were written, on the ledger row.
    const { store, failures } = failingOnce('insertRows', /^ingest_batches$/, new StoreError('STORE_UNAVAILABLE', 'cannot reach ClickHouse server: connection refused'));
    const retries: { attempt: number }[] = [];
    const summary = await run(store, retries);
    expect(failures()).toBe(1);
    expect(retries.map((r) => r.attempt)).toEqual([1]);
    expect(summary).toMatchObject({ read: 400, inserted: 400, duplicates: 0, batches: 1 });
    const [counts] = await real.query<{ raw: string; events: string; batches: string }>(
      'SELECT (SELECT count() FROM raw_events) AS raw, (SELECT count() FROM key_events) AS events, (SELECT count() FROM ingest_batches) AS batches',
    );
    expect(counts).toEqual({ raw: '400', events: '400', batches: '1' });
    const orphans = await real.query("SELECT count() AS n FROM key_events WHERE splitByChar(':', raw_id)[1] NOT IN (SELECT batch_id FROM ingest_batches)");
    expect(orphans).toEqual([{ n: '0' }]);
    expect((await verifyChain(real)).findings).toEqual([]);
  });

  it('does not retry bad data: the error surfaces at once', async () => {
    const bad = new StoreError('STORE_QUERY_FAILED', 'Cannot parse input', { clickhouseCode: 27 });
    const { store, failures } = failingOnce('exec', /^\s*INSERT INTO raw_events/, bad);
    const retries: { attempt: number }[] = [];
    await expect(run(store, retries)).rejects.toBe(bad);
    expect(failures()).toBe(1);
    expect(retries).toEqual([]);
  });
});
