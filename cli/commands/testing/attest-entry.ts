import { Command, CommanderError } from 'commander';
import { isKeywatchError } from '../../../core/errors.ts';
import { EXIT, exitCodeFor } from '../../exit-codes.ts';
import type { GlobalOptions } from '../../context.ts';
import { attestCommand } from '../attest.ts';
import { sqlCommand } from '../sql.ts';

/**
 * Test entry only: a `keywatch` with just `attest` and `sql`, error handling as in cli/main.ts,
 * for attest.test.ts to run as a child process until `attest` is registered in cli/main.ts.
 * Run: node --import tsx cli/commands/testing/attest-entry.ts --data-dir DIR attest marvell ...
 */
const program = new Command('keywatch')
  .option('--data-dir <dir>')
  .option('--clickhouse-url <url>')
  .option('--config <file>')
  .option('--verbose')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });
const globals = () => program.opts<GlobalOptions>();
program.addCommand(attestCommand(globals).exitOverride());
program.addCommand(sqlCommand(globals).exitOverride());
try {
  process.exitCode = 0;
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? EXIT.OK : EXIT.USAGE;
  else if (isKeywatchError(e)) {
    process.stderr.write(`keywatch: ${e.message}\n`);
    process.exitCode = exitCodeFor(e.code);
  } else {
    process.stderr.write(`keywatch: internal error: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = EXIT.INTERNAL;
  }
}
