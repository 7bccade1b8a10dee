import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { generateCloudTrail, type GenerateOptions } from './cloudtrail-generator.ts';

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

async function close(out: Writable): Promise<void> {
  out.end();
  await once(out, 'finish');
}

/**
 * Writes demo CloudTrail traffic the way it arrives in practice: one gzip `{"Records":[...]}` file
 * per account, region and day (the S3 layout), and the last day again as NDJSON, as an
 * EventBridge rule or CloudWatch export would deliver it. The overlap exercises deduplication.
 * Returns the file paths in time order.
 */
export async function writeDemoFiles(dir: string, opts: GenerateOptions): Promise<{ files: string[]; records: number }> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const open = new Map<string, { out: Writable; gz: Writable; first: boolean }>();
  let records = 0;
  const lastDayStart = opts.start.getTime() + (opts.days - 1) * 86_400_000;
  const ndjsonPath = join(dir, 'eventbridge-last-day.ndjson');
  const ndjson = createWriteStream(ndjsonPath);
  let day = '';
  const closeAll = async () => {
    for (const f of open.values()) {
      await write(f.gz, '\n]}\n');
      await close(f.gz);
      await once(f.out, 'close');
    }
    open.clear();
  };
  for (const rec of generateCloudTrail(opts)) {
    records++;
    const t = String(rec.eventTime);
    const d = t.slice(0, 10);
    if (d !== day) {
      await closeAll();
      day = d;
    }
    const account = String((rec as { recipientAccountId?: string }).recipientAccountId ?? 'unknown');
    const region = String(rec.awsRegion);
    const key = `${account}_${region}`;
    let f = open.get(key);
    if (!f) {
      const path = join(dir, `${account}_CloudTrail_${region}_${d.replace(/-/g, '')}T0000Z_demo.json.gz`);
      files.push(path);
      const out = createWriteStream(path);
      const gz = createGzip();
      gz.pipe(out);
      f = { out, gz, first: true };
      open.set(key, f);
      await write(gz, '{"Records":[\n');
    }
    await write(f.gz, (f.first ? '' : ',\n') + JSON.stringify(rec));
    f.first = false;
    if (Date.parse(t) >= lastDayStart) await write(ndjson, JSON.stringify({ version: '0', id: `demo-${records}`, 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.kms', account, time: t, region, resources: [], detail: rec }) + '\n');
  }
  await closeAll();
  await close(ndjson);
  files.push(ndjsonPath);
  return { files, records };
}
