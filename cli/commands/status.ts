import { Command } from 'commander';
import { listApplied } from '../../storage/migrate.ts';
import { chainHead } from '../../storage/ledger.ts';
import type { Store } from '../../storage/store.ts';
import { systemClock } from '../../core/clock.ts';
import { coverageWindow, findCoverageGaps } from '../../ingest/coverage-gaps.ts';
import { withStore, type GlobalOptions } from '../context.ts';

export async function gatherStatus(store: Store, opts: { now: Date; coverageWindowDays: number } = { now: systemClock.now(), coverageWindowDays: 7 }) {
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
  const window = coverageWindow(opts.now, opts.coverageWindowDays);
  const coverageGaps = await findCoverageGaps(store, window);
  const integrity = await store.query<{ tenant: string; source: string; stream: string; kind: string; epoch: string; from_position: string; to_position: string; missing: string; before_time: string; after_time: string; detail: string }>(
    `SELECT tenant, source, stream, kind, epoch, from_position, to_position, missing, toString(before_time) AS before_time, toString(after_time) AS after_time, detail
     FROM audit_integrity FINAL ORDER BY before_time DESC, stream LIMIT 50`,
  );
  const [integrityTotal] = await store.query<{ n: string }>('SELECT count() AS n FROM audit_integrity FINAL');
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
    coverage: { windowDays: opts.coverageWindowDays, from: window.from.toISOString(), to: window.to.toISOString(), gaps: coverageGaps },
    auditIntegrity: {
      findings: Number(integrityTotal?.n ?? 0),
      latest: integrity.map((f) => ({ ...f, from_position: Number(f.from_position), to_position: Number(f.to_position), missing: Number(f.missing) })),
    },
  };
}

export function statusCommand(globals: () => GlobalOptions): Command {
  return new Command('status')
    .description('what the store holds: row counts, last event per source, migrations, chain head')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const s = await withStore(globals(), (store, config) => gatherStatus(store, { now: systemClock.now(), coverageWindowDays: config.coverage.windowDays }));
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
        `coverage gaps (keys with admin activity but no logged use in the last ${s.coverage.windowDays} days)`,
        ...(s.coverage.gaps.length === 0
          ? ['  none']
          : s.coverage.gaps.slice(0, 20).map((g) => `  ${g.source.padEnd(16)} ${g.tenant}/${g.account} ${g.key_id}: ${g.admin_events} admin event${g.admin_events === 1 ? "" : "s"}, none of use${g.reason === 'no_data_plane_events_for_account' ? ' (the whole account has no logged use)' : ''}; ${g.hint}`)),
        ...(s.coverage.gaps.length > 20 ? [`  … ${s.coverage.gaps.length - 20} more (keywatch status --json)`] : []),
        `audit-log integrity findings: ${s.auditIntegrity.findings}`,
        ...s.auditIntegrity.latest.slice(0, 10).map((f) => `  ${f.source.padEnd(16)} ${f.tenant} ${f.kind}: ${f.detail}`),
        ...(s.auditIntegrity.findings > 10 ? [`  … ${s.auditIntegrity.findings - 10} more: keywatch sql "SELECT * FROM audit_integrity FINAL"`] : []),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
