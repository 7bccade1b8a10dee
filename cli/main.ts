import { Command, CommanderError } from 'commander';
import { isKeywatchError } from '../core/errors.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import type { GlobalOptions } from './context.ts';
import { ingestCommand } from './commands/ingest.ts';
import { sqlCommand } from './commands/sql.ts';
import { statusCommand } from './commands/status.ts';
import { verifyChainCommand } from './commands/verify-chain.ts';
import { demoCommand } from './commands/demo.ts';
import { migrateCommand } from './commands/migrate.ts';
import { collectCommand } from './commands/collect.ts';
import { detectCommand } from './commands/detect.ts';
import { consumeCommand } from './commands/consume.ts';
import { evaluateCommand } from './commands/evaluate.ts';
import { sloCommand } from './commands/slo.ts';
import { alertsCommand } from './commands/alerts.ts';
import { probeCommand } from './commands/probe.ts';
import { attestCommand } from './commands/attest.ts';
import { reportCommand } from './commands/report.ts';
import { dashboardsCommand } from './commands/dashboards.ts';
import { serveCommand } from './commands/serve.ts';

/** Runs the CLI and returns the exit code; errors become one line on stderr (--verbose adds the stack). */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('keywatch')
    .description('audit and anomaly analytics for bring-your-own-key estates (cloud KMS and HSM audit logs in ClickHouse)')
    .option('--data-dir <dir>', 'embedded store directory (default ./keywatch-data, or KEYWATCH_DATA_DIR)')
    .option('--clickhouse-url <url>', 'use a ClickHouse server instead of the embedded store (or KEYWATCH_CLICKHOUSE_URL)')
    .option('--config <file>', 'JSON or YAML config file (default ./keywatch.config.json, ./keywatch.yaml or ./keywatch.yml when present)')
    .option('--verbose', 'print stack traces with errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run keywatch --help for usage)');
  const globals = () => program.opts<GlobalOptions>();
  for (const make of [ingestCommand, sqlCommand, statusCommand, verifyChainCommand, demoCommand, migrateCommand, consumeCommand, detectCommand, evaluateCommand, sloCommand, alertsCommand, attestCommand, probeCommand, reportCommand, dashboardsCommand, serveCommand]) {
    program.addCommand(make(globals).exitOverride());
  }
  program.addCommand(collectCommand(globals).exitOverride());
  try {
    process.exitCode = 0;
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.OK : EXIT.USAGE;
    }
    const verbose = argv.includes('--verbose');
    if (isKeywatchError(e)) {
      process.stderr.write(`keywatch: ${e.message}\n`);
      if (verbose) process.stderr.write(`${e.stack ?? ''}\n${e.cause ? `caused by: ${String((e.cause as Error).stack ?? e.cause)}\n` : ''}`);
      return exitCodeFor(e.code);
    }
    process.stderr.write(`keywatch: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    if (verbose) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    else process.stderr.write('keywatch: run again with --verbose for the stack trace, and report it\n');
    return EXIT.INTERNAL;
  }
}
