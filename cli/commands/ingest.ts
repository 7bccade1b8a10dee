import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { systemClock } from '../../core/clock.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import { COLLECTORS } from '../../ingest/collectors.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { EXIT } from '../exit-codes.ts';
import { createLogger } from '../../core/logger.ts';
import { DEFAULT_RETRY } from '../../ingest/sink.ts';
import { coverageWindow, refreshCoverageGaps } from '../../ingest/coverage-gaps.ts';
import { withStore, type GlobalOptions } from '../context.ts';
import { join } from 'node:path';
import { openCheckpoint } from '../../ingest/checkpoint.ts';

/** What checkpoints changed in a run: finished files passed over, files resumed part-way. */
export interface CheckpointNote {
  skipped: string[];
  resumed: { path: string; records: number }[];
}

export function formatSummary(s: IngestSummary, cp: CheckpointNote = { skipped: [], resumed: [] }): string {
  const reasons = (o: Record<string, number>) =>
    Object.keys(o).length === 0 ? '' : ` (${Object.entries(o).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k}: ${v}`).join(', ')})`;
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);
  return [
    `read         ${s.read} records from ${s.inputs} input(s), ${(s.bytes / 1e6).toFixed(1)} MB`,
    `normalized   ${s.normalized}`,
    `inserted     ${s.inserted}`,
    `duplicates   ${s.duplicates} (already in the store or repeated in the input)`,
    `dropped      ${sum(s.dropped)}${reasons(s.dropped)}`,
    `quarantined  ${sum(s.quarantined)}${reasons(s.quarantined)}`,
    ...(Object.keys(s.bySource).length > 1
      ? ['by source', ...Object.entries(s.bySource).sort(([a], [b]) => a.localeCompare(b)).map(([src, c]) => `  ${src.padEnd(16)} read ${c.read}, inserted ${c.inserted}, duplicates ${c.duplicates}, dropped ${c.dropped}, quarantined ${c.quarantined}`)]
      : []),
    ...(s.findings > 0 ? [`findings     ${s.findings} new audit-log integrity finding(s) (keywatch status)`] : []),
    `batches      ${s.batches}, chain head ${s.chainHead.slice(0, 16)}`,
    `took         ${s.seconds.toFixed(2)} s, ${s.eventsPerSecond} events/s`,
    ...(cp.resumed.length > 0 ? [`resumed      ${cp.resumed.length} file(s) from their checkpoint, ${s.resumedRecords} records stored by an earlier run passed over`] : []),
    ...(cp.skipped.length > 0 ? [`skipped      ${cp.skipped.length} file(s) already ingested to the end (checkpoints; --no-checkpoint reads them again)`] : []),
  ].join('\n');
}

export function ingestCommand(globals: () => GlobalOptions): Command {
  const formats = ['auto', ...COLLECTORS.flatMap((c) => c.formats)];
  return new Command('ingest')
    .description('read audit logs from files, directories or stdin (-) and store them as key events')
    .argument('<paths...>', 'files or directories (recursively), or - for stdin; gzip is detected')
    .addOption(new Option('--format <format>', 'what produced the logs').choices(formats).default('auto'))
    .option('--json', 'print the summary as JSON')
    .option('--strict', `exit ${EXIT.QUARANTINED} when any record was quarantined`)
    .option('--no-progress', 'no progress bar even on a terminal')
    .option('--no-checkpoint', 'read every file from its start, ignoring and not writing checkpoints (<dataDir>/checkpoints)')
    .action(async (paths: string[], opts: { format: string; json?: boolean; strict?: boolean; progress: boolean; checkpoint: boolean }) => {
      const files = listInputs(paths);
      const log = createLogger();
      const cp: CheckpointNote = { skipped: [], resumed: [] };
      const { summary, coverageGaps } = await withStore(globals(), async (store, config) => {
        const showBar = opts.progress && process.stderr.isTTY === true;
        const bar = showBar ? new cliProgress.SingleBar({ stream: process.stderr, format: '{origin} [{bar}] {percentage}% | {records} records', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
        let current = '';
        const checkpoints = join(config.dataDir, 'checkpoints');
        const inputs = (function* () {
          for (const f of files) {
            // stdin cannot be read again, so it has no checkpoint.
            if (!opts.checkpoint || f === '-') {
              yield openInput(f);
              continue;
            }
            const c = openCheckpoint(checkpoints, f, systemClock);
            if (c.plan.action === 'skip') {
              cp.skipped.push(f);
              log.info({ path: f, records: c.plan.records }, 'file already ingested to the end; skipped');
              continue;
            }
            if (c.plan.action === 'resume' && c.skip > 0) cp.resumed.push({ path: f, records: c.skip });
            const input = openInput(f);
            input.checkpoint = { skip: c.skip, onDurable: (records, done) => c.save(records, done) };
            yield input;
          }
        })();
        try {
          const result = await ingest(inputs, {
            store,
            clock: systemClock,
            format: opts.format,
            tenants: config.tenants,
            defaultTenant: config.defaultTenant,
            batchBytes: config.ingest.batchBytes,
            maxRecordBytes: config.ingest.maxRecordBytes,
            onBatch: (r) => {
              // The closing summary reports quarantines; per-batch detail is for KEYWATCH_LOG_LEVEL=info.
              log.info({ batch: r.batchId, seqno: r.seqno, records: r.records, inserted: r.inserted, duplicates: r.duplicates, quarantined: r.quarantined, dropped: r.dropped }, 'batch written');
            },
            retry: { ...DEFAULT_RETRY, onRetry: ({ attempt, delayMs, error }) => log.warn({ attempt, delayMs, code: (error as { code?: string }).code, err: error.message }, 'store unavailable; retrying the batch') },
            onProgress: (p) => {
              if (!bar) return;
              if (p.origin !== current) {
                current = p.origin;
                if (bar.getTotal() > 0) bar.stop();
                bar.start(p.sizeBytes ?? 0, 0, { origin: p.origin.slice(-40), records: p.records });
              }
              bar.update(p.bytesRead, { records: p.records });
            },
          });
          // Detectors and reports read the gaps from the table; refreshing after each run keeps it current.
          const now = systemClock.now();
          const gaps = await refreshCoverageGaps(store, coverageWindow(now, config.coverage.windowDays), now, config.clickhouse.cluster);
          return { summary: result, coverageGaps: gaps.length };
        } finally {
          bar?.stop();
        }
      }, { remote: { refuse: 'push the records to its HTTP collector (POST /v1/ingest/{format}) instead, so they join its ledger chain in order' } });
      process.stdout.write(
        opts.json
          ? JSON.stringify({ ...summary, coverageGaps, checkpoints: cp }) + '\n'
          : formatSummary(summary, cp) + (coverageGaps > 0 ? `\ncoverage     ${coverageGaps} key(s) with admin activity but no logged use (keywatch status)` : '') + '\n',
      );
      for (const u of summary.unreadable) process.stderr.write(`keywatch: ${u.message}; the records before the failure were ingested\n`);
      if (summary.unreadable.length > 0) {
        process.exitCode = EXIT.INPUT;
        return;
      }
      const quarantined = Object.values(summary.quarantined).reduce((a, n) => a + n, 0);
      if (opts.strict && quarantined > 0) process.exitCode = EXIT.QUARANTINED;
    });
}
