import { closeSync, openSync, readSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { isMain } from '../ingest/paths.ts';
import { fetchOpsMetrics, summarizeBacklog, type BacklogSample, type BacklogSummary } from './ops-metrics.ts';
import { summarize, type LatencySummary } from './percentiles.ts';

/**
 * The load generator of bench:serve, in a process of its own so that it does not share an event
 * loop with the server: POSTs NDJSON batches of CloudTrail KMS records to `/v1/ingest/{format}`
 * over `--connections` keep-alive connections, open-loop at a target rate of events per second,
 * and records each request's acknowledgement latency.
 *
 * Either fixed steps (`--rates 500,1000`) or a search (`--search`): the rate doubles from
 * `--start` until a step fails, then bisects between the last step that passed and the first that
 * failed. A step passes when every request was acknowledged, the acknowledged rate kept up
 * with the offered one and p99 stayed under `--p99-ms`. `--ack stored` (default): the
 * acknowledgement is a 200 with the counts of what was stored; `--ack spooled`: a 202, the body is
 * in the server's spool and stored behind. With `--metrics-url` (serve's /metrics) the spool
 * backlog is sampled during each step, and the store must keep up too (ops-metrics.ts
 * `summarizeBacklog`); the next step waits until the spool is empty. SIGTERM ends the current step
 * early and still prints the result. One JSON line per step on stderr, the whole result on stdout.
 *
 * The token comes from KEYWATCH_BENCH_TOKEN, never from the command line (ps shows arguments).
 *
 * @example KEYWATCH_BENCH_TOKEN=… node --import tsx bench/serve/load.ts --url http://127.0.0.1:8080 --file f.ndjson --rates 1000 --step-seconds 10
 */

export interface StepResult {
  /** Target events/s. */
  offeredEventsPerSecond: number;
  /** Events of every request sent in the step, over the step's length. */
  sentEventsPerSecond: number;
  /** Events of acknowledged requests, over the time from the step's start to its last answer (at least the step's length). */
  ackedEventsPerSecond: number;
  requests: number;
  events: number;
  ackedRequests: number;
  ackedEvents: number;
  /** Sums over the 200 answers' counts (a 202 carries none: zero with `--ack spooled`). */
  inserted: number;
  duplicates: number;
  quarantined: number;
  /** Answers by status code; `error` for a connection error, `unanswered` for a request cut off by the drain limit. */
  statuses: Record<string, number>;
  /** The status that acknowledges: 200 (stored) or 202 (spooled). */
  ackStatus: number;
  /** Acknowledgement latency in ms, from the moment the request was due to the end of its answer (acknowledgements only). */
  latencyMs: LatencySummary;
  /** Same for every answer, errors included. */
  latencyAllMs: LatencySummary;
  seconds: number;
  /** Seconds from the step's end until its last answer arrived. */
  drainSeconds: number;
  /** Why the step ended before its time, when it did. */
  endedEarly: string | null;
  /** Every request acknowledged, at (nearly) the offered rate. */
  acksKeepUp: boolean;
  /** The spool backlog over the step (with a metrics URL), null without one. */
  backlog: BacklogSummary | null;
  /** Seconds from the step's last answer until the spool was empty again (null without a metrics URL, or when it did not empty within the limit). */
  spoolDrainSeconds: number | null;
  /**
   * Events the HTTP intake stored (/metrics) from the step's start until its spool was empty, over
   * that time: the replayer's throughput when the store is the bottleneck, the offered rate when not.
   */
  storedEventsPerSecond: number | null;
  /** `keywatch_events_inserted_total{transport="http"}` just before the step (null without a metrics URL). */
  insertedAtStart: number | null;
  /** `acksKeepUp`, and the store kept up with the spool (when there is a backlog to judge). */
  keepsUp: boolean;
  passed: boolean;
  /** Wall clock (ms since epoch) of the step's start and of its last answer, to line up server RSS samples. */
  startedAt: number;
  endedAt: number;
}

export interface LoadResult {
  batchEvents: number;
  connections: number;
  stepSeconds: number;
  p99LimitMs: number;
  steps: StepResult[];
  /** The highest offered rate of a step that passed, or null when none did. */
  sustainedEventsPerSecond: number | null;
  ackStatus: number;
  /**
   * Every request of every step. An answer that came after its step's drain limit is counted here
   * (`lateAckedRequests`), not in its step: the store holds its records all the same.
   */
  totals: { requests: number; ackedRequests: number; ackedEvents: number; inserted: number; duplicates: number; quarantined: number; lateAckedRequests: number; notAcknowledged: number };
  interrupted: boolean;
}

/** Reads an NDJSON file as batches of `size` lines, round and round; every pass gives each eventID a prefix of its own. */
export class BatchSource {
  private readonly fd: number;
  private readonly chunk = Buffer.alloc(1 << 20);
  private rest = '';
  private lines: string[] = [];
  private pass = 0;
  private eof = false;

  constructor(
    path: string,
    private readonly idPrefix: string,
  ) {
    this.fd = openSync(path, 'r');
  }

  private position = 0;

  private decoder = new StringDecoder('utf8');

  // Reads only what the next batch needs: a long synchronous read would hold up requests that are
  // due, and their latency counts from when they were due.
  private fill(size: number): void {
    while (this.lines.length < size && !this.eof) {
      const n = readSync(this.fd, this.chunk, 0, this.chunk.length, this.position);
      if (n === 0) {
        this.eof = true;
        const tail = this.rest + this.decoder.end();
        if (tail.length > 0) this.lines.push(tail);
        this.rest = '';
        break;
      }
      this.position += n;
      const text = this.rest + this.decoder.write(this.chunk.subarray(0, n));
      const parts = text.split('\n');
      this.rest = parts.pop() ?? '';
      for (const p of parts) if (p.length > 0) this.lines.push(p);
    }
  }

  /** The next `size` records as one NDJSON body. */
  next(size: number): Buffer {
    const out: string[] = [];
    while (out.length < size) {
      if (this.lines.length === 0) {
        this.fill(size - out.length);
        if (this.lines.length === 0) {
          if (this.position === 0) throw new Error('the events file is empty');
          this.position = 0;
          this.eof = false;
          this.pass++;
          continue;
        }
      }
      const take = this.lines.splice(0, size - out.length);
      // The event id decides deduplication: the same record sent twice would be stored once.
      const prefix = `${this.idPrefix}p${this.pass}-`;
      for (const line of take) out.push(line.replace('"eventID":"', `"eventID":"${prefix}`));
    }
    return Buffer.from(out.join('\n') + '\n');
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface Answer {
  status: number | 'error';
  ms: number;
  events: number;
  body: string;
  at: number;
}

function post(agent: Agent, url: URL, token: string, body: Buffer, events: number, due: number): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', 'content-length': body.length } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const at = performance.now();
          resolve({ status: res.statusCode ?? 0, ms: at - due, events, body: Buffer.concat(parts).toString('utf8'), at });
        });
        res.on('error', () => {
          const at = performance.now();
          resolve({ status: 'error', ms: at - due, events, body: '', at });
        });
      },
    );
    req.on('error', () => {
      const at = performance.now();
      resolve({ status: 'error', ms: at - due, events, body: '', at });
    });
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Polls /metrics until the spool is empty: the seconds that took, or null after `limitMs`. */
export async function waitSpoolEmpty(metricsUrl: string, limitMs: number, stopped: () => boolean = () => false): Promise<number | null> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs && !stopped()) {
    const m = await fetchOpsMetrics(metricsUrl).catch(() => null);
    if (m && m.spoolFiles === 0) return Math.round(performance.now() - t0) / 1000;
    await sleep(100);
  }
  return null;
}

