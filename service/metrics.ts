import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DetectorRun, AlertRow } from '../detectors/engine.ts';
import type { DeliverySummary } from '../detectors/outputs/deliver.ts';
import type { HttpCollectorStats } from '../ingest/transports/http.ts';
import type { KafkaTotals, PartitionLag } from '../ingest/transports/kafka.ts';

/**
 * The service's Prometheus metrics (README, "Operating keywatch serve"). The one file that imports
 * prom-client. Intake totals are read from the collectors' own counters when scraped (`syncHttp`,
 * `syncKafka`), so the collectors stay free of metrics code; everything else is observed as it happens.
 *
 * @example const m = createMetrics(); m.observeStore('query', 0.004, true); res.end(await m.render());
 */
export interface ServiceMetrics {
  readonly contentType: string;
  render(): Promise<string>;
  syncHttp(stats: HttpCollectorStats): void;
  syncKafka(totals: KafkaTotals): void;
  setLag(lag: readonly PartitionLag[]): void;
  observeStore(operation: string, seconds: number, ok: boolean): void;
  observeDetect(runs: readonly DetectorRun[], alerts: readonly Pick<AlertRow, 'severity' | 'detector' | 'status'>[], seconds: number): void;
  observeDelivery(summary: DeliverySummary): void;
  observeProbe(records: readonly { operation: string; outcome: string; latency_ms: number }[]): void;
  observeJob(job: string, ok: boolean, seconds: number, at: Date): void;
  setComponentReady(component: string, ready: boolean): void;
  /** Hook for the on-disk spool of the HTTP collector: bytes and files waiting to be replayed. */
  setSpool(s: { bytes: number; files: number }): void;
}


