import type { Clock } from '../core/clock.ts';
import { KeywatchError, isKeywatchError } from '../core/errors.ts';
import type { Store } from '../storage/store.ts';
import { chainHead } from '../storage/ledger.ts';
import type { Collector, IngestRun } from './collector.ts';
import { COLLECTORS, collectorForFormat, sniffCollector } from './collectors.ts';
import { frameRecords, type Framed } from './framing.ts';
import { DEFAULT_RETRY, writeBatchWithRetry, type BatchResult, type EarlyQuarantine, type RetryPolicy, type SinkContext } from './sink.ts';
import { RecordBatch } from './record-batch.ts';
import type { Input } from './transports/file.ts';

/** Per-source counts of one run. */
export interface SourceCounts {
  read: number;
  normalized: number;
  inserted: number;
  duplicates: number;
  quarantined: number;
  dropped: number;
}

/** What one ingest run did. Every record read is accounted for in exactly one of the buckets. */
export interface IngestSummary {
  inputs: number;
  read: number;
  normalized: number;
  inserted: number;
  duplicates: number;
  dropped: Record<string, number>;
  quarantined: Record<string, number>;
  /** The same counts per source (collector), for runs over mixed inputs. */
  bySource: Record<string, SourceCounts>;
  /** New audit-integrity findings (e.g. HSM sequence gaps) recorded by this run. */
  findings: number;
  batches: number;
  bytes: number;
  seconds: number;
  eventsPerSecond: number;
  chainHead: string;
  /** Inputs that could not be read to the end (corrupt gzip, read error): what was read is kept. */
  unreadable: { origin: string; message: string }[];
  /** Records passed over because a checkpoint says an earlier run stored them (not counted in `read`). */
  resumedRecords: number;
}

export interface IngestOptions {
  store: Store;
  clock: Clock;
  /** `auto` or a collector format name. */
  format: string;
  tenants: Record<string, string>;
  defaultTenant: string;
  /**
   * When set, every event of this run belongs to this tenant whatever the record says (an HTTP
   * token or a Kafka topic fixes the tenant of what it delivers).
   */
  tenant?: string;
  batchBytes: number;
  maxRecordBytes: number;
  /** Called as bytes are read, for a progress bar. */
  onProgress?: (p: { origin: string; bytesRead: number; sizeBytes?: number; records: number }) => void;
  onBatch?: (r: BatchResult) => void;
  /** How lost connections and timeouts are retried (bad data never is). */
  retry?: RetryPolicy;
  /**
   * The batches' received time, when the records were received earlier than now (a spooled HTTP
   * body replayed later); default: the clock's now when each batch starts.
   */
  receivedAt?: Date;
}

/** Where one input stands: records framed so far, and how far its durable prefix was reported. */
interface InputState {
  checkpoint: NonNullable<Input['checkpoint']>;
  framed: number;
  finished: boolean;
  reported: number;
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);

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
  const collector = sniffCollector(Buffer.concat(head).subarray(0, 64 * 1024).toString("utf8"));
  if (!collector) {
    const known = COLLECTORS.flatMap((c) => c.formats.slice(0, 1)).join(', ');
    throw new KeywatchError('FORMAT_UNKNOWN', `cannot tell what produced ${input.origin}: no known log format in its first 64 KiB; pass --format (one of: ${known})`);
  }
  return { collector, chunks };
}

/** One batch being filled for one collector. */
interface Pending {
  collector: Collector;
  transport: string;
  batch: RecordBatch;
  early: EarlyQuarantine[];
  origins: string[];
  first: string;
  last: string;
  startedAt: Date;
  /** For checkpointed inputs: the ordinal of the first of their records this batch holds. */
  firsts: Map<InputState, number>;
}

// One ingest run at a time per store: each run extends the ledger's hash chain from its head, so
// two interleaved runs (an HTTP push and a Kafka batch in one process) would fork the chain.
const runLocks = new WeakMap<Store, Promise<unknown>>();

/**
 * Streams every input through framing, batching and the sink. Memory stays bounded by the batch
 * size: each collector fills at most one batch while the previous batch is written.
 *
 * With `format: 'auto'`, each input's collector is chosen from its first bytes, and in a stream
 * that mixes producers each record goes to the collector that recognises it (records nobody
 * recognises go to the input's own collector, which quarantines them with its reason).
 */
export async function ingest(inputs: Iterable<Input>, opts: IngestOptions): Promise<IngestSummary> {
  const prev = runLocks.get(opts.store) ?? Promise.resolve();
  const run = prev.catch(() => undefined).then(() => ingestNow(inputs, opts));
  runLocks.set(opts.store, run);
  try {
    return await run;
  } finally {
    if (runLocks.get(opts.store) === run) runLocks.delete(opts.store);
  }
}

