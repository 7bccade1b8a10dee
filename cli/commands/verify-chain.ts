import { Command } from 'commander';
import { verifyChain } from '../../storage/ledger.ts';
import { EXIT } from '../exit-codes.ts';
import { withStore, type GlobalOptions } from '../context.ts';

export function verifyChainCommand(globals: () => GlobalOptions): Command {
  return new Command('verify-chain')
    .description('check the ingest hash chain and every batch\'s raw records for tampering')
    .option('--expect-head <hash>', 'also require the chain to end at this hash (one you recorded elsewhere)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { expectHead?: string; json?: boolean }) => {
      const report = await withStore(globals(), (store) => verifyChain(store, opts.expectHead ? { expectHead: opts.expectHead } : {}));
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else if (report.ok) process.stdout.write(`chain OK: ${report.batches} batches, head ${report.head}\n`);
      else {
        process.stdout.write(`chain BROKEN: ${report.findings.length} finding(s) in ${report.batches} batches\n`);
        for (const f of report.findings) process.stdout.write(`  ${f.code}: ${f.message}\n`);
      }
      if (!report.ok) process.exitCode = EXIT.INTEGRITY;
    });
}
