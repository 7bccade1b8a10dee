import type { Clock } from '../../core/clock.ts';
import type { Config } from '../../core/config.ts';
import { KeywatchError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import type { Store } from '../../storage/store.ts';
import { jsonlFileDestination } from './jsonl.ts';
import { kafkaDestination } from './kafka.ts';
import { dueEntries, enqueueOpenAlerts, nextDueTime, pendingCounts, recordOutcomes, type AlertRoute, type Destination, type OutboxEntry, type RetryPolicy } from './outbox.ts';
import { webhookDestination } from './webhook.ts';

export const WEBHOOK_SECRET_ENV = 'KEYWATCH_WEBHOOK_SECRET';

/** The secret's variable for a named webhook: `pager` → KEYWATCH_WEBHOOK_SECRET_PAGER. */
export const webhookSecretEnv = (name: string): string => `${WEBHOOK_SECRET_ENV}_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** `d` with an id and a route, its methods still bound to the original. */
function withRoute(shape: Destination, d: Destination, route: AlertRoute | undefined): Destination {
  return { id: shape.id, retry: d.retry, ...(route ? { route } : {}), send: (e) => d.send(e), close: () => d.close() };
}

// The file destination has no settings of its own: a local append that fails (disk full) is
// worth a few tries over minutes, then the entry is dead and visible.
const FILE_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 300_000 };

/**
 * The destinations `alerts` configures, in a fixed order (file, webhook, kafka). The webhook's
 * secret comes from KEYWATCH_WEBHOOK_SECRET, else `alerts.webhook.secret`; a webhook without one
 * is a configuration error (unsigned alerts could be forged by anyone who finds the URL).
 *
 * @example const destinations = destinationsFromConfig(config, { env: process.env, clock: systemClock });
 */
export function destinationsFromConfig(config: Config, o: { env?: NodeJS.ProcessEnv; clock: Clock; logger?: Logger }): Destination[] {
  const a = config.alerts;
  const out: Destination[] = [];
  if (a.jsonlFile) out.push(jsonlFileDestination(a.jsonlFile, FILE_RETRY));
  const hooks = [...(a.webhook ? [{ ...a.webhook, id: 'webhook', path: 'alerts.webhook', env: WEBHOOK_SECRET_ENV }] : []), ...a.webhooks.map((w, i) => ({ ...w, id: `webhook:${w.name}`, path: `alerts.webhooks.${i}`, env: webhookSecretEnv(w.name) }))];
  for (const w of hooks) {
    const secret = o.env?.[w.env] || w.secret;
    if (!secret) throw new KeywatchError('CONFIG_INVALID', `${w.path} needs an HMAC secret: set ${w.env} in the environment, or ${w.path}.secret in the config file`);
    if (secret.length < 16) throw new KeywatchError('CONFIG_INVALID', `the webhook secret (${w.env} or ${w.path}.secret) must be at least 16 characters`);
    const d = webhookDestination(
      { url: w.url, secret, format: w.format, timeoutMs: w.timeoutMs, retry: { maxAttempts: w.maxAttempts, baseDelayMs: w.baseDelayMs, maxDelayMs: w.maxDelayMs } },
      o.clock,
    );
    out.push(withRoute({ ...d, id: w.id } as Destination, d, w.only));
  }
  if (a.kafka) {
    if (config.kafka.brokers.length === 0) throw new KeywatchError('CONFIG_INVALID', 'alerts.kafka needs kafka.brokers in the config file, e.g. {"kafka": {"brokers": ["kafka-1:9092"]}}');
    const d = kafkaDestination(config.kafka, { topic: a.kafka.topic, format: a.kafka.format, retry: { maxAttempts: a.kafka.maxAttempts, baseDelayMs: a.kafka.baseDelayMs, maxDelayMs: a.kafka.maxDelayMs } }, o.logger);
    out.push(withRoute(d, d, a.kafka.only));
  }
  return out;
}

export interface DeliverOptions {
  store: Store;
  destinations: readonly Destination[];
  clock: Clock;
  /**
   * Keep going while pending entries come due within this many milliseconds of the start,
   * waiting for their backoff; 0 makes one pass over what is due now.
   */
  maxWaitMs?: number;
  /** Entries read per pass. */
  batchSize?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  logger?: Logger;
}

export interface DestinationSummary {
  /** Attempts made by this call. */
  attempts: number;
  delivered: number;
  /** Attempts that failed and will be retried. */
  failed: number;
  /** Entries given up (a status that retrying cannot fix, or maxAttempts used up). */
  dead: number;
  /** Entries still pending when the call returned. */
  pending: number;
}

export interface DeliverySummary {
  byDestination: Record<string, DestinationSummary>;
  /** When the next pending entry comes due (ISO time), when one is left. */
  nextAttemptTime?: string;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends the outbox entries of `destinations` that are due, records each attempt, and (with
 * `maxWaitMs`) waits for retries that come due soon. Safe to run in a new process at any time:
 * whatever was not recorded as delivered is sent again.
 *
 * @example const summary = await deliverPending({ store, destinations, clock: systemClock, maxWaitMs: 15_000 });
 */
export async function deliverPending(o: DeliverOptions): Promise<DeliverySummary> {
  const logger = o.logger ?? createLogger();
  const sleep = o.sleep ?? defaultSleep;
  const random = o.random ?? Math.random;
  const byId = new Map(o.destinations.map((d) => [d.id, d]));
  const ids = [...byId.keys()];
  const summary: DeliverySummary = { byDestination: Object.fromEntries(ids.map((id) => [id, { attempts: 0, delivered: 0, failed: 0, dead: 0, pending: 0 }])) };
  if (ids.length === 0) return summary;
  const deadline = o.clock.now().getTime() + Math.max(0, o.maxWaitMs ?? 0);

  // Past the deadline, only entries not yet tried by this call are sent: one pass over what is due.
  const tried = new Set<string>();
  const key = (e: OutboxEntry) => `${e.destination}\u0000${e.idempotencyKey}`;
  for (;;) {
    const pastDeadline = o.clock.now().getTime() > deadline;
    const due = (await dueEntries(o.store, ids, o.clock.now(), o.batchSize ?? 500)).filter((e) => !pastDeadline || !tried.has(key(e)));
    for (const e of due) tried.add(key(e));
    if (due.length === 0) {
      if (pastDeadline) break;
      const next = await nextDueTime(o.store, ids);
      if (!next || next.getTime() > deadline) break;
      await sleep(Math.max(0, next.getTime() - o.clock.now().getTime()));
      continue;
    }
    const groups = new Map<string, OutboxEntry[]>();
    for (const e of due) groups.set(e.destination, [...(groups.get(e.destination) ?? []), e]);
    for (const [id, entries] of groups) {
      const dest = byId.get(id);
      if (!dest) continue;
      const outcomes = await dest.send(entries);
      if (outcomes.length !== entries.length) throw new Error(`destination ${id} returned ${outcomes.length} outcomes for ${entries.length} entries`);
      const recorded = await recordOutcomes(
        o.store,
        entries.map((entry, i) => ({ entry, outcome: outcomes[i] as (typeof outcomes)[number], policy: dest.retry })),
        o.clock.now(),
        random,
      );
      const s = summary.byDestination[id] as DestinationSummary;
      for (const r of recorded) {
        s.attempts++;
        const fields = { destination: id, alert: r.entry.alertId, revision: r.entry.revision, attempt: r.attempts };
        if (r.state === 'delivered') {
          s.delivered++;
          logger.info(fields, 'alert delivered');
        } else if (r.state === 'dead') {
          s.dead++;
          logger.error({ ...fields, err: r.error }, 'alert delivery given up');
        } else {
          s.failed++;
          logger.warn({ ...fields, err: r.error, nextAttemptTime: r.nextAttemptTime.toISOString() }, 'alert delivery failed; will retry');
        }
      }
    }
  }

  for (const [id, n] of Object.entries(await pendingCounts(o.store, ids))) {
    const s = summary.byDestination[id];
    if (s) s.pending = n;
  }
  const next = await nextDueTime(o.store, ids);
  if (next) summary.nextAttemptTime = next.toISOString();
  return summary;
}

/** Closes every destination (the Kafka producer); a failure to close is not an error of the run. */
export async function closeDestinations(destinations: readonly Destination[], logger: Logger = createLogger()): Promise<void> {
  for (const d of destinations) {
    try {
      await d.close();
    } catch (e) {
      logger.warn({ destination: d.id, err: (e as Error).message }, 'could not close an alert destination cleanly');
    }
  }
}

/**
 * What `keywatch detect` does after its detectors ran: enqueue the open alerts of the look-back
 * window for every destination (those of this run, and any a stopped run left behind), then,
 * unless `deliver` is false, send what is due.
 *
 * @example const { enqueued, delivery } = await enqueueAndDeliver({ store, destinations, clock, lookbackHours: 168, deliver: true, maxWaitMs: 15_000 });
 */
export async function enqueueAndDeliver(o: DeliverOptions & { lookbackHours: number; deliver: boolean }): Promise<{ enqueued: Record<string, number>; delivery?: DeliverySummary }> {
  const now = o.clock.now();
  const since = new Date(now.getTime() - o.lookbackHours * 3_600_000);
  const routes = Object.fromEntries(o.destinations.flatMap((d) => (d.route ? [[d.id, d.route]] : [])));
  const enqueued = await enqueueOpenAlerts({ store: o.store, destinations: o.destinations.map((d) => d.id), now, since, routes });
  if (!o.deliver) return { enqueued };
  return { enqueued, delivery: await deliverPending(o) };
}
