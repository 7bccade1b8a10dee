import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, so the bench runs the same from any working directory. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Generated inputs, child logs and results; git-ignored. */
export const OUT_DIR = join(REPO_ROOT, 'bench', 'out');

/** Where the NDJSON input for `events` records is cached between runs. */
export function eventsFilePath(events: number): string {
  return join(OUT_DIR, `cloudtrail-kms-${events}.ndjson`);
}

/** True when `moduleUrl` (pass `import.meta.url`) is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && resolve(entry) === fileURLToPath(moduleUrl);
}
