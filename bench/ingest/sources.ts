import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_SOURCES } from '../../demo/sources/registry.ts';
import { ensureEventsFile } from './generate.ts';
import { runBenchChild } from '../child.ts';
import { OUT_DIR } from './paths.ts';

/**
 * `npm run bench:sources -- [--records N] [--only a,b]`: the full pipeline's rate for every source
 * format, each on about N records of its demo traffic (`demo/sources/`), next to the CloudTrail
 * rate measured the same way in the same run. Target: no source below half the CloudTrail rate.
 * Prints one JSON line and writes it to bench/out/sources-<timestamp>.json. Exits 0 whether or not
 * the target is met; non-zero when a side fails.
 */

const TARGET_RATIO = 0.5;
const REFERENCE = 'aws-kms';
const log = (msg: string) => process.stderr.write(`bench:sources: ${msg}\n`);

interface DirResult {
  files: number;
  read: number;
  seconds: number;
  recordsPerSecond: number;
  inserted: number;
  bytes: number;
  peakRssMb: number;
}


/** Generates (or reuses) one source's input; returns the directory and its record count. */
async function ensureSourceDir(root: string, source: string, records: number): Promise<{ dir: string; records: number }> {
  const dir = join(root, source);
  const marker = join(dir, '.complete.json');
  if (existsSync(marker)) return { dir, records: (JSON.parse(readFileSync(marker, 'utf8')) as { records: number }).records };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let written: number;
  if (source === REFERENCE) {
    // The CloudTrail reference is the ingest bench's own NDJSON input (one file, shared cache).
    const file = await ensureEventsFile({ events: records, log });
    symlinkSync(file.path, join(dir, 'cloudtrail.ndjson'));
    written = file.events;
  } else {
    const s = DEMO_SOURCES.find((x) => x.source === source);
    if (!s) throw new Error(`no demo source ${source}`);
    // A long span at the natural rate would take long to generate; `records` caps it instead.
    written = (await s.write({ start: new Date('2026-10-01T00:00:00Z'), days: 30, seed: 42, dir, incidents: false, records })).records;
  }
  writeFileSync(marker, JSON.stringify({ records: written }));
  return { dir, records: written };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' }, only: { type: 'string' } }, strict: true });
  const records = Number(values.records);
  if (!Number.isInteger(records) || records <= 0) throw new Error(`--records must be a positive integer, got ${values.records}`);
  const only = values.only?.split(',').map((s) => s.trim());
  const sources = [REFERENCE, ...DEMO_SOURCES.map((s) => s.source).filter((s) => s !== REFERENCE && (!only || only.includes(s)))];
  const root = join(OUT_DIR, `sources-${records}`);
  mkdirSync(root, { recursive: true });
  const at = new Date();
  const stamp = at.toISOString().replace(/[:.]/g, '-');
  const loadAvg = loadavg().map((n) => Math.round(n * 100) / 100);
  const results: Record<string, DirResult & { avgRecordBytes: number; ratio?: number; meetsTarget?: boolean }> = {};
  for (const source of sources) {
    const input = await ensureSourceDir(root, source, records);
    log(`${source}: ${input.records} records`);
    const r = await runBenchChild<DirResult>('bench/ingest/ingest-dir.ts', ['--dir', input.dir, '--records', String(input.records)], join(OUT_DIR, `sources-${stamp}-${source}.log`));
    results[source] = { ...r, avgRecordBytes: Math.round(r.bytes / Math.max(1, r.read)) };
    log(`${source}: ${r.recordsPerSecond} records/s, peak RSS ${r.peakRssMb} MB`);
  }
  const reference = results[REFERENCE]?.recordsPerSecond ?? 0;
  for (const [source, r] of Object.entries(results)) {
    if (source === REFERENCE) continue;
    r.ratio = Math.round((r.recordsPerSecond / reference) * 1000) / 1000;
    r.meetsTarget = r.ratio >= TARGET_RATIO;
  }
  const line = JSON.stringify({
    bench: 'sources',
    records,
    referenceSource: REFERENCE,
    referenceRecordsPerSecond: reference,
    target: TARGET_RATIO,
    allMeetTarget: Object.entries(results).every(([s, r]) => s === REFERENCE || r.meetsTarget === true),
    sources: results,
    machine: { cpus: cpus().length, loadAvg, node: process.version },
    at: at.toISOString(),
  });
  writeFileSync(join(OUT_DIR, `sources-${stamp}.json`), `${line}\n`);
  process.stdout.write(`${line}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:sources: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
