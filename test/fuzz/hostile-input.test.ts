import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import type { Collector } from '../../ingest/collector.ts';
import { COLLECTORS, collectorForFormat } from '../../ingest/collectors.ts';
import { frameRecords, type Framed } from '../../ingest/framing.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import type { BatchResult } from '../../ingest/sink.ts';
import { decodeBody, fitJsonFraming } from '../../ingest/transports/http-body.ts';
import { GZIP_MAX_RATIO, openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { fixtureRecords } from './corpus.ts';

const MiB = 1024 * 1024;
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);

/** `total` bytes of `fill` in 1 MiB chunks, all the same Buffer: only a consumer that copies costs memory. */
async function* repeated(total: number, fill: number, head = Buffer.alloc(0), tail = Buffer.alloc(0)): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  const chunk = Buffer.alloc(MiB, fill);
  for (let sent = 0; sent < total; sent += MiB) yield chunk;
  if (tail.length > 0) yield tail;
}

/** Runs a framing to the end, keeping what it yields, and the growth of Buffer memory while it ran. */
async function drain(stream: AsyncGenerator<Framed[]>): Promise<{ out: Framed[]; grewBytes: number }> {
  globalThis.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  const out: Framed[] = [];
  for await (const batch of stream) {
    out.push(...batch);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }
  peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  return { out, grewBytes: peak - before };
}

/** A gzip stream of `total` zero bytes that is small: one compressed 64 MiB member, repeated (gzip allows many members). */
let member: Buffer | undefined;
function gzipBomb(total: number): Buffer {
  member ??= gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
  return Buffer.concat(Array.from({ length: Math.ceil(total / (64 * MiB)) }, () => member as Buffer));
}

describe('framing bounds', () => {
  it('reports a 64 MiB line without a newline as one oversized record, keeping only its first 64 KiB', async () => {
    const { out, grewBytes } = await drain(frameRecords(repeated(64 * MiB, 0x61), { maxRecordBytes: MiB }));
    expect(out).toHaveLength(1);
    const f = out[0] as Framed & { kind: 'oversized' };
    expect(f.kind).toBe('oversized');
    expect(f.size).toBe(64 * MiB);
    expect(f.prefix.length).toBeLessThanOrEqual(64 * 1024);
    // Buffered, the line alone would be 64 MiB.
    expect(grewBytes).toBeLessThan(16 * MiB);
  });

  it('reports a 64 MiB element of a JSON array as one oversized record without buffering it', async () => {
    const { out, grewBytes } = await drain(frameRecords(repeated(64 * MiB, 0x61, Buffer.from('[{"a":"'), Buffer.from('"}]')), { maxRecordBytes: MiB }));
    expect(out.map((f) => f.kind)).toEqual(['oversized']);
    expect((out[0] as Framed & { kind: 'oversized' }).size).toBe(64 * MiB + '{"a":""}'.length);
    expect(grewBytes).toBeLessThan(16 * MiB);
  });

  it.each(COLLECTORS.filter((c) => c.frame).map((c) => [c.source, c] as const))(
    'bounds a 64 MiB line in the %s framing',
    async (_source, collector) => {
      const frame = (collector as Required<Collector>).frame;
      const { out, grewBytes } = await drain(frame(repeated(64 * MiB, 0x61, Buffer.from('Time: ')), { maxRecordBytes: MiB, origin: 'hsm-t3s9d2f8g1h.log' }));
      expect(out.length).toBeGreaterThan(0);
      expect(out.every((f) => f.kind !== 'record' || f.record.length <= MiB)).toBe(true);
      expect(out.some((f) => f.kind === 'oversized')).toBe(true);
      expect(grewBytes).toBeLessThan(16 * MiB);
    },
  );

  it('does not overflow the stack on 100,000 levels of nesting in any framing', async () => {
    const deepArray = Buffer.from('['.repeat(100_000));
    const deepObject = Buffer.from('{"a":'.repeat(100_000));
    for (const input of [deepArray, deepObject, Buffer.concat([Buffer.from('{"Records":['), deepObject])]) {
      const { out } = await drain(frameRecords(repeated(0, 0, input), { maxRecordBytes: MiB }));
      expect(out.length).toBeGreaterThan(0);
      for (const c of COLLECTORS) {
        if (c.frame) await drain(c.frame(repeated(0, 0, input), { maxRecordBytes: MiB, origin: 'deep.log' }));
      }
    }
    // The HTTP body fitting parses a candidate document whole: too deep a one is left to the framing.
    const body = Buffer.concat([Buffer.from('{"a":\n'), Buffer.from('['.repeat(100_000)), Buffer.from(']'.repeat(100_000)), Buffer.from('}')]);
    expect(() => fitJsonFraming(body, 4 * MiB)).not.toThrow();
  });
});

describe('HTTP body decoding bounds', () => {
  const bomb = gzipBomb(10 * 1024 * MiB);

  it('is a small body on the wire that would expand to 10 GiB', () => {
    expect(bomb.length).toBeLessThan(16 * MiB);
  });

  it('refuses a gzip bomb sent as a .gz file with 413 body_too_large at the decompressed limit', async () => {
    const r = await decodeBody(bomb, { coding: 'identity', kind: 'gzip', maxBytes: 8 * MiB });
    expect(r).toMatchObject({ ok: false, error: { status: 413, code: 'body_too_large' } });
  });

  it('refuses a gzip bomb sent with Content-Encoding gzip, and one gzipped twice', async () => {
    expect(await decodeBody(bomb, { coding: 'gzip', kind: 'records', maxBytes: 8 * MiB })).toMatchObject({ ok: false, error: { code: 'body_too_large' } });
    const twice = gzipSync(bomb);
    expect(await decodeBody(twice, { coding: 'gzip', kind: 'records', maxBytes: 64 * MiB })).toMatchObject({ ok: false, error: { code: 'body_too_large' } });
  });
});

