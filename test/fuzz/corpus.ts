import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Collector } from '../../ingest/collector.ts';
import { frameRecords, type Framed } from '../../ingest/framing.ts';

const EXTENSIONS = ['.json', '.ndjson', '.log', '.txt', '.jsonl'];

/** The fixture inputs of a collector (good and bad), as files. */
export function fixtureFiles(collector: Collector): string[] {
  const dir = join(import.meta.dirname, '..', '..', 'ingest', collector.source, 'fixtures');
  const out: string[] = [];
  for (const d of [dir, join(dir, 'bad')]) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d).sort()) {
      if (f.endsWith('.expected.json') || f === 'README.md') continue;
      if (EXTENSIONS.some((e) => f.endsWith(e))) out.push(join(d, f));
    }
  }
  return out;
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

/** Frames one input the way the pipeline does for this collector. */
export async function frame(collector: Collector, input: Buffer, origin: string, maxRecordBytes = 1 << 20): Promise<Framed[]> {
  const out: Framed[] = [];
  const stream = collector.frame ? collector.frame(once(input), { maxRecordBytes, origin }) : frameRecords(once(input), { maxRecordBytes });
  for await (const batch of stream) out.push(...batch);
  return out;
}

/** Every record of a collector's fixture files, framed as the pipeline frames them. */
export async function fixtureRecords(collector: Collector): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const file of fixtureFiles(collector)) {
    for (const f of await frame(collector, readFileSync(file), file)) if (f.kind !== 'oversized') out.push(f.record);
  }
  return out;
}

/**
 * The reasons a source documents in its README's quarantine section (backticked snake_case words),
 * plus those of the framing stage: the known set a rejected record's reason must come from.
 */
export function documentedReasons(collector: Collector): Set<string> {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'ingest', collector.source, 'README.md'), 'utf8');
  const start = readme.search(/^## Quarantine/m);
  if (start === -1) throw new Error(`ingest/${collector.source}/README.md has no "## Quarantine" section`);
  const rest = readme.slice(start + 3);
  const end = rest.search(/^## /m);
  const section = end === -1 ? rest : rest.slice(0, end);
  const reasons = new Set(['record_too_large', 'truncated_record', 'input_unreadable']);
  for (const m of section.matchAll(/`([a-z][a-z0-9_]*)`/g)) reasons.add(m[1] as string);
  return reasons;
}
