import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_EVENT_COLUMNS, KeyEvent } from '../../core/key-event.ts';
import type { Collector } from '../../ingest/collector.ts';
import { RECORD_BATCH_STRUCTURE, RecordBatch } from '../../ingest/record-batch.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { documentedReasons, fixtureFiles, fixtureRecords, frame } from './corpus.ts';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { applyPlan, describePlan, fuzzSettings, samplePlans, type Plan } from './mutate.ts';

/** The sink's settings for collector SQL (ingest/sink.ts). */
const SETTINGS = 'query_plan_enable_optimizations = 0, optimize_and_compare_chain = 0';
const CHUNK = 25_000;
const COLUMNS = KEY_EVENT_COLUMNS.join(', ');

interface Group {
  status: string;
  reason: string;
  n: string;
  empty: string;
  example: number;
  message: string;
}

interface Outcome {
  groups: Group[];
  covered: number;
  mismatched: unknown[];
  events: unknown[];
}

/**
 * The normalizer fuzz of one collector: `KEYWATCH_FUZZ_RUNS` (default 100,000) mutants of its
 * fixture records, staged in batches exactly as the sink stages them, classified and normalized
 * with the collector's own SQL in one embedded store. Per record: it is classified (never a query
 * error), a rejected one carries a documented reason and a message, an accepted one normalizes to
 * a row that satisfies the KeyEvent schema.
 */
