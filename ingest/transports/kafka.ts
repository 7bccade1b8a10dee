import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Admin, Batch, Consumer, EachBatchPayload, IHeaders, KafkaConfig, KafkaMessage, Producer, SASLOptions } from 'kafkajs';
import type { Clock } from '../../core/clock.ts';
import type { Config } from '../../core/config.ts';
import { KeywatchError, isKeywatchError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { isRetryable } from '../../storage/store-error.ts';
import type { Store } from '../../storage/store.ts';
import type { Collector } from '../collector.ts';
import { COLLECTORS, collectorForFormat } from '../collectors.ts';
import { detectFraming, frameRecords, type Framed } from '../framing.ts';
import { ingest } from '../pipeline.ts';
import type { BatchResult } from '../sink.ts';
import type { Input } from './file.ts';

// kafkajs is CommonJS; its named exports are not visible to ESM static analysis.
const { Kafka, Partitioners, logLevel } = kafkajs;

/**
 * The Kafka transport: a consumer group on the configured topics that stores what it reads
 * through the ingest pipeline and commits offsets only once the records are stored.
 *
 * - Each fetched batch (one topic partition) becomes one pipeline Input, transport `kafka`,
 *   origin `kafka://<topic>/<partition>`. Each message value is one record at position
 *   `kafka:<topic>/<partition>@<offset>`. A value holding several records (a CloudTrail
 *   `{"Records":[...]}` file, a JSON array, or several lines of NDJSON that are not one JSON
 *   document) is split by the generic framing, and its records get `#Records[i]`, `#[i]` or
 *   `#line:n` appended to the message's position. Collectors with their own framing (multi-line
 *   text) frame each value themselves.
 * - Empty and null values (compaction tombstones) carry no record: they are counted as
 *   `tombstones` and their offsets committed.
 * - At least once: the offset after the batch is committed after ingest() returned, and after
 *   quarantined records were copied to the dead-letter topic. A batch that was not committed
 *   (store down at shutdown, rebalance, crash) is delivered again; event_id deduplication keeps
 *   the stored events exactly once, while quarantine rows and dead-letter copies of poison records
 *   may repeat.
 * - While the store is unavailable the batch is retried with capped exponential backoff and the
 *   consumer keeps heartbeating, so it keeps its partitions. An error that retrying cannot fix
 *   stops the consumers; `done` rejects with it.
 *
 * @example
 *   const consumers = await startKafkaConsumers({ store, config, clock: systemClock });
 *   console.log(await consumers.lag());
 *   await consumers.stop();
 */
export interface KafkaConsumersOptions {
  store: Store;
  /** The whole configuration: `kafka`, plus tenants, defaultTenant and ingest.maxRecordBytes. */
  config: Config;
  clock: Clock;
  logger?: Logger;
  /** Called for each batch once it is stored and its offset committed. */
  onBatch?: (b: KafkaBatchSummary) => void;
  /** Backoff while the store or the dead-letter topic is unavailable: first delay and ceiling. */
  retry?: { baseDelayMs?: number; maxDelayMs?: number };
}

/** What one fetched batch (one topic partition) became. */
export interface KafkaBatchSummary {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** The offset committed for the partition: the next one to read. */
  committedOffset: string;
  messages: number;
  /** Messages that carry no record: null or empty values (compaction tombstones), `{"Records":[]}`. */
  tombstones: number;
  /** Records handed to the pipeline (a message may hold several). */
  records: number;
  inserted: number;
  duplicates: number;
  quarantined: Record<string, number>;
  dropped: Record<string, number>;
  deadLettered: number;
  /** Store batches (ingest_batches.batch_id) the records went into. */
  batchIds: string[];
  /** Failed store attempts before the batch was stored. */
  storeRetries: number;
  seconds: number;
}

export interface KafkaTotals {
  batches: number;
  messages: number;
  tombstones: number;
  records: number;
  inserted: number;
  duplicates: number;
  quarantined: Record<string, number>;
  dropped: Record<string, number>;
  deadLettered: number;
  storeRetries: number;
  /** Times this member joined the group (the first join included). */
  groupJoins: number;
}

/** Consumer progress of one partition. */
export interface PartitionLag {
  topic: string;
  partition: number;
  /** The group's committed offset (the next to read), or null when the group never committed one. */
  committedOffset: number | null;
  /** Offset of the next message to be written to the partition. */
  highWatermark: number;
  /** Messages not yet committed: highWatermark minus the committed offset (or the log start when none). */
  lag: number;
}

export interface KafkaConsumers {
  /** Stops fetching, stores and commits the batch in flight, leaves the group and disconnects. */
  stop(): Promise<void>;
  /** Committed offset, high watermark and lag of every partition of the configured topics. */
  lag(): Promise<PartitionLag[]>;
  totals(): KafkaTotals;
  /** Settles when the consumers end: resolves after stop(), rejects with the error that ended them otherwise. */
  done: Promise<void>;
}

type KafkaSettings = Config['kafka'];
type TopicSettings = KafkaSettings['topics'][number];

const DLQ_HEADER = {
  reason: 'keywatch-reason',
  message: 'keywatch-message',
  topic: 'keywatch-source-topic',
  partition: 'keywatch-source-partition',
  offset: 'keywatch-source-offset',
  position: 'keywatch-position',
  batch: 'keywatch-batch-id',
} as const;
/** Header names of dead-letter copies. */
export const DEAD_LETTER_HEADERS = DLQ_HEADER;

const PREFIX_KEEP = 64 * 1024;
// How long the broker may hold an empty fetch. Stopping waits for the fetch in flight, so kafkajs'
// 5 s default would make every shutdown take 5 s; 500 ms is the Java client's fetch.max.wait.ms.
const FETCH_MAX_WAIT_MS = 500;

/** Thrown inside a batch when stop() was asked for while it waited: the batch is left uncommitted. */
class StopRequested extends Error {
  constructor() {
    super('the consumer is stopping');
  }
}

/** The dead-letter topic refused a copy for a reason retrying cannot fix. */
class DeadLetterFailed extends Error {
  override name = 'DeadLetterFailed';
}

/** Checks that the configuration names brokers, topics and known formats. */
export function checkKafkaSettings(kafka: KafkaSettings): void {
  if (kafka.brokers.length === 0 || kafka.topics.length === 0) {
    const missing = [kafka.brokers.length === 0 ? 'kafka.brokers' : '', kafka.topics.length === 0 ? 'kafka.topics' : ''].filter(Boolean).join(' and ');
    throw new KeywatchError(
      'USAGE',
      `the Kafka consumers need ${missing} in the config file, e.g. {"kafka": {"brokers": ["kafka-1:9092"], "topics": [{"topic": "cloudtrail", "format": "aws-cloudtrail"}]}}`,
    );
  }
  const seen = new Set<string>();
  kafka.topics.forEach((t, i) => {
    if (seen.has(t.topic)) throw new KeywatchError('CONFIG_INVALID', `kafka.topics[${i}]: topic "${t.topic}" is listed twice`);
    seen.add(t.topic);
    if (t.format === 'auto') return;
    try {
      collectorForFormat(t.format);
    } catch (e) {
      throw new KeywatchError('CONFIG_INVALID', `kafka.topics[${i}] (${t.topic}): ${(e as Error).message}`, { cause: e });
    }
  });
  if (kafka.deadLetterTopic && seen.has(kafka.deadLetterTopic)) {
    throw new KeywatchError('CONFIG_INVALID', `kafka.deadLetterTopic "${kafka.deadLetterTopic}" is also a consumed topic; poison records would loop`);
  }
}

function kafkaClient(kafka: KafkaSettings, logger: Logger) {
  const level = logger.isLevelEnabled('trace') ? logLevel.DEBUG : logger.isLevelEnabled('debug') ? logLevel.INFO : logger.isLevelEnabled('info') ? logLevel.WARN : logLevel.ERROR;
  const cfg: KafkaConfig = {
    clientId: kafka.clientId,
    brokers: kafka.brokers,
    ssl: kafka.ssl,
    logLevel: level,
    // kafkajs logs a rebalance or a lost connection as ERROR although it recovers by itself; keywatch
    // reports what it cannot recover from, so kafkajs' levels are shifted down one step.
    logCreator: () => ({ namespace, level: l, log }) => {
      const { message, timestamp: _t, logger: _l, stack: _s, ...fields } = log;
      const target = l === logLevel.ERROR ? 'warn' : l === logLevel.WARN ? 'info' : l === logLevel.INFO ? 'debug' : 'trace';
      logger[target]({ kafka: namespace, ...fields }, message);
    },
  };
  if (kafka.sasl) cfg.sasl = { mechanism: kafka.sasl.mechanism, username: kafka.sasl.username, password: kafka.sasl.password } as SASLOptions;
  return new Kafka(cfg);
}

const toNumber = (offset: string) => Number(offset);

/** True for a crash because the group coordinator no longer knows the group (see `rejoin`). */
function groupLost(e: unknown): boolean {
  let cause: unknown = e;
  while (cause instanceof Error && (cause as { cause?: unknown }).cause !== undefined) cause = (cause as { cause?: unknown }).cause;
  const type = (cause as { type?: unknown } | undefined)?.type;
  return type === 'GROUP_ID_NOT_FOUND';
}

async function lagOf(admin: Admin, groupId: string, topics: readonly string[]): Promise<PartitionLag[]> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
  const out: PartitionLag[] = [];
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const e of [...ends].sort((a, b) => a.partition - b.partition)) {
      const c = mine.find((p) => p.partition === e.partition);
      const committedOffset = c && toNumber(c.offset) >= 0 ? toNumber(c.offset) : null;
      const highWatermark = toNumber(e.high);
      out.push({ topic, partition: e.partition, committedOffset, highWatermark, lag: Math.max(0, highWatermark - (committedOffset ?? toNumber(e.low))) });
    }
  }
  return out;
}

