import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateSlos } from '../../slo/engine.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import { NOW, WINDOW_DAYS } from '../detect/generate.ts';
import { sampleRss } from '../ingest/peak-rss.ts';
import { benchSpecs } from './specs.ts';

/**
 * Child process of bench/slo/run.ts: opens a store made by bench/detect/generate.ts and evaluates
 * the 50 bench SLOs once at the store's `now` (one `evaluateSlos` call, writing slo_status and any
 * alerts, as the scheduler would). Only that call is timed; slo_status and the SLO alerts are
 * emptied first so every run does the same work.
 *
 * Prints one JSON line: {events, slos, groups, groupsPerSlo, seconds, peakRssMb, statusRows, states}.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' } }, strict: true });
  if (values.dir === undefined) throw new Error('usage: evaluate.ts --dir D');
  const store = await openEmbeddedStore({ dataDir: resolve(values.dir) });
  try {
    await migrate(store);
    await store.exec('TRUNCATE TABLE IF EXISTS slo_status');
    await store.exec("ALTER TABLE alerts DELETE WHERE detector = 'slo-burn-rate' SETTINGS mutations_sync = 2");
    const from = new Date(NOW.getTime() - WINDOW_DAYS * 86_400_000);
    const ch = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');
    const [row] = await store.query<{ n: string }>('SELECT count() AS n FROM key_events WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}', { from: ch(from), to: ch(NOW) });
    const specs = benchSpecs();
    const rss = sampleRss(100);
    const t0 = performance.now();
    const r = await evaluateSlos({ store, specs, at: NOW });
    const seconds = (performance.now() - t0) / 1000;
    const peakRssMb = rss.stop();
    const per = new Map<string, number>();
    const states: Record<string, number> = {};
    for (const g of r.results) {
      per.set(g.slo, (per.get(g.slo) ?? 0) + 1);
      states[g.state] = (states[g.state] ?? 0) + 1;
    }
    const counts = specs.map((s) => per.get(s.metadata.name) ?? 0);
    const [status] = await store.query<{ n: string }>('SELECT count() AS n FROM slo_status');
    for (const s of specs) process.stderr.write(`slo: ${s.metadata.name.padEnd(32)} ${String(per.get(s.metadata.name) ?? 0).padStart(6)} groups\n`);
    process.stdout.write(
      `${JSON.stringify({
        events: Number(row?.n),
        slos: specs.length,
        groups: r.results.length,
        groupsPerSlo: { min: Math.min(...counts), mean: Math.round(r.results.length / specs.length), max: Math.max(...counts) },
        seconds: Math.round(seconds * 1000) / 1000,
        peakRssMb,
        statusRows: Number(status?.n),
        alertsOpened: r.transitions.filter((t) => t.change === 'opened').length,
        timings: r.timings,
        states,
        clickhouse: (await store.info()).serverVersion,
      })}\n`,
    );
  } finally {
    await store.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`slo: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
