import { Command } from 'commander';
import { buildDashboards } from '../../dashboards/build.ts';
import type { GlobalOptions } from '../context.ts';

export function dashboardsCommand(_globals: () => GlobalOptions): Command {
  const cmd = new Command('dashboards').description('Grafana dashboards for the ClickHouse datasource plugin');
  cmd.addCommand(
    new Command('build')
      .description('write one Grafana dashboard JSON file per dashboard (docker-compose.yml provisions ./dashboards/out)')
      .option('--out <dir>', 'output directory', 'dashboards/out')
      .action((opts: { out: string }) => {
        for (const path of buildDashboards(opts.out)) process.stdout.write(`${path}\n`);
      }),
  );
  return cmd;
}
