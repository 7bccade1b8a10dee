import { Command } from 'commander';
import { listApplied } from '../../storage/migrate.ts';
import { chainHead } from '../../storage/ledger.ts';
import type { Store } from '../../storage/store.ts';
import { withStore, type GlobalOptions } from '../context.ts';

export async function gatherStatus(store: Store) {
  const info = await store.info();
  const counts: Record<string, number> = {};
  for (const t of ['key_events', 'raw_events', 'quarantine', 'ingest_batches']) {
    const [r] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${t}`);
    counts[t] = Number(r?.n ?? 0);
  }
  const sources = await store.query<{ source: string; events: string; last_event: string; last_ingest: string }>(
    `SELECT source, count() AS events, toString(max(event_time)) AS last_event, toString(max(ingest_time)) AS last_ingest
     FROM key_events GROUP BY source ORDER BY source`,
  );
  const quarantine = await store.query<{ reason: string; n: string }>('SELECT reason, count() AS n FROM quarantine GROUP BY reason ORDER BY n DESC');
  const migrations = await listApplied(store);
  const head = await chainHead(store);
  return {
    store: info,
    counts,
    sources: sources.map((s) => ({ ...s, events: Number(s.events) })),
    quarantine: quarantine.map((q) => ({ reason: q.reason, count: Number(q.n) })),
    migrations,
    chain: head,
  };
}

export function statusCommand(globals: () => GlobalOptions): Command {
  return new Command('status')
    .description('what the store holds: row counts, last event per source, migrations, chain head')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const s = await withStore(globals(), gatherStatus);
      if (opts.json) {
        process.stdout.write(JSON.stringify(s, null, 2) + '\n');
        return;
      }
      const lines = [
        `store        ${s.store.backend} ${s.store.location} (database ${s.store.database}, ClickHouse ${s.store.serverVersion})`,
        `key_events   ${s.counts.key_events}`,
        `raw_events   ${s.counts.raw_events}`,
        `quarantine   ${s.counts.quarantine}${s.quarantine.length ? ' (' + s.quarantine.map((q) => `${q.reason}: ${q.count}`).join(', ') + ')' : ''}`,
        `batches      ${s.counts.ingest_batches}`,
        `chain head   batch ${s.chain.seqno}, ${s.chain.hash}`,
        `migrations   ${s.migrations.map((m) => `${String(m.version).padStart(4, '0')}_${m.name}`).join(', ') || 'none'}`,
        'sources',
        ...(s.sources.length === 0 ? ['  (no events yet)'] : s.sources.map((x) => `  ${x.source.padEnd(16)} ${String(x.events).padStart(10)} events, last event ${x.last_event} UTC, last ingest ${x.last_ingest} UTC`)),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