export function createMetrics(o: { processMetrics?: boolean } = {}): ServiceMetrics {
  const registry = new Registry();
  if (o.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'keywatch_' });
  const c = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers: [registry] });
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers: [registry] });

  const received = c('keywatch_events_received_total', 'Records read from a transport (before normalization).', ['transport']);
  const normalized = c('keywatch_events_normalized_total', 'Records that became key events.', ['transport']);
  const inserted = c('keywatch_events_inserted_total', 'Key events newly stored (duplicates excluded).', ['transport']);
  const duplicates = c('keywatch_events_duplicate_total', 'Key events already in the store.', ['transport']);
  const dropped = c('keywatch_events_dropped_total', 'Records dropped on purpose (not key events), by reason.', ['transport', 'reason']);
  const quarantined = c('keywatch_events_quarantined_total', 'Records quarantined (malformed or unknown), by reason.', ['transport', 'reason']);
  const httpRequests = c('keywatch_http_requests_total', 'HTTP collector requests by status code.', ['status']);
  const httpWaiting = g('keywatch_http_requests_waiting', 'HTTP collector requests admitted and waiting for the store.', []);
  const kafkaBatches = c('keywatch_kafka_batches_total', 'Kafka batches stored and committed.', []);
  const deadLettered = c('keywatch_kafka_dead_lettered_total', 'Kafka records copied to the dead-letter topic.', []);
  const storeRetries = c('keywatch_kafka_store_retries_total', 'Failed store attempts of Kafka batches that were retried.', []);
  const rebalances = c('keywatch_kafka_group_joins_total', 'Times the consumer joined its group.', []);
  const lag = g('keywatch_consumer_lag', 'Messages not yet committed, per topic partition.', ['topic', 'partition']);
  const storeSeconds = new Histogram({
    name: 'keywatch_store_operation_seconds',
    help: 'Store call latency by operation and result.',
    labelNames: ['operation', 'result'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const detectorSeconds = new Histogram({
    name: 'keywatch_detector_run_seconds',
    help: 'Run time of each detector in a detection pass.',
    labelNames: ['detector'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const passSeconds = new Histogram({
    name: 'keywatch_detect_pass_seconds',
    help: 'Run time of a whole detection pass (all detectors).',
    labelNames: [],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const alerts = c('keywatch_alerts_emitted_total', 'Alerts written by detection passes (new or updated), by severity, detector and status (open or suppressed).', ['severity', 'detector', 'status']);
  const deliveries = c('keywatch_alert_deliveries_total', 'Alert sends by destination and result (delivered, failed: will retry, dead: given up).', ['destination', 'result']);
  const outboxPending = g('keywatch_alert_outbox_pending', 'Alert sends waiting in the outbox, per destination, after the last delivery pass.', ['destination']);
  const probes = c('keywatch_probe_calls_total', 'Synthetic HSM probe calls by operation and outcome.', ['operation', 'outcome']);
  const probeSeconds = new Histogram({
    name: 'keywatch_probe_latency_seconds',
    help: 'Latency of synthetic HSM probe calls.',
    labelNames: ['operation'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const jobs = c('keywatch_job_runs_total', 'Scheduled or triggered jobs by job and result.', ['job', 'result']);
  const jobSeconds = new Histogram({ name: 'keywatch_job_seconds', help: 'Run time of jobs.', labelNames: ['job'], buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300], registers: [registry] });
  const jobLastSuccess = g('keywatch_job_last_success_timestamp_seconds', 'When each job last succeeded (Unix time).', ['job']);
  const ready = g('keywatch_component_ready', '1 when the component is ready (see /readyz).', ['component']);
  const spoolBytes = g('keywatch_spool_bytes', 'Bytes in the HTTP collector spool waiting to be stored.', []);
  const spoolFiles = g('keywatch_spool_files', 'Files in the HTTP collector spool waiting to be stored.', []);

  // Counters only go up: the collectors' totals are turned into increments since the last scrape.
  const last = new Map<string, number>();
  const advance = (counter: Counter<string>, labels: Record<string, string>, total: number) => {
    const key = `${(counter as unknown as { name: string }).name}${JSON.stringify(labels)}`;
    const d = total - (last.get(key) ?? 0);
    if (d > 0) counter.inc(labels, d);
    last.set(key, Math.max(total, last.get(key) ?? 0));
  };
  const advanceReasons = (counter: Counter<string>, transport: string, byReason: Record<string, number>) => {
    for (const [reason, n] of Object.entries(byReason)) advance(counter, { transport, reason }, n);
  };

  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    syncHttp(s) {
      const transport = 'http';
      advance(received, { transport }, s.read);
      advance(normalized, { transport }, s.normalized);
      advance(inserted, { transport }, s.inserted);
      advance(duplicates, { transport }, s.duplicates);
      advanceReasons(dropped, transport, s.dropped);
      advanceReasons(quarantined, transport, s.quarantined);
      for (const [status, n] of Object.entries(s.byStatus)) advance(httpRequests, { status }, n);
      httpWaiting.set(s.waiting);
    },
    syncKafka(t) {
      const transport = 'kafka';
      advance(received, { transport }, t.records);
      // Kafka totals have no separate normalized count: every stored or duplicate record was normalized.
      advance(normalized, { transport }, t.inserted + t.duplicates);
      advance(inserted, { transport }, t.inserted);
      advance(duplicates, { transport }, t.duplicates);
      advanceReasons(dropped, transport, t.dropped);
      advanceReasons(quarantined, transport, t.quarantined);
      advance(kafkaBatches, {}, t.batches);
      advance(deadLettered, {}, t.deadLettered);
      advance(storeRetries, {}, t.storeRetries);
      advance(rebalances, {}, t.groupJoins);
    },
    setLag(rows) {
      lag.reset();
      for (const p of rows) lag.set({ topic: p.topic, partition: String(p.partition) }, p.lag);
    },
    observeStore(operation, seconds, ok) {
      storeSeconds.observe({ operation, result: ok ? 'ok' : 'error' }, seconds);
    },
    observeDetect(runs, emitted, seconds) {
      for (const r of runs) if (r.status === 'ran') detectorSeconds.observe({ detector: r.detector }, r.seconds);
      passSeconds.observe(seconds);
      for (const a of emitted) alerts.inc({ severity: a.severity, detector: a.detector, status: a.status });
    },
    observeDelivery(summary) {
      for (const [destination, d] of Object.entries(summary.byDestination)) {
        if (d.delivered) deliveries.inc({ destination, result: 'delivered' }, d.delivered);
        if (d.failed) deliveries.inc({ destination, result: 'failed' }, d.failed);
        if (d.dead) deliveries.inc({ destination, result: 'dead' }, d.dead);
        outboxPending.set({ destination }, d.pending);
      }
    },
    observeProbe(records) {
      for (const r of records) {
        probes.inc({ operation: r.operation, outcome: r.outcome });
        probeSeconds.observe({ operation: r.operation }, r.latency_ms / 1000);
      }
    },
    observeJob(job, ok, seconds, at) {
      jobs.inc({ job, result: ok ? 'ok' : 'error' });
      jobSeconds.observe({ job }, seconds);
      if (ok) jobLastSuccess.set({ job }, at.getTime() / 1000);
    },
    setComponentReady(component, isReady) {
      ready.set({ component }, isReady ? 1 : 0);
    },
    setSpool(s) {
      spoolBytes.set(s.bytes);
      spoolFiles.set(s.files);
    },
  };
}