export interface StepOptions {
  url: URL;
  token: string;
  source: BatchSource;
  agent: Agent;
  rate: number;
  batch: number;
  seconds: number;
  p99Ms: number;
  drainMs: number;
  /** A request still unanswered after this long ends the step: the server is far behind. */
  giveUpMs: number;
  stopped: () => boolean;
  /** Requests still unanswered when the step's result is made are added here, to be awaited before the totals. */
  late?: { add(p: Promise<Answer>): unknown };
  /** 200 (default) or 202. */
  ackStatus?: number;
  /** serve's /metrics, to sample the spool backlog every `sampleMs` (500). */
  metricsUrl?: string;
  sampleMs?: number;
  /** See `summarizeBacklog`; default 5. */
  maxBacklogSeconds?: number;
}

/** Samples the spool backlog until stopped; a failed scrape is skipped (the step's figures say how many samples there were). */
function sampleBacklog(url: string, t0: number, everyMs: number): { stop(): Promise<BacklogSample[]> } {
  const samples: BacklogSample[] = [];
  let inFlight: Promise<void> = Promise.resolve();
  const take = () =>
    fetchOpsMetrics(url).then(
      (m) => void samples.push({ atMs: Math.round(performance.now() - t0), files: m.spoolFiles, bytes: m.spoolBytes }),
      () => undefined,
    );
  const timer = setInterval(() => {
    inFlight = inFlight.then(take);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      await take();
      return samples;
    },
  };
}

