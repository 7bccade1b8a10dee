import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { incidentNotes } from '../../demo/cloudtrail-generator.ts';
import { demoTenantMap } from '../../demo/estate.ts';
import { writeDemoFiles } from '../../demo/write-demo-files.ts';
import { ingest } from '../../ingest/pipeline.ts';
import { openInput } from '../../ingest/transports/file.ts';
import { withStore, type GlobalOptions } from '../context.ts';
import { formatSummary } from './ingest.ts';
import { DEMO_QUERIES } from '../../demo/queries.ts';

export function demoCommand(globals: () => GlobalOptions): Command {
  return new Command('demo')
    .description('generate realistic multi-tenant CloudTrail KMS traffic with injected incidents, ingest it and show what is there')
    .option('--days <n>', 'days of traffic, the full UTC days before today', '14')
    .option('--seed <n>', 'random seed (the same seed gives the same traffic)', '7')
    .option('--keep-input <dir>', 'write the generated log files here and keep them')
    .action(async (opts: { days: string; seed: string; keepInput?: string }) => {
      const days = Number(opts.days);
      if (!Number.isInteger(days) || days < 1 || days > 400) throw new KeywatchError('USAGE', `--days must be a whole number from 1 to 400, not "${opts.days}"`);
      // The N full UTC days before today: the same traffic all day long, so a second run the same
      // day finds every event already stored.
      const today = Math.floor(systemClock.now().getTime() / 86_400_000) * 86_400_000;
      const start = new Date(today - days * 86_400_000);
      const gen = { start, days, seed: Number(opts.seed), incidents: true };
      const dir = opts.keepInput ?? mkdtempSync(join(tmpdir(), 'keywatch-demo-'));
      try {
        process.stdout.write(`Generating ${days} days of CloudTrail KMS traffic for 3 tenants, 4 accounts, 5 regions...\n`);
        const { files, records } = await writeDemoFiles(dir, gen);
        process.stdout.write(`  ${records} records in ${files.length} files (S3 gzip layout, plus the last day again as EventBridge NDJSON)\n\n`);
        await withStore(globals(), async (store, config) => {
          const summary = await ingest(
            (function* () {
              for (const f of files) yield openInput(f);
            })(),
            {
              store,
              clock: systemClock,
              format: 'auto',
              tenants: { ...demoTenantMap(), ...config.tenants },
              defaultTenant: config.defaultTenant,
              batchBytes: config.ingest.batchBytes,
              maxRecordBytes: config.ingest.maxRecordBytes,
            },
          );
          process.stdout.write('Ingest summary\n' + formatSummary(summary).replace(/^/gm, '  ') + '\n\n');
          for (const q of DEMO_QUERIES) {
            process.stdout.write(`${q.title}\n  $ keywatch sql "${q.sql.replace(/\s+/g, ' ').trim()}"\n`);
            process.stdout.write((await store.queryText(q.sql, 'PrettyCompactMonoBlock')).replace(/^/gm, '  ') + '\n');
          }
          process.stdout.write('Injected incidents (detectors arrive in a later release; the rows above already show them):\n');
          for (const i of incidentNotes(gen)) process.stdout.write(`  ${i.at}  ${i.id}: ${i.what}\n`);
          const info = await store.info();
          process.stdout.write(`\nThe events are in ${info.backend === 'embedded' ? `the embedded store at ${info.location}` : info.location}. Try:\n  keywatch status\n  keywatch sql "SELECT operation, count() FROM key_events GROUP BY operation ORDER BY 2 DESC"\n  keywatch verify-chain\n`);
        });
      } finally {
        if (!opts.keepInput) rmSync(dir, { recursive: true, force: true });
      }
    });
}