/**
 * The lag of the configured consumer group on the configured topics, over a connection of its own
 * (for `keywatch consume --status`, without consuming).
 */
export async function fetchKafkaLag(kafka: KafkaSettings, logger: Logger = createLogger()): Promise<PartitionLag[]> {
  checkKafkaSettings(kafka);
  const admin = kafkaClient(kafka, logger).admin();
  await connectOrExplain(() => admin.connect(), kafka);
  try {
    return await lagOf(admin, kafka.groupId, kafka.topics.map((t) => t.topic));
  } finally {
    await admin.disconnect();
  }
}

async function connectOrExplain(connect: () => Promise<void>, kafka: KafkaSettings): Promise<void> {
  try {
    await connect();
  } catch (e) {
    throw new KeywatchError('TRANSPORT_UNAVAILABLE', `cannot connect to the Kafka brokers ${kafka.brokers.join(', ')}: ${(e as Error).message}`, { cause: e });
  }
}

async function checkTopicsExist(admin: Admin, names: string[]): Promise<void> {
  try {
    await admin.fetchTopicMetadata({ topics: names });
  } catch (e) {
    throw new KeywatchError('CONFIG_INVALID', `the Kafka topics ${names.join(', ')} must exist (keywatch does not create them): ${(e as Error).message}`, { cause: e });
  }
}

