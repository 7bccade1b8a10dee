import { join } from 'node:path';
import { pinSource, slotSelector } from '../attestation/pkcs11/cli-options.ts';
import { readPin } from '../attestation/pkcs11/pin.ts';
import type { SlotSelector } from '../attestation/pkcs11/session.ts';
import { ingestProbeRecords } from '../attestation/probe/ingest.ts';
import { probeRound } from '../attestation/probe/round.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { KeywatchError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { every, type Schedule } from '../core/schedule.ts';
import { runDetectors } from '../detectors/engine.ts';
import { SIGNATURE_DETECTORS } from '../detectors/registry.ts';
import { closeDestinations, deliverPending, destinationsFromConfig, enqueueAndDeliver } from '../detectors/outputs/deliver.ts';
import type { Destination } from '../detectors/outputs/outbox.ts';
import { openSpool, spoolDir, type Spool } from '../ingest/spool.ts';
import { SPOOL_DRAIN_ON_STOP_MS, startSpoolReplayer, withReplayed, type SpoolReplayer } from '../ingest/spool-replayer.ts';
import { httpTokens } from '../ingest/transports/http-auth.ts';
import { isLoopback, parseListen, startHttpCollector, type HttpCollector } from '../ingest/transports/http.ts';
import { startKafkaConsumers, type KafkaConsumers } from '../ingest/transports/kafka.ts';
import { previousQuarter, writeReport } from '../reports/write.ts';
import { evaluateSlos } from '../slo/engine.ts';
import { EXAMPLES_DIR, loadSpecs, type SloSpec } from '../slo/spec.ts';
import { loadWindowTables } from '../slo/windows.ts';
import { listApplied, loadMigrations } from '../storage/migrate.ts';
import { openStore } from '../storage/open.ts';
import { localApiPaths } from '../storage/remote-store.ts';
import type { Store } from '../storage/store.ts';
import { instrumentStore } from './instrumented-store.ts';
import { startLocalApi, type LocalApi } from './local-api.ts';
import { createMetrics, type ServiceMetrics } from './metrics.ts';
import { startOpsServer, type OpsServer, type Readiness } from './ops-server.ts';

/**
 * `keywatch serve`: one process that takes events in (HTTP collector, Kafka consumers), runs the
 * detectors shortly after new events land and on a schedule, delivers alerts, evaluates SLOs,
 * probes HSMs and writes the quarterly report, and answers /healthz, /readyz and /metrics.
 *
 * @example
 *   const svc = await startService({ config, clock: systemClock, logger });
 *   await svc.stopped; // or: await svc.stop('SIGTERM')
 */
export interface ServiceOptions {
  config: Config;
  clock: Clock;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Tests and the demo: metrics without the process collectors. */
  processMetrics?: boolean;
}

export interface RunningService {
  /** Addresses actually bound: the ops endpoints, the HTTP collector (when started), the local API socket (when offered). */
  addresses: { ops: string; http?: string; localApi?: string };
  metrics: ServiceMetrics;
  readiness(): Promise<Readiness>;
  /** Runs the detectors (and delivery) now, or right after the run in progress. */
  detectNow(reason: string): Promise<void>;
  /** Graceful stop: intake first (in-flight requests answered, Kafka offsets committed), then jobs, then the store. */
  stop(reason: string): Promise<void>;
  /** Rejects when a component fails in a way the service cannot recover from (the Kafka consumers gave up). */
  failed: Promise<never>;
}

const STORE_PING_TIMEOUT_MS = 5_000;
/** A store call that succeeded this recently proves the store reachable without a ping. */
const STORE_RECENT_MS = 5_000;
const LAG_CACHE_MS = 5_000;