export function normalizerFuzzSuite(collector: Collector): void {
  const { seed, runs } = fuzzSettings(100_000);
  const reasons = documentedReasons(collector);
  let store: Store;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir(`keywatch-fuzz-${collector.source}-`);
    store = await openEmbeddedStore({ dataDir: `${dir.path}/store` });
    await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
    await store.exec('CREATE TABLE fz_events AS key_events ENGINE = Memory');
  });
  afterAll(async () => {
    await store?.close();
    dir?.remove();
  });

  const params = (batchId: string) => ({
    batch_id: batchId,
    ingest_time: '2026-11-29 00:00:00.000',
    tenants: { '111122223333': 'acme' },
    default_tenant: 'default',
    source: collector.source,
    transport: 'file',
    origin: 'fuzz',
    received_time: '2026-11-29 00:00:00.000',
    force_tenant: '',
  });

  /**
   * Classifies and normalizes one batch; throws what ClickHouse throws. The per-record checks that
   * need no zod run in ClickHouse and return only tallies and the first offenders.
   */
  async function run(records: Buffer[], batchId: string): Promise<Outcome> {
    const batch = new RecordBatch(1 << 20);
    records.forEach((r, i) => batch.add(r, 'fuzz', `line:${i + 1}`));
    return store.withInput({ structure: RECORD_BATCH_STRUCTURE, format: 'RowBinary', payload: batch.payload() }, async (input) => {
      try {
        await store.exec(`CREATE TABLE fz_cls ENGINE = Memory AS ${collector.classifySql(input)} SETTINGS ${SETTINGS}`);
        const groups = await store.query<Group>(
          `SELECT _status AS status, _reason AS reason, count() AS n, countIf(_message = '') AS empty, min(seq) AS example, argMin(_message, seq) AS message
           FROM fz_cls GROUP BY status, reason`,
        );
        const [cover] = await store.query<{ n: string }>('SELECT uniqExact(seq) AS n FROM fz_cls');
        const okStage = `(SELECT * FROM ${input} WHERE seq IN (SELECT seq FROM fz_cls WHERE _status = 'ok'))`;
        await store.exec(`CREATE TABLE fz_norm ENGINE = Memory AS SELECT seq AS _seq, ${COLUMNS} FROM (${collector.normalizeSql(okStage, input)}) SETTINGS ${SETTINGS}`, params(batchId));
        const mismatched = await store.query<{ seq: number; classified: string; normalized: string }>(
          `SELECT seq, countIf(src = 'c') AS classified, countIf(src = 'n') AS normalized
           FROM (SELECT seq, 'c' AS src FROM fz_cls WHERE _status = 'ok' UNION ALL SELECT _seq AS seq, 'n' AS src FROM fz_norm)
           GROUP BY seq HAVING classified != normalized ORDER BY seq LIMIT 5`,
        );
        await store.exec(`INSERT INTO fz_events (${COLUMNS}) SELECT ${COLUMNS} FROM fz_norm`);
        const events = await store.query('SELECT * FROM fz_events');
        return { groups, covered: Number(cover?.n ?? 0), mismatched, events };
      } finally {
        for (const t of ['fz_cls', 'fz_norm']) await store.exec(`DROP TABLE IF EXISTS ${t}`);
        await store.exec('TRUNCATE TABLE fz_events');
      }
    });
  }

  /** Narrows a failing batch down to one record, for the failure message. */
  async function culprit(records: Buffer[], plans: Plan[]): Promise<string> {
    let lo = 0;
    let hi = records.length;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      const failed = await run(records.slice(lo, mid), 'bisect').then(
        () => false,
        () => true,
      );
      if (failed) hi = mid;
      else lo = mid;
    }
    return `plan ${describePlan(plans[lo] as Plan)}, record ${JSON.stringify((records[lo] as Buffer).toString('utf8').slice(0, 500))}`;
  }

  describe(`${collector.source} normalizer under fuzzing`, () => {
    it(`classifies every one of ${runs} mutated fixture records, rejects bad ones with a documented reason and normalizes good ones to valid KeyEvents`, async () => {
      const corpus = await fixtureRecords(collector);
      expect(corpus.length, 'the fixtures give records to mutate').toBeGreaterThan(5);
      // Collectors with their own framing (multi-line text) get every other mutant as a whole
      // input, framed as the pipeline frames it: the framing is part of what a hostile input meets.
      const inputs = collector.frame ? fixtureFiles(collector).map((f) => ({ name: basename(f), bytes: readFileSync(f) })) : [];
      const inputCorpus = inputs.map((i) => i.bytes);
      const plans = samplePlans(corpus.length, runs, seed);
      const inputPlans = collector.frame ? samplePlans(inputCorpus.length, runs, seed + 1) : [];
      const tally: Record<string, number> = {};
      let accepted = 0;
      for (let start = 0; start < plans.length; start += CHUNK) {
        const chunkPlans: Plan[] = [];
        const records: Buffer[] = [];
        for (let i = start; i < Math.min(start + CHUNK, plans.length); i++) {
          if (collector.frame && i % 2 === 1) {
            const plan = inputPlans[i] as Plan;
            const framed = await frame(collector, applyPlan(inputCorpus, plan), (inputs[plan.base] as { name: string }).name, 1 << 20);
            for (const f of framed) {
              if (f.kind === 'oversized') {
                tally['quarantined:record_too_large'] = (tally['quarantined:record_too_large'] ?? 0) + 1;
                continue;
              }
              chunkPlans.push(plan);
              records.push(f.record);
            }
          } else {
            chunkPlans.push(plans[i] as Plan);
            records.push(applyPlan(corpus, plans[i] as Plan));
          }
        }
        let result;
        try {
          result = await run(records, `fuzz-${start}`);
        } catch (e) {
          throw new Error(`KEYWATCH_FUZZ_SEED=${seed}: the ${collector.source} SQL failed on a batch (${(e as Error).message.slice(0, 300)}); first failing mutant: ${await culprit(records, chunkPlans)}`);
        }
        const why = (seq: number) => `KEYWATCH_FUZZ_SEED=${seed}: mutant ${describePlan(chunkPlans[seq] as Plan)}`;
        for (const g of result.groups) {
          const n = Number(g.n);
          const example = Number(g.example);
          expect(['ok', 'dropped', 'quarantined'], why(example)).toContain(g.status);
          if (g.status === 'ok') {
            accepted += n;
            continue;
          }
          expect(reasons.has(g.reason), `${why(example)} was ${g.status} with reason "${g.reason}" (${g.message.slice(0, 200)}), which ingest/${collector.source}/README.md does not document`).toBe(true);
          if (g.status === 'quarantined') expect(Number(g.empty), `${why(example)}: ${g.reason} quarantine rows without a message`).toBe(0);
          tally[`${g.status}:${g.reason}`] = (tally[`${g.status}:${g.reason}`] ?? 0) + n;
        }
        expect(result.covered, `KEYWATCH_FUZZ_SEED=${seed}: every record of the batch is classified`).toBe(records.length);
        expect(result.mismatched, `KEYWATCH_FUZZ_SEED=${seed}: normalization yields exactly the events classification passed`).toEqual([]);
        for (const row of result.events) {
          const parsed = KeyEvent.safeParse(row);
          if (!parsed.success) {
            const seq = Number(String((row as { raw_id: string }).raw_id).split(':').pop());
            throw new Error(`KEYWATCH_FUZZ_SEED=${seed} mutant #${start + seq} (${describePlan(chunkPlans[seq] as Plan)}) normalized to an invalid KeyEvent: ${parsed.error.message.slice(0, 500)}\nrow: ${JSON.stringify(row).slice(0, 800)}`);
          }
        }
      }
      // The mutants exercise both paths: a fuzzer that only produced rejects would prove little.
      expect(accepted).toBeGreaterThan(runs / 100);
      expect(Object.values(tally).reduce((a, n) => a + n, 0)).toBeGreaterThan(runs / 10);
      console.log(`${collector.source}: ${runs} mutants (seed ${seed}), ${accepted} accepted events; rejected: ${JSON.stringify(tally)}`);
    }, 300_000);
  });
}