describe('hostile inputs through the pipeline', () => {
  let store: Store;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir('keywatch-hostile-');
    store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
    await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
  });
  afterAll(async () => {
    await store?.close();
    dir?.remove();
  });

  async function run(path: string, format: string): Promise<{ summary: IngestSummary; batches: BatchResult[] }> {
    const batches: BatchResult[] = [];
    const summary = await ingest([openInput(path)], {
      store,
      clock: fixedClock('2026-11-29T00:00:00.000Z'),
      format,
      tenants: {},
      defaultTenant: 'default',
      batchBytes: 8 << 20,
      maxRecordBytes: MiB,
      onBatch: (b) => batches.push(b),
    });
    // An input that breaks off is quarantined once itself (input_unreadable), besides its records.
    expect(summary.read + summary.unreadable.length, 'every record read is accounted for').toBe(summary.inserted + summary.duplicates + sum(summary.quarantined) + sum(summary.dropped));
    return { summary, batches };
  }

  it(`stops a gzip bomb file (10 GiB of zeros, ${Math.round(gzipBomb(10 * 1024 * MiB).length / MiB)} MiB on disk) at a ${GZIP_MAX_RATIO}:1 ratio and quarantines it as input_unreadable`, async () => {
    const path = join(dir.path, 'bomb.json.gz');
    writeFileSync(path, gzipBomb(10 * 1024 * MiB));
    const { summary, batches } = await run(path, 'aws-cloudtrail');
    expect(summary.quarantined.input_unreadable).toBe(1);
    expect(summary.unreadable[0]?.message).toContain('gzip bomb');
    const rows = await store.query<{ reason: string; message: string }>('SELECT reason, message FROM quarantine WHERE batch_id IN {ids:Array(String)}', { ids: batches.map((b) => b.batchId) });
    expect(rows).toEqual([{ reason: 'input_unreadable', message: expect.stringContaining('expands more than') }]);
  });

  it('still reads a gzip file of real records, which compress far below the ratio limit', async () => {
    const kms = collectorForFormat('aws-cloudtrail');
    const records = await fixtureRecords(kms);
    const path = join(dir.path, 'real.ndjson.gz');
    writeFileSync(path, gzipSync(Buffer.concat(records.flatMap((r) => [r, Buffer.from('\n')]))));
    const { summary } = await run(path, 'aws-cloudtrail');
    expect(summary.unreadable).toEqual([]);
    expect(summary.inserted).toBeGreaterThan(0);
  });

  it('quarantines a 64 MiB line as record_too_large with only its first bytes kept', async () => {
    const path = join(dir.path, 'huge-line.ndjson');
    writeFileSync(path, Buffer.concat([Buffer.from('{"eventVersion":"1.08","x":"'), Buffer.alloc(64 * MiB, 0x61)]));
    const { summary, batches } = await run(path, 'aws-cloudtrail');
    expect(summary.quarantined).toEqual({ record_too_large: 1 });
    const [row] = await store.query<{ len: string }>('SELECT length(record) AS len FROM quarantine WHERE batch_id IN {ids:Array(String)}', { ids: batches.map((b) => b.batchId) });
    expect(Number(row?.len)).toBeLessThanOrEqual(64 * 1024);
  });

  it.each(COLLECTORS.map((c) => [c.source, c] as const))('quarantines 100,000 levels of JSON nesting given to %s with a reason', async (source, collector) => {
    const path = join(dir.path, `deep-${source}.log`);
    const lines = ['['.repeat(100_000), '{"a":'.repeat(100_000), `${'['.repeat(100_000)}${']'.repeat(100_000)}`, `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`];
    writeFileSync(path, lines.join('\n') + '\n');
    const { summary } = await run(path, collector.formats[0] as string);
    expect(summary.read).toBeGreaterThan(0);
    expect(summary.inserted).toBe(0);
    expect(sum(summary.quarantined)).toBe(summary.read);
  });

  it.each(COLLECTORS.map((c) => [c.source, c] as const))('reads records with invalid UTF-8 in %s without failing and keeps their bytes as received', async (source, collector) => {
    const records = (await fixtureRecords(collector)).slice(0, 20);
    // Invalid sequences inside the first string value of each record, and a lone surrogate (CESU-8).
    const bad = records.map((r, i) => {
      const at = r.indexOf(0x22) + 1 || r.length;
      const junk = [Buffer.from([0xff, 0xfe]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x80])][i % 4] as Buffer;
      return Buffer.concat([r.subarray(0, at), junk, r.subarray(at)]);
    });
    const path = join(dir.path, `utf8-${source}${collector.frame ? '-hsm-t3s9d2f8g1h.log' : '.ndjson'}`);
    const input = Buffer.concat(bad.flatMap((r) => [r, Buffer.from('\n')]));
    writeFileSync(path, input);
    const { summary, batches } = await run(path, collector.formats[0] as string);
    expect(summary.read).toBeGreaterThan(0);
    const raw = await store.query<{ hex: string }>("SELECT hex(arrayStringConcat(groupArray(record), '')) AS hex FROM (SELECT record FROM raw_events WHERE batch_id IN {ids:Array(String)} ORDER BY batch_id, seq)", { ids: batches.map((b) => b.batchId) });
    // Every invalid sequence reached the store untouched (raw_events keeps the bytes).
    const stored = Buffer.from(raw[0]?.hex ?? '', 'hex');
    if (!collector.frame) for (const junk of [[0xff, 0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80]]) expect(stored.includes(Buffer.from(junk))).toBe(true);
    expect(readFileSync(path).equals(input)).toBe(true);
  });
});