/** A message as the producer sends it. */
export interface OutgoingMessage {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  partition?: number;
  headers?: Record<string, string>;
}

/** A message as read back, headers decoded as UTF-8. */
export interface ReadMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * A plain producer on the configured cluster (for replaying records into a topic, and for tests).
 *
 * @example const p = await openKafkaProducer(config.kafka); await p.send('cloudtrail', [{ value: line }]); await p.disconnect();
 */
export async function openKafkaProducer(kafka: KafkaSettings, logger: Logger = createLogger()): Promise<{ send(topic: string, messages: OutgoingMessage[]): Promise<void>; disconnect(): Promise<void> }> {
  const producer = kafkaClient(kafka, logger).producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await connectOrExplain(() => producer.connect(), kafka);
  return {
    send: async (topic, messages) => {
      await producer.send({ topic, acks: -1, messages });
    },
    disconnect: () => producer.disconnect(),
  };
}

/**
 * Reads a topic from its start up to the high watermarks seen when called (to inspect the
 * dead-letter topic). Uses a throw-away consumer group, so it takes a group join (seconds).
 */
export async function readKafkaTopic(kafka: KafkaSettings, topic: string, opts: { timeoutMs?: number; logger?: Logger } = {}): Promise<ReadMessage[]> {
  const logger = opts.logger ?? createLogger();
  const client = kafkaClient(kafka, logger);
  const admin = client.admin();
  await connectOrExplain(() => admin.connect(), kafka);
  let ends: { partition: number; high: string; low: string }[];
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const wanted = new Map(ends.filter((e) => toNumber(e.high) > toNumber(e.low)).map((e) => [e.partition, toNumber(e.high)]));
  const out: ReadMessage[] = [];
  if (wanted.size === 0) return out;
  const consumer = client.consumer({
    groupId: `keywatch-read-${randomUUID()}`,
    sessionTimeout: kafka.sessionTimeoutMs,
    heartbeatInterval: kafka.heartbeatIntervalMs,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    allowAutoTopicCreation: false,
  });
  await connectOrExplain(() => consumer.connect(), kafka);
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((r) => (finish = r));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const end = wanted.get(partition);
        if (end === undefined) return;
        if (toNumber(message.offset) < end) out.push({ topic, partition, offset: message.offset, key: message.key, value: message.value, headers: decodeHeaders(message.headers) });
        if (toNumber(message.offset) + 1 >= end) wanted.delete(partition);
        if (wanted.size === 0) finish();
      },
    });
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') throw new KeywatchError('INPUT_UNREADABLE', `reading ${topic} did not reach its end within ${timeoutMs} ms`);
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.partition - b.partition || toNumber(a.offset) - toNumber(b.offset));
}

