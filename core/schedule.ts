import cron from 'node-cron';

/*
 * Cron schedules for keywatch's recurring work (probes now; detectors, SLO evaluation and reports
 * in the service). The one file that imports node-cron.
 */

/** Whether `expr` is a cron expression node-cron accepts (5 fields, or 6 with seconds). */
export function isCronExpression(expr: string): boolean {
  return cron.validate(expr);
}

export interface Schedule {
  /** Stops the schedule; a run in progress finishes. */
  stop(): Promise<void>;
}

/**
 * Runs `fn` at every time `expr` matches, in UTC, never two at once (a run still going when the
 * next is due skips that one). Errors of a run are passed to `onError`; the schedule goes on.
 *
 * @example const s = every('*\/5 * * * *', () => probeOnce(), { name: 'probe', onError: log }); ... await s.stop();
 */
export function every(expr: string, fn: () => Promise<void>, o: { name: string; onError: (e: unknown) => void }): Schedule {
  const task = cron.schedule(
    expr,
    async () => {
      try {
        await fn();
      } catch (e) {
        o.onError(e);
      }
    },
    { name: o.name, noOverlap: true, timezone: 'Etc/UTC' },
  );
  return {
    async stop() {
      await task.stop();
      await task.destroy();
    },
  };
}
