import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers/temp-dir.ts';
import { buildDashboards } from './build.ts';
import { DASHBOARDS } from './registry.ts';

describe('buildDashboards', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('writes one JSON file per dashboard, each the built dashboard', () => {
    const out = join(dir.path, 'out');
    const paths = buildDashboards(out);
    expect(readdirSync(out).sort()).toEqual(DASHBOARDS.map((d) => d.file).sort());
    for (const [i, d] of DASHBOARDS.entries()) {
      expect(paths[i]).toBe(join(out, d.file));
      expect(JSON.parse(readFileSync(join(out, d.file), 'utf8'))).toEqual(JSON.parse(JSON.stringify(d.build())));
    }
  });
});

describe('keywatch dashboards build', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('writes the files into --out and prints their paths', async () => {
    const { dashboardsCommand } = await import('../cli/commands/dashboards.ts');
    const out = join(dir.path, 'grafana');
    const printed: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (printed.push(s), true)) as typeof process.stdout.write;
    try {
      await dashboardsCommand(() => ({})).parseAsync(['build', '--out', out], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    expect(printed.join('').trim().split('\n')).toEqual(DASHBOARDS.map((d) => join(out, d.file)));
    expect(readdirSync(out).length).toBe(DASHBOARDS.length);
  });
});
