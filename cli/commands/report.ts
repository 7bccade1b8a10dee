import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { findChromium } from '../../reports/chromium.ts';
import { parseQuarter } from '../../reports/period.ts';
import { writeReport } from '../../reports/write.ts';
import { withStore, type GlobalOptions } from '../context.ts';

export function reportCommand(globals: () => GlobalOptions): Command {
  return new Command('report')
    .description('write the quarterly compliance report: JSON evidence, CSV tables, an HTML page (and PDF) and SHA256SUMS')
    .requiredOption('--quarter <quarter>', 'calendar quarter in UTC, e.g. 2026Q3')
    .option('--tenant <tenant>', 'only this tenant (default: all)')
    .requiredOption('--out <dir>', 'directory to write the bundle into (created if missing)')
    .option('--pdf', 'also print the HTML to report.pdf with the system chromium')
    .option('--json', 'print the list of files written as JSON')
    .action(async (opts: { quarter: string; tenant?: string; out: string; pdf?: boolean; json?: boolean }) => {
      const period = parseQuarter(opts.quarter);
      if (!period) throw new KeywatchError('USAGE', `--quarter must look like 2026Q3, not "${opts.quarter}"`);
      // Fail before the work when the PDF cannot be made.
      if (opts.pdf && !findChromium()) throw new KeywatchError('USAGE', '--pdf needs chromium (Debian: apt-get install chromium), or KEYWATCH_CHROMIUM set to its path');
      const now = systemClock.now();
      const { report, files } = await withStore(globals(), (store, config) => writeReport({ store, period, tenant: opts.tenant ?? '', now, detect: config.detect, out: opts.out, pdf: opts.pdf === true }));
      if (opts.json) process.stdout.write(JSON.stringify({ out: opts.out, files }, null, 2) + '\n');
      else {
        process.stdout.write(`report ${report.quarter}${report.tenant ? ` (${report.tenant})` : ''} written to ${opts.out}: ${files.length} files\n`);
        process.stdout.write(`  keys ${report.inventory.keys.length}, rotation overdue ${report.rotation.overdue}, alerts ${report.alerts.total}, chain ${report.scope.chain.ok ? 'OK' : 'BROKEN'}\n`);
      }
    });
}