function decodeHeaders(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    out[k] = (Array.isArray(v) ? v : [v]).map((x) => x.toString()).join(',');
  }
  return out;
}

/** Where each framed record came from, to find a quarantined record's message again. */
interface Site {
  message: KafkaMessage;
  record: Buffer;
}

interface FramedBatch {
  framed: Framed[];
  sites: Map<string, Site>;
  tombstones: number;
  bytes: number;
}

async function* once<T>(x: T): AsyncGenerator<T> {
  yield x;
}

const isWs = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** True when a value holds several records: a Records wrapper, a JSON array, or NDJSON lines. */
function holdsSeveral(value: Buffer, max: number): 'records-array' | 'json-array' | 'lines' | false {
  const { framing } = detectFraming(value.subarray(0, 512));
  if (framing !== 'lines') return framing;
  let end = value.length;
  while (end > 0 && isWs(value[end - 1])) end--;
  const nl = value.indexOf(0x0a);
  if (nl === -1 || nl >= end) return false;
  // A pretty-printed JSON document spans lines too; it is one record. Only multi-line values pay
  // for this parse, and they are the exception.
  if (value.length <= max) {
    try {
      JSON.parse(value.toString('utf8'));
      return false;
    } catch {
      // not one document: one record per line
    }
  }
  return 'lines';
}

function trimEnd(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && isWs(b[end - 1])) end--;
  return end === b.length ? b : b.subarray(0, end);
}

