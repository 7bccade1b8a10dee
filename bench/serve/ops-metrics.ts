/**
 * Reads the few series bench:serve needs from `keywatch serve`'s Prometheus text (/metrics on
 * `service.ops.listen`): the spool backlog and the events the HTTP intake stored (requests
 * answered and the replayer's spooled bodies together).
 *
 * @example parseOpsMetrics('keywatch_spool_files 3\nkeywatch_spool_bytes 1950000\n') // {spoolFiles: 3, spoolBytes: 1950000, httpInserted: 0}
 */

export interface OpsMetrics {
  /** Spool entries (one per request acknowledged 202) not stored yet. */
  spoolFiles: number;
  spoolBytes: number;
  /** `keywatch_events_inserted_total{transport="http"}`. */
  httpInserted: number;
}

/** The value of the first sample of `name` whose labels include every one of `labels`; null when there is none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(l[1] as string, l[2] as string);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return null;
}

export function parseOpsMetrics(text: string): OpsMetrics {
  const spoolFiles = metricValue(text, 'keywatch_spool_files');
  const spoolBytes = metricValue(text, 'keywatch_spool_bytes');
  // Absent until the first event is stored (a labelled counter has no sample before its first increment).
  const httpInserted = metricValue(text, 'keywatch_events_inserted_total', { transport: 'http' }) ?? 0;
  if (spoolFiles === null || spoolBytes === null) throw new Error('the /metrics answer has no keywatch_spool_files / keywatch_spool_bytes: is the server run with a spool?');
  return { spoolFiles, spoolBytes, httpInserted };
}

export async function fetchOpsMetrics(url: string, timeoutMs = 5_000): Promise<OpsMetrics> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  return parseOpsMetrics(text);
}

/** Spool backlog over a step, sampled from /metrics. */
export interface BacklogSample {
  /** ms since the step's start. */
  atMs: number;
  files: number;
  bytes: number;
}

export interface BacklogSummary {
  samples: number;
  /** At the last sample, taken after the step's last answer. */
  endFiles: number;
  endBytes: number;
  /** `endFiles` times the batch size: events acknowledged and not stored yet. */
  endEvents: number;
  /** `endEvents` over the offered rate: how many seconds of the load are still waiting. */
  endSeconds: number;
  maxFiles: number;
  /** Least-squares slope of the backlog, in events/s, from a third into the step to its last sample. */
  growthEventsPerSecond: number;
  growing: boolean;
  /** The samples as [ms since the step's start, spool entries]. */
  series: [number, number][];
  /** The store kept up: the backlog neither grew nor ended over `maxBacklogSeconds` of the offered load. */
  storeKeepsUp: boolean;
}

/**
 * Whether the spool's backlog shows the store keeping up with a step. Not when the backlog at the
 * step's end holds more than `maxBacklogSeconds` of the offered events, or when it grows: its
 * least-squares slope from a third into the step (before that the replayer starts on an empty
 * spool) to the last sample is over 10% of the offered rate, that is the store stores less than
 * 90% of what is acknowledged. A slope, not two points: the replayer takes many entries at a time,
 * so the backlog is a sawtooth.
 */
export function summarizeBacklog(samples: readonly BacklogSample[], o: { stepMs: number; batch: number; rate: number; maxBacklogSeconds: number }): BacklogSummary {
  const fit = samples.filter((s) => s.atMs >= o.stepMs / 3);
  let slope = 0;
  if (fit.length >= 3) {
    const mx = fit.reduce((a, s) => a + s.atMs / 1000, 0) / fit.length;
    const my = fit.reduce((a, s) => a + s.files * o.batch, 0) / fit.length;
    const sxy = fit.reduce((a, s) => a + (s.atMs / 1000 - mx) * (s.files * o.batch - my), 0);
    const sxx = fit.reduce((a, s) => a + (s.atMs / 1000 - mx) ** 2, 0);
    slope = sxx > 0 ? sxy / sxx : 0;
  }
  const growing = slope > 0.1 * o.rate;
  const last = samples[samples.length - 1];
  const endFiles = last?.files ?? 0;
  const endEvents = endFiles * o.batch;
  const endSeconds = Math.round((endEvents / o.rate) * 100) / 100;
  return {
    samples: samples.length,
    endFiles,
    endBytes: last?.bytes ?? 0,
    endEvents,
    endSeconds,
    maxFiles: Math.max(0, ...samples.map((s) => s.files)),
    growthEventsPerSecond: Math.round(slope),
    growing,
    series: samples.map((s) => [s.atMs, s.files]),
    storeKeepsUp: !growing && endSeconds <= o.maxBacklogSeconds,
  };
}