/** One open-loop step: a batch is due every batch/rate seconds, whatever the answers do. */
export async function runStep(o: StepOptions): Promise<StepResult> {
  const intervalMs = (1000 * o.batch) / o.rate;
  const ackStatus = o.ackStatus ?? 200;
  const insertedAtStart = o.metricsUrl ? await fetchOpsMetrics(o.metricsUrl).then((m) => m.httpInserted, () => null) : null;
  const startedAt = Date.now();
  const t0 = performance.now();
  const sampler = o.metricsUrl ? sampleBacklog(o.metricsUrl, t0, o.sampleMs ?? 500) : null;
  const end = t0 + o.seconds * 1000;
  const pending = new Map<number, { due: number; promise: Promise<Answer> }>();
  const answers: Answer[] = [];
  let endedEarly: string | null = null;
  let sent = 0;
  let sentEvents = 0;
  let k = 0;
  while (endedEarly === null) {
    const due = t0 + k * intervalMs;
    if (due >= end) break;
    if (o.stopped()) {
      endedEarly = 'stopped (SIGTERM)';
      break;
    }
    const now = performance.now();
    if (due > now) {
      await sleep(due - now);
      continue;
    }
    let oldest = Infinity;
    for (const p of pending.values()) oldest = Math.min(oldest, p.due);
    if (now - oldest > o.giveUpMs) {
      endedEarly = `a request was unanswered after ${o.giveUpMs} ms`;
      break;
    }
    const body = o.source.next(o.batch);
    const id = k;
    const promise = post(o.agent, o.url, o.token, body, o.batch, due).then((a) => {
      pending.delete(id);
      answers.push(a);
      return a;
    });
    pending.set(id, { due, promise });
    sent++;
    sentEvents += o.batch;
    k++;
  }
  const stepEnd = performance.now();
  const drained = Promise.all([...pending.values()].map((p) => p.promise));
  await Promise.race([drained, sleep(o.drainMs)]);
  const unanswered = pending.size;
  for (const p of pending.values()) o.late?.add(p.promise);
  const last = answers.reduce((m, a) => Math.max(m, a.at), stepEnd);
  const elapsed = (stepEnd - t0) / 1000;
  const samples = sampler ? await sampler.stop() : null;

  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[String(a.status)] = (statuses[String(a.status)] ?? 0) + 1;
  if (unanswered > 0) statuses.unanswered = unanswered;
  const acked = answers.filter((a) => a.status === ackStatus);
  let inserted = 0;
  let duplicates = 0;
  let quarantined = 0;
  for (const a of acked) {
    // A 202 says only that the body is in the spool: nothing to count yet.
    if (a.status !== 200) continue;
    const r = JSON.parse(a.body) as { inserted: number; duplicates: number; quarantined: Record<string, number> };
    inserted += r.inserted;
    duplicates += r.duplicates;
    quarantined += Object.values(r.quarantined).reduce((s, n) => s + n, 0);
  }
  const ackedEvents = acked.reduce((s, a) => s + a.events, 0);
  const ackWindow = Math.max(endedEarly === null ? o.seconds : elapsed, (last - t0) / 1000);
  const ackedEventsPerSecond = ackedEvents / ackWindow;
  const latencyMs = summarize(acked.map((a) => a.ms));
  // Kept up: everything sent was acknowledged, and at (nearly) the offered rate; the 5% allows
  // for the last answers arriving after the step's end.
  const acksKeepUp = endedEarly === null && acked.length === sent && ackedEventsPerSecond >= 0.95 * o.rate;
  const backlog = samples && samples.length > 0 ? summarizeBacklog(samples, { stepMs: o.seconds * 1000, batch: o.batch, rate: o.rate, maxBacklogSeconds: o.maxBacklogSeconds ?? 5 }) : null;
  const keepsUp = acksKeepUp && (backlog === null || backlog.storeKeepsUp);
  return {
    offeredEventsPerSecond: o.rate,
    sentEventsPerSecond: Math.round(sentEvents / (endedEarly === null ? o.seconds : Math.max(elapsed, 1e-3))),
    ackedEventsPerSecond: Math.round(ackedEventsPerSecond),
    requests: sent,
    events: sentEvents,
    ackedRequests: acked.length,
    ackedEvents,
    inserted,
    duplicates,
    quarantined,
    statuses,
    ackStatus,
    latencyMs,
    latencyAllMs: summarize(answers.map((a) => a.ms)),
    seconds: Math.round(elapsed * 1000) / 1000,
    drainSeconds: Math.round(((last - stepEnd) / 1000) * 1000) / 1000,
    endedEarly,
    acksKeepUp,
    backlog,
    spoolDrainSeconds: null,
    storedEventsPerSecond: null,
    insertedAtStart,
    keepsUp,
    passed: keepsUp && latencyMs.count > 0 && latencyMs.p99 < o.p99Ms,
    startedAt,
    endedAt: startedAt + Math.round(last - t0),
  };
}

