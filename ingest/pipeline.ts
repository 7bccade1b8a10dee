import type { Clock } from '../core/clock.ts';
import { KeywatchError, isKeywatchError } from '../core/errors.ts';
import type { Store } from '../storage/store.ts';
import { chainHead } from '../storage/ledger.ts';
import type { Collector } from './collector.ts';
import { COLLECTORS, collectorForFormat, sniffCollector } from './collectors.ts';
import { frameRecords, type Framed } from './framing.ts';
import { DEFAULT_RETRY, writeBatchWithRetry, type BatchResult, type EarlyQuarantine, type RetryPolicy, type SinkContext } from './sink.ts';
import { RecordBatch } from './record-batch.ts';
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
  /** Inputs that could not be read to the end (corrupt gzip, read error): what was read is kept. */
  unreadable: { origin: string; message: string }[];
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
  /** How lost connections and timeouts are retried (bad data never is). */
  retry?: RetryPolicy;
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
export async function ingest(inputs: Iterable<Input>, opts: IngestOptions): Promise<IngestSummary> {
  const t0 = performance.now();
  const summary: IngestSummary = { inputs: 0, read: 0, normalized: 0, inserted: 0, duplicates: 0, dropped: {}, quarantined: {}, batches: 0, bytes: 0, seconds: 0, eventsPerSecond: 0, chainHead: '', unreadable: [] };
  const sinkHead = { current: await chainHead(opts.store) };
  const initialBytes = Math.min(opts.batchBytes + (1 << 20), 64 << 20);
  let batch = new RecordBatch(initialBytes);
  let spare = new RecordBatch(initialBytes);
  let early: EarlyQuarantine[] = [];
  let origins: string[] = [];
  let first = '';
  let last = '';
  let startedAt = opts.clock.now();
  let pending: Promise<void> | undefined;
  let batchCollector: Collector | undefined;
  let batchTransport = '';

  // A batch may span several inputs of the same collector and transport, so that many small files
  // (CloudTrail writes one per account, region and 5 minutes) do not each pay a batch's fixed cost.
  const flush = async () => {
    if (batch.count === 0 && early.length === 0) return;
    if (pending) await pending;
    const collector = batchCollector as Collector;
    const full = batch;
    const origin = origins.length === 1 ? (origins[0] as string) : `${origins.length} inputs: ${origins[0]} .. ${origins[origins.length - 1]}`;
    const input = { transport: batchTransport, origin, firstPosition: first, lastPosition: last, payload: full.payload(), records: full.count, early, startedAt };
    summary.bytes += full.recordBytes;
    batch = spare;
    spare = full;
    early = [];
    origins = [];
    first = '';
    startedAt = opts.clock.now();
    const ctx: SinkContext = { store: opts.store, collector, clock: opts.clock, tenants: opts.tenants, defaultTenant: opts.defaultTenant, head: sinkHead.current };
    // The next batch fills while this one is written; `spare` is reused only after it is done.
    pending = writeBatchWithRetry(ctx, input, opts.retry ?? DEFAULT_RETRY).then((r) => {
      sinkHead.current = ctx.head;
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

  // Inputs are opened one at a time as the iterable yields them.
  for (const input of inputs) {
    summary.inputs++;
    let lastHere = '';
    try {
      const { collector, chunks } = await chooseCollector(input, opts.format);
      if (batchCollector !== undefined && (collector !== batchCollector || input.transport !== batchTransport)) await flush();
      batchCollector = collector;
      batchTransport = input.transport;
      let seenHere = false;
      const progress = () =>
        opts.onProgress?.({ origin: input.origin, bytesRead: input.bytesRead(), ...(input.sizeBytes === undefined ? {} : { sizeBytes: input.sizeBytes }), records: summary.read });
      let lastReport = 0;
      for await (const framed of frameRecords(chunks, { maxRecordBytes: opts.maxRecordBytes })) {
        for (const f of framed) {
          summary.read++;
          if (!seenHere) {
            seenHere = true;
            origins.push(input.origin);
          }
          if (first === '') first = f.position;
          last = f.position;
          lastHere = f.position;
          if (f.kind === 'record') {
            batch.add(f.record, input.origin, f.position);
          } else if (f.kind === 'oversized') {
            early.push({ origin: input.origin, position: f.position, reason: 'record_too_large', message: `record is ${f.size} bytes, over the ${opts.maxRecordBytes}-byte limit (ingest.maxRecordBytes); its first ${f.prefix.length} bytes are kept here`, record: f.prefix.toString('utf8') });
          } else {
            early.push({ origin: input.origin, position: f.position, reason: 'truncated_record', message: 'the input ended inside this record', record: f.record.toString('utf8') });
          }
          if (batch.byteLength >= opts.batchBytes) {
            await flush();
            if (seenHere) origins.push(input.origin);
          }
        }
        if (summary.read - lastReport >= 5000) {
          lastReport = summary.read;
          progress();
        }
      }
      progress();
    } catch (e) {
      if (!(isKeywatchError(e) && e.code === 'INPUT_UNREADABLE')) throw e;
      // What was read before the failure stays in the batch; the input itself is quarantined so
      // that the store records the gap.
      batchCollector ??= opts.format === 'auto' ? (COLLECTORS[0] as Collector) : collectorForFormat(opts.format);
      batchTransport ||= input.transport;
      if (!origins.includes(input.origin)) origins.push(input.origin);
      if (first === '') first = lastHere || 'start';
      early.push({ origin: input.origin, position: lastHere ? `after ${lastHere}` : 'start', reason: 'input_unreadable', message: e.message, record: '' });
      summary.unreadable.push({ origin: input.origin, message: e.message });
    }
  }
  await flush();
  if (pending) await pending;
  summary.seconds = (performance.now() - t0) / 1000;
  summary.eventsPerSecond = summary.seconds > 0 ? Math.round(summary.read / summary.seconds) : 0;
  summary.chainHead = sinkHead.current.hash;
  return summary;
}
