import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Config } from '../../core/config.ts';
import { runDetectors } from '../../detectors/engine.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import { sampleRss } from '../ingest/peak-rss.ts';
import { NOW, TENANT_ACCOUNTS, WINDOW_DAYS } from './generate.ts';

/**
 * Child process of bench/detect/run.ts: opens a store made by generate.ts and runs every detector
 * once over the last 30 days (`runDetectors` in range mode, default detect config, the bench
 * tenants' accounts as the organization). Only `runDetectors` is timed; the `alerts` table is
 * emptied first so each run writes the same alerts.
 *
 * `node --import tsx bench/detect/detect.ts --dir bench/out/detect-store-20000000` prints one JSON
 * line: {events, keys, seconds, peakRssMb, perDetector: {id: {seconds, alerts, status}}}.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' } }, strict: true });
  if (values.dir === undefined) throw new Error('usage: detect.ts --dir D');
  const store = await openEmbeddedStore({ dataDir: resolve(values.dir) });
  try {
    await migrate(store);
    await store.exec('TRUNCATE TABLE IF EXISTS alerts');
    const from = new Date(NOW.getTime() - WINDOW_DAYS * 86_400_000);
    const [row] = await store.query<{ n: string; keys: string; total: string }>(
      'SELECT countIf(event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}) AS n, uniqExactIf(key_id, event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}) AS keys, count() AS total FROM key_events',
      { from: from.toISOString().replace('T', ' ').replace('Z', ''), to: NOW.toISOString().replace('T', ' ').replace('Z', '') },
    );
    const config = Config.parse({}).detect;
    const rss = sampleRss(100);
    const t0 = performance.now();
    const result = await runDetectors({ store, now: NOW, config, range: { from, to: NOW }, tenantAccounts: TENANT_ACCOUNTS });
    const seconds = (performance.now() - t0) / 1000;
    const peakRssMb = rss.stop();
    const perDetector: Record<string, { seconds: number; alerts: number; findings: number; status: string }> = {};
    for (const r of result.runs) {
      perDetector[r.detector] = { seconds: r.seconds, alerts: r.alerts + r.suppressed, findings: r.findings, status: r.status };
      process.stderr.write(`detect: ${r.detector.padEnd(34)} ${r.seconds.toFixed(3).padStart(8)} s  ${r.status}  findings ${r.findings}  alerts ${r.alerts}\n`);
    }
    process.stdout.write(
      `${JSON.stringify({
        events: Number(row?.n),
        storeEvents: Number(row?.total),
        keys: Number(row?.keys),
        seconds: Math.round(seconds * 1000) / 1000,
        peakRssMb,
        alerts: result.alerts.length,
        clickhouse: (await store.info()).serverVersion,
        perDetector,
      })}\n`,
    );
  } finally {
    await store.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`detect: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
