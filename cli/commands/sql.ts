import { Command, Option } from 'commander';
import { assertReadOnly } from '../../storage/read-only.ts';
import { withStore, type GlobalOptions } from '../context.ts';

export function sqlCommand(globals: () => GlobalOptions): Command {
  return new Command('sql')
    .description('run a read-only ClickHouse SQL query against the store')
    .argument('<query>', 'one SELECT (or SHOW / DESCRIBE / EXPLAIN) statement')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'csv', 'tsv']).default('table'))
    .action(async (query: string, opts: { format: 'table' | 'json' | 'csv' | 'tsv' }) => {
      const out = await withStore(globals(), async (store) => {
        await assertReadOnly(store, query);
        const q = query.trim().replace(/;\s*$/, '');
        if (opts.format === 'json') return JSON.stringify(await store.query(q), null, 2) + '\n';
        if (opts.format === 'csv') return store.queryText(q, 'CSVWithNames');
        if (opts.format === 'tsv') return store.queryText(q, 'TSVWithNames');
        return store.queryText(q, 'PrettyCompactMonoBlock');
      });
      process.stdout.write(out);
    });
}
