import type { Clock } from '../core/clock.ts';
import { KeywatchError } from '../core/errors.ts';
import type { Store } from '../storage/store.ts';
import { chainHead } from '../storage/ledger.ts';
import type { Collector } from './collector.ts';
import { collectorForFormat, sniffCollector } from './collectors.ts';
import { frameRecords, type Framed } from './framing.ts';
import { writeBatch, type BatchResult, type EarlyQuarantine, type SinkContext } from './sink.ts';
import { TsvBatch } from './tsv-batch.ts';
import type { Input } from './transports/file.ts';

/** What one ingest run did. Every record read is accounted for in exactly one of the buckets. */
export interface IngestSummary {
  inputs: number;
  read: number;
  normalized: number;
  inserted: number;
  duplicates: number;
  dropped: Record<string, number>;
  quarantined: Record<string, number>;
  batches: number;
  bytes: number;
  seconds: number;
  eventsPerSecond: number;
  chainHead: string;
}

export interface IngestOptions {
  store: Store;
  clock: Clock;
  /** `auto` or a collector format name. */
  format: string;
  tenants: Record<string, string>;
  defaultTenant: string;
  batchBytes: number;
  maxRecordBytes: number;
  /** Called as bytes are read, for a progress bar. */
  onProgress?: (p: { origin: string; bytesRead: number; sizeBytes?: number; records: number }) => void;
  onBatch?: (r: BatchResult) => void;
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/** Peeks at an input's first bytes to choose a collector, without consuming them. */
async function chooseCollector(input: Input, format: string): Promise<{ collector: Collector; chunks: AsyncIterable<Buffer> }> {
  if (format !== 'auto') return { collector: collectorForFormat(format), chunks: input.chunks };
  const it = input.chunks[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < 64 * 1024) {
    const n = await it.next();
    if (n.done) {
      done = true;
      break;
    }
    head.push(n.value);
    size += n.value.length;
  }
  const chunks = (async function* () {
    yield* head;
    if (done) return;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  })();
  if (size === 0) return { collector: collectorForFormat('aws-cloudtrail'), chunks };
  const collector = sniffCollector(Buffer.concat(head).subarray(0, 64 * 1024).toString('utf8'));
  if (!collector) {
    throw new KeywatchError('FORMAT_UNKNOWN', `cannot tell what produced ${input.origin}: no known log format in its first 64 KiB; pass --format (one of: aws-cloudtrail)`);
  }
  return { collector, chunks };
}

/**
 * Streams every input through framing, batching and the sink. Memory stays bounded by the batch
 * size: at most one batch is being filled while the previous one is written.
 */
export async function ingest(inputs: readonly Input[], opts: IngestOptions): Promise<IngestSummary> {
  const t0 = performance.now();
  const summary: IngestSummary = { inputs: inputs.length, read: 0, normalized: 0, inserted: 0, duplicates: 0, dropped: {}, quarantined: {}, batches: 0, bytes: 0, seconds: 0, eventsPerSecond: 0, chainHead: '' };
  const head = await chainHead(opts.store);
  let ctx: SinkContext | undefined;

  for (const input of inputs) {
    const { collector, chunks } = await chooseCollector(input, opts.format);
    ctx = { store: opts.store, collector, clock: opts.clock, tenants: opts.tenants, defaultTenant: opts.defaultTenant, head: ctx?.head ?? head };
    const sinkCtx = ctx;
    let batch = new TsvBatch(Math.min(opts.batchBytes + (1 << 20), 64 << 20));
    let spare = new TsvBatch(Math.min(opts.batchBytes + (1 << 20), 64 << 20));
    let early: EarlyQuarantine[] = [];
    let first = '';
    let last = '';
    let startedAt = opts.clock.now();
    let pending: Promise<void> | undefined;

    const flush = async () => {
      if (batch.count === 0 && early.length === 0) return;
      if (pending) await pending;
      const full = batch;
      const payloadBatch = { transport: input.transport, origin: input.origin, firstPosition: first, lastPosition: last, payload: full.payload(), records: full.count, early, startedAt };
      summary.bytes += full.recordBytes;
      batch = spare;
      spare = full;
      early = [];
      first = '';
      startedAt = opts.clock.now();
      // The next batch fills while this one is written; `spare` is reused only after it is done.
      pending = writeBatch(sinkCtx, payloadBatch).then((r) => {
        summary.batches++;
        summary.normalized += r.normalized;
        summary.inserted += r.inserted;
        summary.duplicates += r.duplicates;
        add(summary.dropped, r.dropped);
        add(summary.quarantined, r.quarantined);
        opts.onBatch?.(r);
        spare.reset();
      });
      // Awaited at the next flush; this keeps a failure from counting as unhandled meanwhile.
      pending.catch(() => undefined);
    };

    const handle = async (f: Framed) => {
      summary.read++;
      if (first === '') first = f.position;
      last = f.position;
      if (f.kind === 'record') {
        batch.add(f.record, f.position);
      } else if (f.kind === 'oversized') {
        early.push({ position: f.position, reason: 'record_too_large', message: `record is ${f.size} bytes, over the ${opts.maxRecordBytes}-byte limit (ingest.maxRecordBytes); its first ${f.prefix.length} bytes are kept here`, record: f.prefix.toString('utf8') });
      } else {
        early.push({ position: f.position, reason: 'truncated_record', message: 'the input ended inside this record', record: f.record.toString('utf8') });
      }
      if (batch.byteLength >= opts.batchBytes) await flush();
    };

    let lastReport = 0;
    for await (const f of frameRecords(chunks, { maxRecordBytes: opts.maxRecordBytes })) {
      await handle(f);
      if (opts.onProgress && summary.read - lastReport >= 5000) {
        lastReport = summary.read;
        opts.onProgress({ origin: input.origin, bytesRead: input.bytesRead(), ...(input.sizeBytes === undefined ? {} : { sizeBytes: input.sizeBytes }), records: summary.read });
      }
    }
    await flush();
    if (pending) await pending;
    opts.onProgress?.({ origin: input.origin, bytesRead: input.bytesRead(), ...(input.sizeBytes === undefined ? {} : { sizeBytes: input.sizeBytes }), records: summary.read });
  }
  summary.seconds = (performance.now() - t0) / 1000;
  summary.eventsPerSecond = summary.seconds > 0 ? Math.round(summary.read / summary.seconds) : 0;
  summary.chainHead = (ctx?.head ?? head).hash;
  return summary;
}