/** Runs `fn` with a time limit; the timer does not hold the process. */
async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The configured SLO specs, else the shipped examples. */
function configuredSpecs(config: Config): SloSpec[] {
  return loadSpecs(config.slo.specs.length > 0 ? config.slo.specs : [EXAMPLES_DIR]);
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  const { config, clock, logger } = o;
  const env = o.env ?? process.env;
  const svc = config.service;
  const metrics = createMetrics({ processMetrics: o.processMetrics !== false });
  const cleanups: { name: string; fn: () => Promise<void> }[] = [];
  let spool: Spool | undefined;
  let replayer: SpoolReplayer | undefined;
  let failFatally: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (failFatally = reject));
  failed.catch(() => undefined);

  // Checked before anything starts, so a bad setting fails the start, not the first run.
  const probe = svc.schedules.probe;
  let probeTarget: { slot: SlotSelector; pin: string } | undefined;
  if (probe) {
    const flags = { module: probe.module, ...(probe.slot !== undefined ? { slot: String(probe.slot) } : {}), ...(probe.slotId ? { slotId: probe.slotId } : {}), ...(probe.token ? { token: probe.token } : {}), ...(probe.pinEnv ? { pinEnv: probe.pinEnv } : {}), ...(probe.pinFile ? { pinFile: probe.pinFile } : {}) };
    const pin = readPin(pinSource(flags), env);
    if (!pin.ok) throw new KeywatchError('CONFIG_INVALID', `service.schedules.probe: ${pin.error}`);
    probeTarget = { slot: slotSelector(flags), pin: pin.value };
  }
  const specs = svc.schedules.slo === false ? [] : configuredSpecs(config);
  const windowTables = svc.schedules.slo === false ? undefined : loadWindowTables();
  const tokens = httpTokens(config, env);
  const httpListen = parseListen(config.http.listen);
  const collectorWanted =
    svc.collector.enabled === true || (svc.collector.enabled === 'auto' && (tokens.length > 0 || (svc.collector.insecureNoAuth && isLoopback(httpListen.host))));
  const opsListen = parseListen(svc.ops.listen);

  // Component state, read by /readyz.
  let store: Store | undefined;
  let storeError: string | undefined = 'opening';
  let collector: HttpCollector | undefined;
  let consumers: KafkaConsumers | undefined;
  let localApi: LocalApi | undefined;
  let stopping = false;
  const expectedMigrations = loadMigrations().length;
  let migrationsApplied: number | undefined;
  let lastStoreSuccess = 0;
  const migrationsCheck = (n: number) => (n >= expectedMigrations ? { ready: true } : { ready: false, reason: `${n} of ${expectedMigrations} migrations applied` });

  const readiness = async (): Promise<Readiness> => {
    const checks: Readiness['checks'] = {};
    if (!store) checks.store = { ready: false, reason: storeError ?? 'not open' };
    else if (migrationsApplied !== undefined && Date.now() - lastStoreSuccess < STORE_RECENT_MS) {
      // A store that answered a moment ago is up; a ping now could only queue behind a long detector query.
      checks.store = { ready: true };
      checks.migrations = migrationsCheck(migrationsApplied);
    } else {
      try {
        const s = store;
        const applied = await within(STORE_PING_TIMEOUT_MS, 'the store ping', () => listApplied(s));
        migrationsApplied = applied.length;
        checks.store = { ready: true };
        checks.migrations = migrationsCheck(applied.length);
      } catch (e) {
        checks.store = { ready: false, reason: (e as Error).message };
      }
    }
    if (collectorWanted) checks.http = collector ? { ready: true } : { ready: false, reason: 'the HTTP collector is not listening' };
    if (config.kafka.topics.length > 0) {
      const joins = consumers?.totals().groupJoins ?? 0;
      checks.kafka = joins > 0 ? { ready: true } : { ready: false, reason: `consumer group ${config.kafka.groupId} has no partitions assigned yet` };
    }
    if (stopping) checks.service = { ready: false, reason: 'shutting down' };
    const ready = Object.values(checks).every((c) => c.ready);
    for (const [name, c] of Object.entries(checks)) metrics.setComponentReady(name, c.ready);
    return { ready, checks };
  };

  let lagAt = 0;
  const beforeScrape = async () => {
    if (collector) {
      // Records the replayer stored (spooled bodies) count as HTTP intake too.
      metrics.syncHttp(replayer ? withReplayed(collector.stats(), replayer.stats()) : collector.stats());
    }
    if (spool) {
      const st = spool.stats();
      metrics.setSpool({ bytes: st.bytes, files: st.entries });
    }
    if (consumers) {
      metrics.syncKafka(consumers.totals());
      if (Date.now() - lagAt > LAG_CACHE_MS) {
        lagAt = Date.now();
        const c = consumers;
        await within(STORE_PING_TIMEOUT_MS, 'reading the consumer lag', () => c.lag()).then(
          (lag) => metrics.setLag(lag),
          (e: unknown) => logger.warn({ err: (e as Error).message }, 'could not read the consumer lag'),
        );
      }
    }
  };

  // The ops endpoints come first, so an orchestrator sees the process live (and not ready) at once.
  const ops: OpsServer = await startOpsServer({ host: opsListen.host, port: opsListen.port, metrics, readiness, beforeScrape });
  cleanups.push({ name: 'ops server', fn: () => ops.close() });
  logger.info({ address: ops.address }, 'ops endpoints listening (/healthz, /readyz, /metrics)');

  const shutdownAll = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c.fn();
      } catch (e) {
        logger.error({ component: c.name, err: (e as Error).message }, 'stopping a component failed');
      }
    }
  };

  let destinations: Destination[] = [];
  const schedules: Schedule[] = [];
  let pollTimer: NodeJS.Timeout | undefined;
  try {
    const opened = await openStore(config);
    cleanups.push({ name: 'store', fn: () => opened.close() });
    store = instrumentStore(opened, (op, seconds, ok) => {
      metrics.observeStore(op, seconds, ok);
      if (ok) lastStoreSuccess = Date.now();
    });
    storeError = undefined;
    const s = store;
    const info = await s.info();
    logger.info({ backend: info.backend, location: info.location, version: info.serverVersion }, 'store open, migrations applied');

    destinations = destinationsFromConfig(config, { env, clock, logger });
    cleanups.push({ name: 'alert destinations', fn: () => closeDestinations(destinations, logger) });

    if (s.backend === 'embedded' && svc.localApi.enabled) {
      const paths = localApiPaths(config.dataDir);
      localApi = await startLocalApi({ store: s, paths, logger });
      const api = localApi;
      cleanups.push({ name: 'local API', fn: () => api.close() });
    }

    // ---- Intake ------------------------------------------------------------------------------
    // HTTP bodies the store cannot take now (or all of them, with http.acknowledge: spooled) wait
    // fsync'd in the spool; the replayer stores them in order. Stopping closes the collector first
    // (reverse order), then gives the replayer a few seconds to drain; the rest waits on disk.
    if (collectorWanted) {
      const sp = openSpool({ dir: spoolDir(config), maxBytes: config.spool.maxBytes, clock, logger });
      spool = sp;
      const r = startSpoolReplayer({ spool: sp, store: s, config, clock, logger });
      replayer = r;
      cleanups.push({
        name: 'spool replayer',
        fn: () => r.stop({ drainMs: SPOOL_DRAIN_ON_STOP_MS }),
      });
      collector = await startHttpCollector({ store: s, config, clock, logger, host: httpListen.host, port: httpListen.port, insecureNoAuth: svc.collector.insecureNoAuth, env, spool: sp });
      const c = collector;
      cleanups.push({ name: 'HTTP collector', fn: async () => void (await c.close()) });
      logger.info({ address: c.address, auth: tokens.length > 0 ? 'tokens' : 'none (loopback)' }, 'HTTP collector listening');
    } else {
      logger.info({ enabled: svc.collector.enabled }, 'HTTP collector not started: no tokens configured (http.tokens or KEYWATCH_HTTP_TOKEN_<TENANT>)');
    }
    if (config.kafka.topics.length > 0) {
      consumers = await startKafkaConsumers({ store: s, config, clock, logger });
      const k = consumers;
      cleanups.push({ name: 'Kafka consumers', fn: () => k.stop() });
      k.done.catch((e: unknown) => {
        if (stopping) return;
        logger.error({ err: (e as Error).message }, 'the Kafka consumers stopped on an error');
        failFatally(e instanceof Error ? e : new Error(String(e)));
      });
    }

    // ---- Jobs --------------------------------------------------------------------------------
    // Jobs that write alerts or send them share one lane: two delivery passes at once could send
    // an outbox entry twice, and two detector runs would race on the watermarks.
    let lane: Promise<unknown> = Promise.resolve();
    const inLane = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = lane.catch(() => undefined).then(fn);
      lane = run;
      return run;
    };
    const job = async (name: string, fn: () => Promise<void>) => {
      const t0 = performance.now();
      try {
        await fn();
        metrics.observeJob(name, true, (performance.now() - t0) / 1000, clock.now());
      } catch (e) {
        metrics.observeJob(name, false, (performance.now() - t0) / 1000, clock.now());
        logger.error({ job: name, err: (e as Error).message }, 'job failed');
        throw e;
      }
    };

    const detectAndDeliver = (only?: readonly string[]) =>
      job('detect', async () => {
        // No wait for writes in flight: the engine's watermarks stop at the newest visible
        // ingest_time, so a batch being written now is examined by the next run.
        const now = clock.now();
        const t0 = performance.now();
        const result = await runDetectors({ store: s, now, config: config.detect, tenantAccounts: Object.keys(config.tenants), ...(only ? { only } : {}) });
        metrics.observeDetect(result.runs, result.alerts, (performance.now() - t0) / 1000);
        const open = result.alerts.filter((a) => a.status === 'open');
        logger.info({ alerts: open.length, suppressed: result.alerts.length - open.length, seconds: Number(((performance.now() - t0) / 1000).toFixed(3)) }, 'detectors ran');
        if (destinations.length > 0) {
          const sent = await enqueueAndDeliver({ store: s, destinations, clock, lookbackHours: config.alerts.enqueueLookbackHours, deliver: true, maxWaitMs: 0, logger });
          if (sent.delivery) metrics.observeDelivery(sent.delivery);
        }
      });

    // Requests made while a run is going collapse into one follow-up run.
    // A follow-up asked for by a full run (the schedule) is a full run.
    let detectRunning: Promise<void> | undefined;
    let detectAgain: Promise<void> | undefined;
    let againFull = false;
    const detectNow = (reason: string, o: { signaturesOnly?: boolean } = {}): Promise<void> => {
      if (stopping) return Promise.resolve();
      if (!detectRunning) {
        const only = o.signaturesOnly ? SIGNATURE_DETECTORS : undefined;
        logger.debug({ reason, detectors: only ? 'signatures' : 'all' }, 'detector run');
        detectRunning = inLane(() => detectAndDeliver(only)).finally(() => {
          detectRunning = undefined;
        });
        return detectRunning;
      }
      if (!o.signaturesOnly) againFull = true;
      detectAgain ??= detectRunning
        .catch(() => undefined)
        .then(() => {
          detectAgain = undefined;
          const full = againFull;
          againFull = false;
          return detectNow(reason, { signaturesOnly: !full });
        });
      return detectAgain;
    };

    // `job` has logged the failure already.
    const onError = (name: string) => (e: unknown) => logger.debug({ job: name, err: (e as Error)?.message ?? String(e) }, 'scheduled job failed');
    const sched = svc.schedules;
    if (sched.detect !== false) schedules.push(every(sched.detect, () => detectNow('schedule'), { name: 'detect', onError: onError('detect') }));
    if (sched.deliver !== false && destinations.length > 0) {
      schedules.push(
        every(
          sched.deliver,
          () =>
            inLane(() =>
              job('deliver', async () => {
                metrics.observeDelivery(await deliverPending({ store: s, destinations, clock, maxWaitMs: 0, logger }));
              }),
            ),
          { name: 'deliver', onError: onError('deliver') },
        ),
      );
    }
    if (sched.slo !== false && windowTables) {
      schedules.push(
        every(
          sched.slo,
          () =>
            inLane(() =>
              job('slo', async () => {
                const at = clock.now();
                const r = await evaluateSlos({ store: s, specs, at, tables: windowTables });
                logger.info({ groups: r.results.length, transitions: r.transitions.length }, 'SLOs evaluated');
                if (destinations.length > 0) {
                  const sent = await enqueueAndDeliver({ store: s, destinations, clock, lookbackHours: config.alerts.enqueueLookbackHours, deliver: true, maxWaitMs: 0, logger });
                  if (sent.delivery) metrics.observeDelivery(sent.delivery);
                }
              }),
            ),
          { name: 'slo', onError: onError('slo') },
        ),
      );
    }
    if (probe && probeTarget) {
      const target = probeTarget;
      schedules.push(
        every(
          probe.cron,
          () =>
            job('probe', async () => {
              const round = probeRound({ modulePath: probe.module, slot: target.slot, pin: target.pin, wrapKey: probe.wrapKey, cryptoKey: probe.cryptoKey, count: probe.count }, clock);
              if (round.openError) logger.warn({ err: round.openError.message }, 'probe: the token could not be opened; failure events recorded');
              metrics.observeProbe(round.records);
              await ingestProbeRecords(s, config, round.records, round.tokenLabel, clock);
            }),
          { name: 'probe', onError: onError('probe') },
        ),
      );
    }
    const report = sched.report;
    if (report) {
      schedules.push(
        every(
          report.cron,
          () =>
            job('report', async () => {
              const now = clock.now();
              const period = previousQuarter(now);
              const out = join(report.outDir, `${period.label}${report.tenant ? `-${report.tenant}` : ''}`);
              const { files } = await writeReport({ store: s, period, tenant: report.tenant ?? '', now, detect: config.detect, out, pdf: report.pdf });
              logger.info({ quarter: period.label, out, files: files.length }, 'quarterly report written');
            }),
          { name: 'report', onError: onError('report') },
        ),
      );
    }
    cleanups.push({
      name: 'schedules',
      fn: async () => {
        // A job in progress finishes (node-cron's stop does not cut it short); the lane holds the last one.
        await Promise.all(schedules.map((x) => x.stop()));
        await lane.catch(() => undefined);
      },
    });

    // Event-to-alert: the intake totals are in memory, so looking at them often costs nothing.
    if (svc.detectOnIngest.enabled) {
      const seen = () => (collector?.stats().inserted ?? 0) + (replayer?.stats().inserted ?? 0) + (consumers?.totals().inserted ?? 0);
      let last = seen();
      let firstNew = 0;
      let lastNew = 0;
      pollTimer = setInterval(() => {
        const n = seen();
        const t = Date.now();
        if (n > last) {
          last = n;
          lastNew = t;
          if (!firstNew) firstNew = t;
        }
        // Runs after a quiet spell of debounceMs, or at least every 3 x debounceMs under steady traffic.
        if (firstNew && (t - lastNew >= svc.detectOnIngest.debounceMs || t - firstNew >= 3 * svc.detectOnIngest.debounceMs)) {
          firstNew = 0;
          void detectNow('new events', { signaturesOnly: svc.detectOnIngest.detectors === 'signatures' }).catch(() => undefined);
        }
      }, svc.detectOnIngest.pollMs);
      pollTimer.unref();
      const timer = pollTimer;
      cleanups.push({ name: 'ingest watcher', fn: async () => clearInterval(timer) });
    }

    const stop = async (reason: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason }, 'stopping: intake first, then jobs, then the store');
      // Intake stops first so nothing new arrives while the jobs finish (cleanups run in reverse).
      const intake = cleanups.filter((c) => c.name === 'HTTP collector' || c.name === 'Kafka consumers' || c.name === 'ingest watcher');
      for (const c of intake) cleanups.splice(cleanups.indexOf(c), 1);
      await Promise.all(
        intake.map((c) =>
          c.fn().catch((e: unknown) => {
            logger.error({ component: c.name, err: (e as Error).message }, 'stopping a component failed');
          }),
        ),
      );
      await shutdownAll();
      logger.info({ reason }, 'stopped');
    };

    return {
      addresses: { ops: ops.address, ...(collector ? { http: collector.address } : {}), ...(localApi ? { localApi: localApiPaths(config.dataDir).socket } : {}) },
      metrics,
      readiness,
      detectNow,
      stop,
      failed,
    };
  } catch (e) {
    stopping = true;
    if (pollTimer) clearInterval(pollTimer);
    await Promise.all(schedules.map((x) => x.stop().catch(() => undefined)));
    await shutdownAll();
    throw e;
  }
}