/** Turns a fetched batch into framed records (see the module comment for the rules). */
async function frameBatch(batch: Batch, collector: Collector, maxRecordBytes: number): Promise<FramedBatch> {
  const out: FramedBatch = { framed: [], sites: new Map(), tombstones: 0, bytes: 0 };
  const at = (m: KafkaMessage) => `kafka:${batch.topic}/${batch.partition}@${m.offset}`;
  const push = (f: Framed, m: KafkaMessage, record: Buffer) => {
    out.framed.push(f);
    out.sites.set(f.position, { message: m, record });
  };
  for (const m of batch.messages) {
    const value = m.value;
    if (value === null || trimEnd(value).length === 0) {
      out.tombstones++;
      continue;
    }
    out.bytes += value.length;
    const base = at(m);
    const several = collector.frame ? 'frame' : holdsSeveral(value, maxRecordBytes);
    if (several === false) {
      const rec = trimEnd(value);
      if (rec.length > maxRecordBytes) push({ kind: 'oversized', prefix: Buffer.from(rec.subarray(0, PREFIX_KEEP)), size: rec.length, position: base }, m, value);
      else push({ kind: 'record', record: rec, position: base }, m, value);
      continue;
    }
    const parts = collector.frame
      ? collector.frame(once(value), { maxRecordBytes, origin: base })
      : frameRecords(once(value), { maxRecordBytes, ...(several === 'frame' ? {} : { framing: several }) });
    const inner: Framed[] = [];
    for await (const fs of parts) inner.push(...fs);
    if (inner.length === 0) {
      // `{"Records":[]}`, `[]`: a well-formed message with no record in it.
      out.tombstones++;
      continue;
    }
    if (inner.length === 1 && several === 'frame') {
      // One record in the message: it keeps the message's own position.
      const f = inner[0] as Framed;
      push({ ...f, position: base }, m, value);
      continue;
    }
    for (const f of inner) {
      const position = `${base}#${f.position}`;
      push({ ...f, position }, m, f.kind === 'oversized' ? f.prefix : f.record);
    }
  }
  return out;
}

/**
 * The collector that takes a batch of an `auto` topic: the first that recognises one of its first
 * messages. The pipeline still routes each record of the batch to the collector that recognises it;
 * this one frames the values and takes the records nobody recognises (and quarantines them).
 */
function sniffBatch(messages: readonly KafkaMessage[]): Collector {
  let tried = 0;
  for (const m of messages) {
    if (!m.value || m.value.length === 0) continue;
    const c = COLLECTORS.find((x) => x.sniffRecord(m.value as Buffer));
    if (c) return c;
    if (++tried >= 50) break;
  }
  return COLLECTORS[0] as Collector;
}

