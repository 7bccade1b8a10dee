import { Command } from 'commander';
import { migrate, migrationDdl } from '../../storage/migrate.ts';
import { configFrom, type GlobalOptions } from '../context.ts';
import { openStore } from '../../storage/open.ts';

export function migrateCommand(globals: () => GlobalOptions): Command {
  return new Command('migrate')
    .description('apply pending schema migrations (every command also does this at start), or print the DDL')
    .option('--print', 'print the DDL instead of applying it')
    .option('--cluster <name>', 'with --print: emit ON CLUSTER / Replicated / Distributed DDL for this cluster')
    .action(async (opts: { print?: boolean; cluster?: string }) => {
      if (opts.print) {
        const database = configFrom(globals()).clickhouse.database;
        process.stdout.write(migrationDdl(opts.cluster ? { cluster: opts.cluster, database } : undefined));
        return;
      }
      const config = configFrom(globals());
      const store = await openStore(config, { migrate: false });
      let applied;
      try {
        applied = await migrate(store, config.clickhouse.cluster ? { cluster: { cluster: config.clickhouse.cluster, database: config.clickhouse.database } } : {});
      } finally {
        await store.close();
      }
      process.stdout.write(applied.applied.length === 0 ? 'schema is up to date\n' : `applied ${applied.applied.map((m) => m.name).join(', ')}\n`);
    });
}
