import { Command } from 'commander';
import { loadMigrations, splitStatements, migrate } from '../../storage/migrate.ts';
import { toClusterStatements } from '../../storage/cluster-ddl.ts';
import { withStore, configFrom, type GlobalOptions } from '../context.ts';

export function migrateCommand(globals: () => GlobalOptions): Command {
  return new Command('migrate')
    .description('apply pending schema migrations (every command also does this at start), or print the DDL')
    .option('--print', 'print the DDL instead of applying it')
    .option('--cluster <name>', 'with --print: emit ON CLUSTER / Replicated / Distributed DDL for this cluster')
    .action(async (opts: { print?: boolean; cluster?: string }) => {
      if (opts.print) {
        const database = configFrom(globals()).clickhouse.database;
        const out: string[] = [];
        for (const m of loadMigrations()) {
          out.push(`-- ${String(m.version).padStart(4, '0')}_${m.name}`);
          for (const stmt of splitStatements(m.sql)) {
            const stmts = opts.cluster ? toClusterStatements(stmt, { cluster: opts.cluster, database }) : [stmt];
            for (const s of stmts) out.push(`${s};\n`);
          }
        }
        process.stdout.write(out.join('\n'));
        return;
      }
      const applied = await withStore(globals(), (store) => migrate(store));
      process.stdout.write(applied.applied.length === 0 ? 'schema is up to date\n' : `applied ${applied.applied.map((m) => m.name).join(', ')}\n`);
    });
}