const sumOf = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);
const addInto = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Starts the configured consumer group; resolves once it has joined the group. */
export async function startKafkaConsumers(opts: KafkaConsumersOptions): Promise<KafkaConsumers> {
  const { store, config, clock } = opts;
  const kafka = config.kafka;
  checkKafkaSettings(kafka);
  const logger = opts.logger ?? createLogger();
  const baseDelayMs = opts.retry?.baseDelayMs ?? 1_000;
  const maxDelayMs = opts.retry?.maxDelayMs ?? 30_000;
  const topics = new Map<string, TopicSettings>(kafka.topics.map((t) => [t.topic, t]));
  const fixed = new Map<string, Collector>(kafka.topics.filter((t) => t.format !== 'auto').map((t) => [t.topic, collectorForFormat(t.format)]));
  const topicNames = [...topics.keys()];

  const client = kafkaClient(kafka, logger);
  const admin = client.admin();
  const consumer: Consumer = client.consumer({
    groupId: kafka.groupId,
    sessionTimeout: kafka.sessionTimeoutMs,
    heartbeatInterval: kafka.heartbeatIntervalMs,
    maxBytesPerPartition: kafka.maxBatchBytes,
    maxBytes: kafka.maxBatchBytes,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    allowAutoTopicCreation: false,
  });
  const producer: Producer | undefined = kafka.deadLetterTopic
    ? client.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
    : undefined;

  const totals: KafkaTotals = { batches: 0, messages: 0, tombstones: 0, records: 0, inserted: 0, duplicates: 0, quarantined: {}, dropped: {}, deadLettered: 0, storeRetries: 0, groupJoins: 0 };
  let stopRequested = false;
  let stopping: Promise<void> | undefined;
  let settle: { resolve: () => void; reject: (e: unknown) => void } = { resolve: () => undefined, reject: () => undefined };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Nobody may be listening yet; the rejection is still delivered to whoever awaits `done`.
  done.catch(() => undefined);

  // A heartbeat that failed (the group is rebalancing, or this member was evicted) means the batches
  // fetched before it will not be committable: they are skipped until kafkajs has rejoined.
  let heartbeatFailure: unknown;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    heartbeatFailure = undefined;
    totals.groupJoins++;
    logger.info({ group: kafka.groupId, assignment: e.payload.memberAssignment }, 'joined the consumer group');
  });
  consumer.on(consumer.events.CRASH, (e) => {
    if (e.payload.restart) {
      logger.warn({ group: kafka.groupId, err: e.payload.error.message }, 'the Kafka consumer crashed; kafkajs restarts it');
      return;
    }
    if (!stopRequested && groupLost(e.payload.error)) {
      void rejoin(e.payload.error);
      return;
    }
    void shutdown(e.payload.error);
  });

  // A broker that restarted without its state (librdkafka's mock, a cluster rebuilt from scratch)
  // answers GROUP_ID_NOT_FOUND, which kafkajs counts as fatal and does not restart on. The group
  // is joined again; with no committed offsets it starts at the beginning, and what was stored
  // before counts as duplicates (event_id), not as new rows.
  const rejoin = async (error: Error) => {
    logger.warn({ group: kafka.groupId, err: error.message }, 'the Kafka consumer group is gone (the broker lost its state); joining it again');
    for (let attempt = 1; !stopRequested; attempt++) {
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: topicNames, fromBeginning: true });
        await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
        return;
      } catch (e) {
        const d = Math.min(baseDelayMs * 2 ** (attempt - 1), maxDelayMs);
        logger.warn({ group: kafka.groupId, attempt, delayMs: d, err: (e as Error).message }, 'could not join the Kafka consumer group again; retrying');
        await delay(d);
      }
    }
  };

  /**
   * Waits `ms`, heartbeating meanwhile; gives up when stop() is asked for or the group starts
   * rebalancing (the batch is then left uncommitted and comes again to whoever owns the partition).
   */
  const makeWaiter = (alive: { error(): unknown }) => async (ms: number) => {
    const until = Date.now() + Math.min(ms, maxDelayMs);
    for (;;) {
      if (stopRequested) throw new StopRequested();
      const hb = alive.error();
      if (hb) throw hb;
      const left = until - Date.now();
      if (left <= 0) return;
      await delay(Math.min(100, left));
    }
  };

  /** Heartbeats in the background while a batch is processed, so a slow store does not cost the partitions. */
  const keepAlive = (heartbeat: () => Promise<void>) => {
    let failure: unknown;
    let busy = false;
    const timer = setInterval(() => {
      if (busy || failure) return;
      busy = true;
      heartbeat()
        .catch((e: unknown) => {
          failure = e;
          heartbeatFailure = e;
        })
        .finally(() => {
          busy = false;
        });
    }, Math.max(50, Math.floor(kafka.heartbeatIntervalMs / 2)));
    return { error: () => failure, stop: () => clearInterval(timer) };
  };

  /**
   * Retries `fn` with capped exponential backoff while it fails in a way that may pass (`passing`),
   * until it succeeds, stop() is asked for, or the group rebalances.
   */
  const persist = async <T>(what: string, fn: () => Promise<T>, wait: (ms: number) => Promise<void>, passing: (e: unknown) => boolean): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!passing(e)) throw e;
        const d = Math.min(baseDelayMs * 2 ** (attempt - 1), maxDelayMs);
        logger.warn({ attempt, delayMs: d, err: (e as Error).message }, `${what} failed; retrying`);
        await wait(d);
      }
    }
  };

  const deadLetter = async (batch: Batch, framed: FramedBatch, results: BatchResult[], wait: (ms: number) => Promise<void>): Promise<number> => {
    if (!producer || !kafka.deadLetterTopic) return 0;
    const ids = results.filter((r) => sumOf(r.quarantined) > 0).map((r) => r.batchId);
    if (ids.length === 0) return 0;
    const rows = await persist(
      'reading the quarantined records of a Kafka batch',
      () => store.query<{ batch_id: string; position: string; reason: string; message: string }>('SELECT batch_id, position, reason, message FROM quarantine WHERE batch_id IN {ids:Array(String)} ORDER BY batch_id, seq, position', { ids }),
      wait,
      isRetryable,
    );
    const messages = rows.map((r) => {
      const site = framed.sites.get(r.position);
      return {
        key: site?.message.key ?? null,
        value: site?.record ?? Buffer.alloc(0),
        headers: {
          [DLQ_HEADER.reason]: r.reason,
          [DLQ_HEADER.message]: r.message,
          [DLQ_HEADER.topic]: batch.topic,
          [DLQ_HEADER.partition]: String(batch.partition),
          [DLQ_HEADER.offset]: site?.message.offset ?? '',
          [DLQ_HEADER.position]: r.position,
          [DLQ_HEADER.batch]: r.batch_id,
        },
      };
    });
    if (messages.length === 0) return 0;
    const topic = kafka.deadLetterTopic;
    // A broker that is down or a leader that moved may come back: keywatch waits rather than commit
    // records that were quarantined but not copied. What cannot pass (a copy larger than the topic
    // accepts, no permission) stops the consumers, uncommitted.
    const passing = (e: unknown) => e instanceof Error && e.name.startsWith('KafkaJS') && e.name !== 'KafkaJSNonRetriableError' && (e as { retriable?: boolean }).retriable !== false;
    const send = async () => {
      try {
        await producer.send({ topic, acks: -1, messages });
      } catch (e) {
        if (passing(e)) throw e;
        throw new DeadLetterFailed(`cannot copy ${messages.length} quarantined records to the dead-letter topic ${topic}: ${(e as Error).message}`, { cause: e });
      }
    };
    await persist('producing to the dead-letter topic', send, wait, (e) => !(e instanceof DeadLetterFailed));
    return messages.length;
  };

  const eachBatch = async (p: EachBatchPayload): Promise<void> => {
    const { batch } = p;
    const t0 = performance.now();
    const topic = topics.get(batch.topic);
    if (!topic || batch.messages.length === 0) return;
    if (heartbeatFailure) {
      // Throws while the group is still rebalancing (kafkajs then rejoins); a failed heartbeat is
      // always followed by a real request, so a passing one means the member is fine again.
      await p.heartbeat();
      heartbeatFailure = undefined;
    }
    const alive = keepAlive(p.heartbeat);
    const wait = makeWaiter(alive);
    try {
      const collector = fixed.get(batch.topic) ?? sniffBatch(batch.messages);
      const framed = await frameBatch(batch, collector, config.ingest.maxRecordBytes);
      const results: BatchResult[] = [];
      let storeRetries = 0;
      const storeFailed = (attempt: number, delayMs: number, error: Error) => {
        storeRetries++;
        totals.storeRetries++;
        logger.warn({ topic: batch.topic, partition: batch.partition, attempt, delayMs, code: (error as { code?: string }).code, err: error.message }, 'store unavailable; the Kafka batch waits, uncommitted');
      };
      if (framed.framed.length > 0) {
        const format = topic.format === 'auto' ? collector.formats[0] : undefined;
        const makeInput = (): Input => ({
          transport: 'kafka',
          origin: `kafka://${batch.topic}/${batch.partition}`,
          chunks: once(Buffer.alloc(0)),
          framed: once(framed.framed),
          ...(format ? { format } : {}),
          sizeBytes: framed.bytes,
          bytesRead: () => framed.bytes,
        });
        // Retried here too: ingest() reads the ledger head before its own per-batch retries start.
        for (let attempt = 1; ; attempt++) {
          results.length = 0;
          try {
            await ingest([makeInput()], {
              store,
              clock,
              format: topic.format,
              tenants: config.tenants,
              defaultTenant: config.defaultTenant,
              ...(topic.tenant ? { tenant: topic.tenant } : {}),
              batchBytes: kafka.maxBatchBytes,
              maxRecordBytes: config.ingest.maxRecordBytes,
              onBatch: (r) => results.push(r),
              retry: {
                // The wait gives up on stop() or a rebalance; until then a lost store is waited for.
                attempts: Number.MAX_SAFE_INTEGER,
                baseDelayMs,
                sleep: wait,
                onRetry: ({ attempt: n, delayMs, error }) => storeFailed(n, Math.min(delayMs, maxDelayMs), error),
              },
            });
            break;
          } catch (e) {
            if (!isRetryable(e)) throw e;
            const d = Math.min(baseDelayMs * 2 ** (attempt - 1), maxDelayMs);
            storeFailed(attempt, d, e as Error);
            await wait(d);
          }
        }
      }
      const deadLettered = await deadLetter(batch, framed, results, wait);
      const next = String(BigInt(batch.lastOffset()) + 1n);
      await p.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
      p.resolveOffset(batch.lastOffset());

      const summary: KafkaBatchSummary = {
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: batch.firstOffset() ?? (batch.messages[0] as KafkaMessage).offset,
        lastOffset: batch.lastOffset(),
        committedOffset: next,
        messages: batch.messages.length,
        tombstones: framed.tombstones,
        records: framed.framed.length,
        inserted: 0,
        duplicates: 0,
        quarantined: {},
        dropped: {},
        deadLettered,
        batchIds: results.map((r) => r.batchId),
        storeRetries,
        seconds: (performance.now() - t0) / 1000,
      };
      for (const r of results) {
        summary.inserted += r.inserted;
        summary.duplicates += r.duplicates;
        addInto(summary.quarantined, r.quarantined);
        addInto(summary.dropped, r.dropped);
      }
      totals.batches++;
      totals.messages += summary.messages;
      totals.tombstones += summary.tombstones;
      totals.records += summary.records;
      totals.inserted += summary.inserted;
      totals.duplicates += summary.duplicates;
      totals.deadLettered += deadLettered;
      addInto(totals.quarantined, summary.quarantined);
      addInto(totals.dropped, summary.dropped);
      logger.info({ ...summary, batchIds: undefined }, 'Kafka batch stored and committed');
      opts.onBatch?.(summary);
    } catch (e) {
      if (e instanceof StopRequested) {
        logger.info({ topic: batch.topic, partition: batch.partition, from: batch.firstOffset() }, 'stopping with the Kafka batch unstored; it is delivered again next time');
        return;
      }
      if (e instanceof Error && e.name.startsWith('KafkaJS')) {
        // Lost the partition or the group is rebalancing: kafkajs rejoins; the uncommitted batch comes again.
        throw e;
      }
      // Retrying cannot fix it (a query the store rejects, a programming error): stop, uncommitted.
      p.pause();
      logger.error({ topic: batch.topic, partition: batch.partition, code: isKeywatchError(e) ? e.code : undefined, err: (e as Error).message, retryable: isRetryable(e) }, 'the Kafka batch cannot be stored; stopping the consumers');
      setImmediate(() => void shutdown(e));
    } finally {
      alive.stop();
    }
  };

  const shutdown = (error?: unknown): Promise<void> => {
    stopping ??= (async () => {
      stopRequested = true;
      // What was committed is committed: a broker that is gone by now only costs a warning.
      for (const [what, step] of [['consumer', () => consumer.disconnect()], ['dead-letter producer', () => producer?.disconnect()], ['admin client', () => admin.disconnect()]] as const) {
        try {
          await step();
        } catch (e) {
          logger.warn({ err: (e as Error).message }, `could not disconnect the Kafka ${what} cleanly`);
        }
      }
      if (error !== undefined) settle.reject(error);
      else settle.resolve();
    })();
    return stopping;
  };

  try {
    await connectOrExplain(() => admin.connect(), kafka);
    await checkTopicsExist(admin, [...topicNames, ...(kafka.deadLetterTopic ? [kafka.deadLetterTopic] : [])]);
    if (producer) await connectOrExplain(() => producer.connect(), kafka);
    await connectOrExplain(() => consumer.connect(), kafka);
    // A new group starts at the beginning of the topics: audit records already there are wanted.
    await consumer.subscribe({ topics: topicNames, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
  } catch (e) {
    await shutdown(e);
    throw isKeywatchError(e) ? e : new KeywatchError('TRANSPORT_UNAVAILABLE', `cannot start the Kafka consumers on ${kafka.brokers.join(', ')}: ${(e as Error).message}`, { cause: e });
  }

  return {
    stop: async () => {
      await shutdown();
      await done.catch(() => undefined);
    },
    lag: async () => (stopRequested ? fetchKafkaLag(kafka, logger) : lagOf(admin, kafka.groupId, topicNames)),
    totals: () => structuredClone(totals),
    done,
  };
}
