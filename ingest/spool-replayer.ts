import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { isKeywatchError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import type { Store } from '../storage/store.ts';
import type { IngestSummary } from './pipeline.ts';
import type { Spool, SpoolMeta } from './spool.ts';
import { ingestHttpBody, storeUnavailable } from './transports/http-ingest.ts';

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
  /** Stops after the entry being stored, if any; entries left stay in the spool for next time. */
  stop(): Promise<void>;
}

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

  const loop = (async () => {
    while (!stopped) {
      const entry = spool.peek();
      if (!entry) {
        settleDrained();
        idle = true;
        await pause(undefined);
        idle = false;
        continue;
      }
      try {
        const summary = await ingestHttpBody({
          store,
          config,
          clock,
          format: entry.meta.format,
          tenant: entry.meta.tenant ?? undefined,
          origin: entry.meta.origin,
          body: entry.body,
          receivedAt: new Date(entry.meta.receivedAt),
          retry: { attempts: 1, baseDelayMs: base },
        });
        spool.remove(entry.seq);
        stats.replayed++;
        stats.read += summary.read;
        stats.inserted += summary.inserted;
        stats.duplicates += summary.duplicates;
        log.info({ spool: spool.dir, req: entry.meta.requestId, read: summary.read, inserted: summary.inserted, duplicates: summary.duplicates, left: spool.size() }, 'spooled request stored');
        opts.onReplayed?.(entry.meta, summary);
      } catch (e) {
        stats.failures++;
        if (isKeywatchError(e) && e.code === 'FORMAT_UNKNOWN') {
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

  return {
    stats: () => ({ ...stats }),
    drained: () =>
      spool.size() === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            drainWaiters.push(resolve);
          }),
    stop: async () => {
      stopped = true;
      unsubscribe();
      wake?.();
      await loop;
    },
  };
}
