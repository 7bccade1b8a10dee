import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS } from './registry.ts';

/**
 * Writes every dashboard as Grafana JSON into `outDir` (created if missing) and returns the paths.
 * Example: `buildDashboards('dashboards/out')` writes dashboards/out/on-call.json, ...
 */
export function buildDashboards(outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  return DASHBOARDS.map(({ file, build }) => {
    const path = join(outDir, file);
    writeFileSync(path, JSON.stringify(build(), null, 2) + '\n');
    return path;
  });
}