/**
 * The next rate to try, or null when the search is done. Doubles until a step falls behind, then
 * narrows the bracket of the rate the server keeps up with to 30%, then the bracket of the rate
 * that also meets the p99 limit to 15%, then the first one to 15%. When no step meets the limit,
 * it halves the lowest rate (down to `minRate`) to show whether latency falls with the load.
 */
export function nextRate(steps: readonly Pick<StepResult, 'offeredEventsPerSecond' | 'keepsUp' | 'passed'>[], minRate: number): number | null {
  if (steps.length === 0) return null;
  const tried = new Set(steps.map((s) => s.offeredEventsPerSecond));
  const bracket = (ok: (s: Pick<StepResult, 'keepsUp' | 'passed'>) => boolean) => {
    const good = steps.filter(ok).map((s) => s.offeredEventsPerSecond);
    const lo = good.length > 0 ? Math.max(...good) : undefined;
    const bad = steps.filter((s) => !ok(s) && (lo === undefined || s.offeredEventsPerSecond > lo)).map((s) => s.offeredEventsPerSecond);
    return { lo, hi: bad.length > 0 ? Math.min(...bad) : undefined };
  };
  const untried = (r: number) => (tried.has(r) ? null : r);
  const k = bracket((s) => s.keepsUp);
  const p = bracket((s) => s.passed);
  const mid = (b: { lo?: number; hi?: number }) => Math.round(((b.lo as number) + (b.hi as number)) / 2);
  if (k.hi === undefined) return k.lo === undefined ? null : untried(k.lo * 2);
  if (k.lo === undefined) {
    const lower = Math.round(k.hi / 2);
    return lower < minRate ? null : untried(lower);
  }
  if (k.hi / k.lo > 1.3) return untried(mid(k));
  if (p.lo !== undefined && p.hi !== undefined && p.hi / p.lo > 1.15) return untried(mid(p));
  if (p.lo === undefined) {
    const lower = Math.round(Math.min(...tried) / 2);
    if (lower >= minRate) return untried(lower);
  }
  if (k.hi / k.lo > 1.15) return untried(mid(k));
  return null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      file: { type: 'string' },
      format: { type: 'string', default: 'aws-cloudtrail' },
      batch: { type: 'string', default: '200' },
      connections: { type: 'string', default: '4' },
      rates: { type: 'string' },
      search: { type: 'boolean', default: false },
      start: { type: 'string', default: '1000' },
      'min-rate': { type: 'string', default: '100' },
      'max-steps': { type: 'string', default: '5' },
      'step-seconds': { type: 'string', default: '10' },
      'p99-ms': { type: 'string', default: '200' },
      'drain-ms': { type: 'string', default: '15000' },
      'give-up-ms': { type: 'string', default: '5000' },
      'pause-ms': { type: 'string', default: '1000' },
      'id-prefix': { type: 'string', default: 'b' },
      ack: { type: 'string', default: 'stored' },
      'metrics-url': { type: 'string' },
      'max-backlog-seconds': { type: 'string', default: '5' },
      'spool-drain-ms': { type: 'string', default: '60000' },
    },
    strict: true,
  });
  const token = process.env.KEYWATCH_BENCH_TOKEN;
  if (!token) throw new Error('KEYWATCH_BENCH_TOKEN is not set');
  if (!values.url || !values.file) throw new Error('--url and --file are required');
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${v}`);
    return n;
  };
  const batch = Math.round(num('batch', values.batch));
  const connections = Math.round(num('connections', values.connections));
  const stepSeconds = num('step-seconds', values['step-seconds']);
  const p99Ms = num('p99-ms', values['p99-ms']);
  const maxSteps = Math.round(num('max-steps', values['max-steps']));
  const fixed = values.rates?.split(',').map((r) => num('rates', r));
  if (!fixed && !values.search) throw new Error('give --rates R1,R2,... or --search');
  if (values.ack !== 'stored' && values.ack !== 'spooled') throw new Error(`--ack must be stored or spooled, got ${values.ack}`);
  const ackStatus = values.ack === 'spooled' ? 202 : 200;
  const metricsUrl = values['metrics-url'];
  const maxBacklogSeconds = num('max-backlog-seconds', values['max-backlog-seconds']);
  const spoolDrainMs = num('spool-drain-ms', values['spool-drain-ms']);

  let stopped = false;
  process.on('SIGTERM', () => (stopped = true));
  process.on('SIGINT', () => (stopped = true));

  const url = new URL(`/v1/ingest/${values.format}`, values.url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const source = new BatchSource(values.file, values['id-prefix'] as string);
  const steps: StepResult[] = [];
  const late = new Set<Promise<Answer>>();
  // The late requests not answered yet.
  const open = new Set<Promise<Answer>>();
  const lateSink = {
    add(p: Promise<Answer>) {
      late.add(p);
      open.add(p);
      void p.then(() => open.delete(p));
      return lateSink;
    },
  };
  const start = num('start', values.start);
  const minRate = num('min-rate', values['min-rate']);
  try {
    while (!stopped && steps.length < (fixed ? fixed.length : maxSteps)) {
      const rateToRun = fixed ? fixed[steps.length] : steps.length === 0 ? start : nextRate(steps, minRate);
      if (rateToRun === undefined || rateToRun === null) break;
      // Each step starts on a server with nothing of the last one still queued, or its figures
      // would be the last step's backlog.
      if (open.size > 0) {
        process.stderr.write(`load: waiting up to 60 s for ${open.size} requests of the last step\n`);
        await Promise.race([Promise.all(open), sleep(60_000)]);
        if (open.size > 0) {
          process.stderr.write(`load: ${open.size} requests are still unanswered after 60 s; ending the search\n`);
          break;
        }
      }
      process.stderr.write(`load: step ${steps.length + 1}: ${rateToRun} events/s for ${stepSeconds} s\n`);
      const step = await runStep({
        url,
        token,
        source,
        agent,
        rate: rateToRun,
        batch,
        seconds: stepSeconds,
        p99Ms,
        drainMs: num('drain-ms', values['drain-ms']),
        giveUpMs: num('give-up-ms', values['give-up-ms']),
        stopped: () => stopped,
        late: lateSink,
        ackStatus,
        metricsUrl,
        maxBacklogSeconds,
      });
      steps.push(step);
      // The next step starts on an empty spool, or it would store this step's backlog.
      if (metricsUrl && !stopped) {
        const drained = await waitSpoolEmpty(metricsUrl, spoolDrainMs, () => stopped);
        step.spoolDrainSeconds = drained;
        const now = await fetchOpsMetrics(metricsUrl).catch(() => null);
        if (drained !== null && now && step.insertedAtStart !== null) step.storedEventsPerSecond = Math.round((now.httpInserted - step.insertedAtStart) / ((Date.now() - step.startedAt) / 1000));
        if (drained === null) {
          process.stderr.write(`${JSON.stringify(step)}\n`);
          process.stderr.write(`load: the spool was not empty ${spoolDrainMs / 1000} s after the step; ending the search\n`);
          break;
        }
      }
      process.stderr.write(`${JSON.stringify(step)}\n`);
      if (!stopped) await sleep(num('pause-ms', values['pause-ms']));
    }
    if (late.size > 0) {
      process.stderr.write(`load: waiting up to 60 s for ${late.size} requests answered after their step\n`);
      await Promise.race([Promise.all(late), sleep(60_000)]);
    }
  } finally {
    agent.destroy();
    source.close();
  }
  const passed = steps.filter((s) => s.passed).map((s) => s.offeredEventsPerSecond);
  const sum = (f: (s: StepResult) => number) => steps.reduce((a, s) => a + f(s), 0);
  // Settled by now, or cut off by the agent's destruction (then they count as not acknowledged).
  const lateAnswers = (await Promise.all([...late].map((p) => Promise.race([p, Promise.resolve(null)])))).filter((a): a is Answer => a !== null && a.status === ackStatus);
  const lateBodies = lateAnswers.filter((a) => a.status === 200).map((a) => JSON.parse(a.body) as { inserted: number; duplicates: number; quarantined: Record<string, number> });
  const result: LoadResult = {
    batchEvents: batch,
    connections,
    stepSeconds,
    p99LimitMs: p99Ms,
    ackStatus,
    steps,
    sustainedEventsPerSecond: passed.length > 0 ? Math.max(...passed) : null,
    totals: {
      requests: sum((s) => s.requests),
      ackedRequests: sum((s) => s.ackedRequests) + lateAnswers.length,
      ackedEvents: sum((s) => s.ackedEvents) + lateAnswers.reduce((a, x) => a + x.events, 0),
      inserted: sum((s) => s.inserted) + lateBodies.reduce((a, b) => a + b.inserted, 0),
      duplicates: sum((s) => s.duplicates) + lateBodies.reduce((a, b) => a + b.duplicates, 0),
      quarantined: sum((s) => s.quarantined) + lateBodies.reduce((a, b) => a + Object.values(b.quarantined).reduce((x, n) => x + n, 0), 0),
      lateAckedRequests: lateAnswers.length,
      notAcknowledged: sum((s) => s.requests) - sum((s) => s.ackedRequests) - lateAnswers.length,
    },
    interrupted: stopped,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (isMain(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`load: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
