import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { isKeywatchError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import type { Store } from '../storage/store.ts';
import type { IngestSummary } from './pipeline.ts';
import type { Spool, SpoolMeta } from './spool.ts';
import { ingestHttpBody, storeUnavailable } from './transports/http-ingest.ts';
import type { HttpCollectorStats } from './transports/http.ts';

/**
 * Drains a spool into the store, oldest entry first. An entry is removed only after its ingest
 * returned, so a crash mid-replay replays it again (ingest deduplicates on event_id: the second
 * time its events count as duplicates and are not stored twice). While the store is unreachable
 * it is probed (`SELECT 1`) with exponential backoff; an append wakes an idle replayer.
 *
 * @example
 *   const spool = openSpool({ dir: spoolDir(config), maxBytes: config.spool.maxBytes, clock, logger });
 *   const collector = await startHttpCollector({ store, config, clock, host, port, spool });
 *   const replayer = startSpoolReplayer({ spool, store, config, clock, logger });
 *   // shutdown: await collector.close(); await replayer.stop();
 */
export interface SpoolReplayerOptions {
  spool: Spool;
  store: Store;
  config: Config;
  clock: Clock;
  logger?: Logger;
  /** First wait after the store failed; it doubles up to `maxDelayMs`. Default 1000. */
  baseDelayMs?: number;
  /** Default 30000. */
  maxDelayMs?: number;
  /** Called after each entry is stored and removed. */
  onReplayed?: (meta: SpoolMeta, summary: IngestSummary) => void;
}

export interface SpoolReplayerStats {
  replayed: number;
  /** Records read from replayed entries, and what became of them. */
  read: number;
  inserted: number;
  duplicates: number;
  /** Failed store probes and replay attempts since start. */
  failures: number;
  /** True while the store is considered unreachable. */
  waitingForStore: boolean;
}

export interface SpoolReplayer {
  stats(): SpoolReplayerStats;
  /** Resolves when the spool is empty (at once if it is). */
  drained(): Promise<void>;
  /**
   * Stops after the entry being stored, if any; entries left stay in the spool for next time.
   * With `drainMs`, first waits up to that long for the spool to empty (a graceful shutdown).
   */
  stop(o?: { drainMs?: number }): Promise<void>;
}

/** How long a stopping collector or service lets the replayer store what waits (inside serve's 10 s shutdown). */
export const SPOOL_DRAIN_ON_STOP_MS = 4_000;

/** Most spooled requests stored in one ingest run. */
const MAX_GROUP = 256;

export function startSpoolReplayer(opts: SpoolReplayerOptions): SpoolReplayer {
  const { spool, store, config, clock } = opts;
  const log = opts.logger ?? createLogger();
  const base = opts.baseDelayMs ?? 1000;
  const max = opts.maxDelayMs ?? 30_000;
  const stats: SpoolReplayerStats = { replayed: 0, read: 0, inserted: 0, duplicates: 0, failures: 0, waitingForStore: false };
  let stopped = false;
  let wake: (() => void) | undefined;
  let drainWaiters: (() => void)[] = [];
  let idle = false;
  // Only an idle replayer wakes on an append; one waiting for the store keeps its backoff.
  const unsubscribe = spool.onAppend(() => {
    if (idle) wake?.();
  });

  // Resolves after `ms`, or earlier on an append (when idle) or stop.
  const pause = (ms: number | undefined) =>
    new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        if (timer) clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const settleDrained = () => {
    if (spool.size() > 0) return;
    for (const w of drainWaiters) w();
    drainWaiters = [];
  };

  const waitForStore = async () => {
    let delay = base;
    stats.waitingForStore = true;
    for (;;) {
      await pause(delay);
      if (stopped) return;
      try {
        await store.query('SELECT 1');
        stats.waitingForStore = false;
        log.info({ spool: spool.dir, entries: spool.size() }, 'store answers again; replaying the spool');
        return;
      } catch (e) {
        stats.failures++;
        log.warn({ spool: spool.dir, delayMs: delay, code: (e as { code?: string }).code, err: (e as Error).message }, 'store still unavailable; spool waits');
        delay = Math.min(delay * 2, max);
      }
    }
  };

  // Entries up to this seq are replayed one at a time (a group failed as a whole on one of them).
  let singleUntil = -1;
  const loop = (async () => {
    while (!stopped) {
      const head = spool.peek();
      if (!head) {
        settleDrained();
        idle = true;
        await pause(undefined);
        idle = false;
        continue;
      }
      // Consecutive entries of one format and tenant are stored in one run: each run costs a
      // fixed number of store round trips, so many small requests would otherwise drain slowly.
      let group = [head];
      if (head.seq > singleUntil) {
        const next = spool.peekMany(MAX_GROUP, config.ingest.batchBytes);
        const end = next.findIndex((e) => e.meta.format !== head.meta.format || e.meta.tenant !== head.meta.tenant);
        group = end === -1 ? next : next.slice(0, end);
      }
      const entry = group[0] as typeof head;
      try {
        const summary = await ingestHttpBody({
          store,
          config,
          clock,
          format: entry.meta.format,
          tenant: entry.meta.tenant ?? undefined,
          origin: entry.meta.origin,
          body: entry.body,
          more: group.slice(1).map((e) => ({ origin: e.meta.origin, body: e.body })),
          receivedAt: new Date(entry.meta.receivedAt),
          retry: { attempts: 1, baseDelayMs: base },
        });
        spool.removeMany(group.map((e) => e.seq));
        stats.replayed += group.length;
        stats.read += summary.read;
        stats.inserted += summary.inserted;
        stats.duplicates += summary.duplicates;
        log.info({ spool: spool.dir, req: entry.meta.requestId, requests: group.length, read: summary.read, inserted: summary.inserted, duplicates: summary.duplicates, left: spool.size() }, 'spooled requests stored');
        for (const e of group) opts.onReplayed?.(e.meta, summary);
      } catch (e) {
        stats.failures++;
        if (isKeywatchError(e) && e.code === 'FORMAT_UNKNOWN') {
          if (group.length > 1) {
            // One of them cannot be told apart: retry them one by one, so only that one is rejected.
            singleUntil = (group[group.length - 1] as typeof head).seq;
            continue;
          }
          // It was acknowledged (202) before its format could be told; it never will be.
          spool.reject(entry.seq, `request ${entry.meta.requestId}: ${e.message}`);
          continue;
        }
        if (storeUnavailable(e)) log.warn({ spool: spool.dir, req: entry.meta.requestId, code: (e as { code?: string }).code, err: (e as Error).message }, 'store unavailable during replay; waiting for it');
        else log.error({ spool: spool.dir, req: entry.meta.requestId, code: (e as { code?: string }).code, err: (e as Error).message }, 'spooled request could not be stored; kept, retrying later');
        await waitForStore();
      }
    }
  })();

  const drained = (): Promise<void> =>
    spool.size() === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          drainWaiters.push(resolve);
        });

  return {
    stats: () => ({ ...stats }),
    drained,
    stop: async (o = {}) => {
      if (o.drainMs !== undefined && spool.size() > 0) {
        const drainMs = o.drainMs;
        await Promise.race([drained(), new Promise((r) => setTimeout(r, drainMs).unref())]);
        if (spool.size() > 0) log.warn({ spool: spool.dir, entries: spool.size() }, 'spool not drained at shutdown; it is stored at the next start');
      }
      stopped = true;
      unsubscribe();
      wake?.();
      await loop;
    },
  };
}

/** HTTP collector totals with what the replayer stored from the spool counted in. */
export function withReplayed(h: HttpCollectorStats, r: SpoolReplayerStats): HttpCollectorStats {
  return { ...h, read: h.read + r.read, inserted: h.inserted + r.inserted, duplicates: h.duplicates + r.duplicates };
}
