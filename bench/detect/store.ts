import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runBenchChild } from '../child.ts';
import { OUT_DIR, REPO_ROOT } from '../ingest/paths.ts';
import { MARKER } from './generate.ts';

/**
 * The generated store of N window events (bench/out/detect-store-<N>), shared by bench:detect and
 * bench:slo: made by generate.ts in a child process when missing (or `regenerate`), else reused.
 * `generateSeconds` is null when it was reused.
 */
export async function ensureDetectStore(o: { events: number; regenerate: boolean; logPrefix: string; log: (msg: string) => void }): Promise<{ storeDir: string; generateSeconds: number | null }> {
  const storeDir = join(OUT_DIR, `detect-store-${o.events}`);
  if (!o.regenerate && existsSync(join(storeDir, MARKER))) {
    o.log(`reusing ${relative(REPO_ROOT, storeDir)}`);
    return { storeDir, generateSeconds: null };
  }
  o.log(`generating ${o.events} events in the window (+ 14 days of history) into ${relative(REPO_ROOT, storeDir)}`);
  const g = await runBenchChild<{ rows: number; seconds: number }>('bench/detect/generate.ts', ['--dir', storeDir, '--events', String(o.events)], `${o.logPrefix}-generate.log`);
  o.log(`generated ${g.rows} rows in ${g.seconds} s`);
  return { storeDir, generateSeconds: g.seconds };
}