async function ingestNow(inputs: Iterable<Input>, opts: IngestOptions): Promise<IngestSummary> {
  const t0 = performance.now();
  const summary: IngestSummary = { inputs: 0, read: 0, normalized: 0, inserted: 0, duplicates: 0, dropped: {}, quarantined: {}, bySource: {}, findings: 0, batches: 0, bytes: 0, seconds: 0, eventsPerSecond: 0, chainHead: '', unreadable: [], resumedRecords: 0 };
  const sinkHead = { current: await chainHead(opts.store) };
  const initialBytes = Math.min(opts.batchBytes + (1 << 20), 64 << 20);
  const pool: RecordBatch[] = [];
  const open = new Map<Collector, Pending>();
  const used = new Set<Collector>();
  // What each collector's batches wrote, for its afterIngest.
  const written = new Map<Collector, IngestRun>();
  let pendingWrite: Promise<void> | undefined;
  // Batches not yet written (open, waiting to be written, or being written), and the checkpointed
  // inputs whose durable prefix may still grow.
  const undurable = new Set<Pending>();
  const tracked = new Set<InputState>();
  // An input's records are durable up to the first one held by a batch not yet written.
  const reportDurable = () => {
    for (const st of tracked) {
      let durable = st.framed;
      for (const p of undurable) {
        const f = p.firsts.get(st);
        if (f !== undefined && f - 1 < durable) durable = f - 1;
      }
      const done = st.finished && durable === st.framed;
      if (durable > st.reported || done) {
        st.reported = durable;
        st.checkpoint.onDurable(durable, done);
      }
      if (done) tracked.delete(st);
    }
  };
  const counts = (c: Collector): SourceCounts => (summary.bySource[c.source] ??= { read: 0, normalized: 0, inserted: 0, duplicates: 0, quarantined: 0, dropped: 0 });

  const openPending = async (collector: Collector, transport: string): Promise<Pending> => {
    const existing = open.get(collector);
    if (existing) {
      if (existing.transport === transport) return existing;
      await flush(existing);
    }
    const p: Pending = { collector, transport, batch: pool.pop() ?? new RecordBatch(initialBytes), early: [], origins: [], first: '', last: '', startedAt: opts.receivedAt ?? opts.clock.now(), firsts: new Map() };
    open.set(collector, p);
    undurable.add(p);
    used.add(collector);
    return p;
  };

  // A batch may span several inputs of the same collector and transport, so that many small files
  // (CloudTrail writes one per account, region and 5 minutes) do not each pay a batch's fixed cost.
  // Writes are chained: the next batch fills while this one is written.
  const flush = async (p: Pending): Promise<void> => {
    if (open.get(p.collector) === p) open.delete(p.collector);
    if (p.batch.count === 0 && p.early.length === 0) {
      undurable.delete(p);
      pool.push(p.batch);
      return;
    }
    const origin = p.origins.length === 1 ? (p.origins[0] as string) : `${p.origins.length} inputs: ${p.origins[0]} .. ${p.origins[p.origins.length - 1]}`;
    summary.bytes += p.batch.recordBytes;
    // At most one write in flight: a failure of the previous one surfaces here.
    if (pendingWrite) await pendingWrite;
    const write = (async () => {
      const input = { transport: p.transport, origin, firstPosition: p.first, lastPosition: p.last, payload: p.batch.payload(), records: p.batch.count, early: p.early, startedAt: p.startedAt };
      const ctx: SinkContext = { store: opts.store, collector: p.collector, clock: opts.clock, tenants: opts.tenants, defaultTenant: opts.defaultTenant, forceTenant: opts.tenant ?? '', head: sinkHead.current };
      const r = await writeBatchWithRetry(ctx, input, opts.retry ?? DEFAULT_RETRY);
      sinkHead.current = ctx.head;
      const w = written.get(p.collector) ?? { batchIds: [] };
      written.set(p.collector, w);
      w.batchIds.push(r.batchId);
      if (ctx.eventTimes) {
        const { first, last } = ctx.eventTimes;
        w.eventTimes = w.eventTimes ? { first: first < w.eventTimes.first ? first : w.eventTimes.first, last: last > w.eventTimes.last ? last : w.eventTimes.last } : { first, last };
      }
      summary.batches++;
      summary.normalized += r.normalized;
      summary.inserted += r.inserted;
      summary.duplicates += r.duplicates;
      add(summary.dropped, r.dropped);
      add(summary.quarantined, r.quarantined);
      const c = counts(p.collector);
      c.normalized += r.normalized;
      c.inserted += r.inserted;
      c.duplicates += r.duplicates;
      c.dropped += sum(r.dropped);
      c.quarantined += sum(r.quarantined);
      opts.onBatch?.(r);
      undurable.delete(p);
      if (tracked.size > 0) reportDurable();
      p.batch.reset();
      pool.push(p.batch);
    })();
    pendingWrite = write;
    // Awaited at the next flush or the end; this keeps a failure from counting as unhandled meanwhile.
    write.catch(() => undefined);
  };

  const place = (p: Pending, origin: string, position: string, st?: InputState) => {
    if (st && !p.firsts.has(st)) p.firsts.set(st, st.framed);
    if (p.origins[p.origins.length - 1] !== origin) p.origins.push(origin);
    if (p.first === '') p.first = position;
    p.last = position;
  };

  // Inputs are opened one at a time as the iterable yields them.
  for (const input of inputs) {
    summary.inputs++;
    let lastHere = '';
    let primary: Collector | undefined;
    const st: InputState | undefined = input.checkpoint ? { checkpoint: input.checkpoint, framed: 0, finished: false, reported: input.checkpoint.skip } : undefined;
    const skip = input.checkpoint?.skip ?? 0;
    if (st) tracked.add(st);
    try {
      const chosen = input.framed
        ? { collector: collectorForFormat(opts.format === 'auto' ? (input.format ?? 'keywatch-json') : opts.format), chunks: undefined }
        : await chooseCollector(input, opts.format);
      primary = chosen.collector;
      const routing = opts.format === 'auto' && !primary.frame;
      const progress = () =>
        opts.onProgress?.({ origin: input.origin, bytesRead: input.bytesRead(), ...(input.sizeBytes === undefined ? {} : { sizeBytes: input.sizeBytes }), records: summary.read });
      let lastReport = 0;
      const framedStream =
        input.framed ??
        (primary.frame
          ? primary.frame(chosen.chunks as AsyncIterable<Buffer>, { maxRecordBytes: opts.maxRecordBytes, origin: input.origin })
          : frameRecords(chosen.chunks as AsyncIterable<Buffer>, { maxRecordBytes: opts.maxRecordBytes }));
      for await (const framed of framedStream) {
        for (const f of framed) {
          if (st && ++st.framed <= skip) {
            summary.resumedRecords++;
            continue;
          }
          summary.read++;
          lastHere = f.position;
          let collector = primary;
          if (routing && f.kind === 'record' && !primary.sniffRecord(f.record)) {
            collector = COLLECTORS.find((c) => c !== primary && !c.frame && c.sniffRecord(f.record)) ?? primary;
          }
          counts(collector).read++;
          let p = open.get(collector);
          if (!p || p.transport !== input.transport) p = await openPending(collector, input.transport);
          place(p, input.origin, f.position, st);
          if (f.kind === 'record') {
            p.batch.add(f.record, input.origin, f.position);
          } else if (f.kind === 'oversized') {
            p.early.push({ origin: input.origin, position: f.position, reason: 'record_too_large', message: `record is ${f.size} bytes, over the ${opts.maxRecordBytes}-byte limit (ingest.maxRecordBytes); its first ${f.prefix.length} bytes are kept here`, record: f.prefix.toString('utf8') });
          } else {
            p.early.push({ origin: input.origin, position: f.position, reason: 'truncated_record', message: 'the input ended inside this record', record: f.record.toString('utf8') });
          }
          if (p.batch.byteLength >= opts.batchBytes) await flush(p);
        }
        if (summary.read - lastReport >= 5000) {
          lastReport = summary.read;
          progress();
        }
      }
      progress();
      if (st) {
        st.finished = true;
        reportDurable();
      }
    } catch (e) {
      if (!(isKeywatchError(e) && e.code === 'INPUT_UNREADABLE')) throw e;
      // What was read before the failure stays in the batch; the input itself is quarantined so
      // that the store records the gap.
      primary ??= opts.format === 'auto' ? (COLLECTORS[0] as Collector) : collectorForFormat(opts.format);
      const p = await openPending(primary, input.transport);
      // What was read is checkpointed as it becomes durable, but an unreadable input is never done.
      place(p, input.origin, lastHere || 'start', st);
      p.early.push({ origin: input.origin, position: lastHere ? `after ${lastHere}` : 'start', reason: 'input_unreadable', message: e.message, record: '' });
      summary.unreadable.push({ origin: input.origin, message: e.message });
    }
  }
  for (const p of [...open.values()]) await flush(p);
  if (pendingWrite) await pendingWrite;
  for (const c of used) {
    if (c.afterIngest && (summary.bySource[c.source]?.inserted ?? 0) > 0) {
      summary.findings += await c.afterIngest(opts.store, opts.clock.now(), written.get(c) ?? { batchIds: [] });
    }
  }
  summary.seconds = (performance.now() - t0) / 1000;
  summary.eventsPerSecond = summary.seconds > 0 ? Math.round(summary.read / summary.seconds) : 0;
  summary.chainHead = sinkHead.current.hash;
  return summary;
}
