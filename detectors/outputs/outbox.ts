import { createHash } from 'node:crypto';
import type { Store } from '../../storage/store.ts';
import { chTime, type AlertRow } from '../engine.ts';

/**
 * The alert outbox (table `alert_outbox`, storage/migrations/0004_alert_outbox.sql): durable,
 * at-least-once delivery of open alerts to each configured destination.
 *
 * - `enqueueOpenAlerts` adds an entry per open alert and destination, for every alert revision
 *   not yet in the outbox. It reads the alerts table (not a run's result), over a look-back
 *   window, so a run that stopped between writing alerts and enqueueing them loses nothing: the
 *   next run enqueues them.
 * - `dueEntries` returns pending entries whose next attempt is due, only the newest revision of
 *   each alert (an older revision still pending is superseded: the newer one says more).
 * - `recordOutcomes` writes the result of each attempt as a new row (see the migration for the
 *   version rule). A process that dies after sending but before recording sends again on the
 *   next run: at least once, never lost. Receivers dedupe on the idempotency key.
 *
 * @example
 *   await enqueueOpenAlerts({ store, destinations: ['webhook'], now, since });
 *   for (const e of await dueEntries(store, ['webhook'], now)) ...
 */

/** One entry as read for delivery. */
export interface OutboxEntry {
  destination: string;
  alertId: string;
  /** Hash of the alert's content (alertRevision). */
  revision: string;
  enqueuedTime: string;
  alert: AlertRow;
  /** Attempts made so far. */
  attempts: number;
  version: number;
  /** `update` when an earlier revision of this alert reached this destination. */
  activity: 'create' | 'update';
  /** Stable across retries of this revision: `<alert_id>:<revision>`. */
  idempotencyKey: string;
}

/** What one attempt to send an entry came to. */
export type SendOutcome =
  | { result: 'delivered'; status?: number }
  /** May pass: a network error, a timeout, HTTP 5xx, 408 or 429. `retryAfterMs` from Retry-After. */
  | { result: 'retry'; error: string; status?: number; retryAfterMs?: number }
  /** Will fail the same way again (HTTP 4xx, a message the broker refuses): recorded, not retried. */
  | { result: 'dead'; error: string; status?: number };

export interface RetryPolicy {
  /** Attempts before an entry that keeps failing is given up as dead. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** A place alerts are sent to. `send` reports failures as outcomes; it throws only on programming errors. */
export interface Destination {
  /** The outbox `destination` column: `webhook`, `kafka`, `file`. */
  readonly id: string;
  readonly retry: RetryPolicy;
  /** Which alerts it takes; none: all of them. */
  readonly route?: AlertRoute;
  /** Sends each entry; returns one outcome per entry, in order. */
  send(entries: readonly OutboxEntry[]): Promise<SendOutcome[]>;
  close(): Promise<void>;
}

export type OutboxState = 'pending' | 'delivered' | 'dead';

/** An outbox row (snake_case as stored). */
type OutboxRow = {
  destination: string;
  alert_id: string;
  revision: string;
  enqueued_time: string;
  alert: string;
  version: number;
  state: OutboxState;
  attempts: number;
  next_attempt_time: string;
  last_attempt_time: string | null;
  delivered_time: string | null;
  last_status: number;
  last_error: string;
};

// Read from a subquery: the text aliases below would otherwise shadow the DateTime64 columns in WHERE.
const ALERT_COLUMNS = `alert_id, toString(detected_time) AS detected_time, detector, title, severity, score, tenant, key_id, principal,
  toString(first_time) AS first_time, toString(last_time) AS last_time, event_count, event_ids, evidence, runbook, status, suppressed_by,
  toString(resolved_time) AS resolved_time`;

/** An alert row read back from ClickHouse: 64-bit integers arrive as strings. */
function normalizeAlert(r: AlertRow): AlertRow {
  return { ...r, score: Number(r.score), event_count: Number(r.event_count) };
}

/**
 * Hash of what an alert says (not when it was detected, nor its status): the same alert found
 * again unchanged has the same revision and is not sent again; one that grew has a new one.
 */
export function alertRevision(a: AlertRow): string {
  const content: unknown[] = [a.alert_id, a.detector, a.title, a.severity, Number(a.score), a.tenant, a.key_id, a.principal, a.first_time, a.last_time, Number(a.event_count), a.event_ids, a.evidence, a.runbook];
  // Resolving is news: a resolved alert is a new revision. (Open alerts hash as before.)
  if (a.status === 'resolved') content.push(a.status, a.resolved_time ?? null);
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
}

/** Which alerts a destination takes (config `only`): empty or absent lists take everything. */
export interface AlertRoute {
  severities?: readonly string[];
  detectors?: readonly string[];
}

export function routeAccepts(route: AlertRoute | undefined, a: Pick<AlertRow, 'severity' | 'detector'>): boolean {
  if (!route) return true;
  if (route.severities && route.severities.length > 0 && !route.severities.includes(a.severity)) return false;
  if (route.detectors && route.detectors.length > 0 && !route.detectors.includes(a.detector)) return false;
  return true;
}

/**
 * Enqueues, for each destination, every open or resolved alert detected at or after `since` whose
 * current revision is not in the outbox yet and that the destination's route accepts. Returns how
 * many entries were added per destination.
 */
export async function enqueueOpenAlerts(o: { store: Store; destinations: readonly string[]; now: Date; since: Date; routes?: Readonly<Record<string, AlertRoute>> }): Promise<Record<string, number>> {
  const added: Record<string, number> = Object.fromEntries(o.destinations.map((d) => [d, 0]));
  if (o.destinations.length === 0) return added;
  const alerts = (await o.store.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM (SELECT * FROM alerts FINAL WHERE status IN ('open', 'resolved') AND detected_time >= {since:DateTime64(3)}) ORDER BY detected_time, alert_id`, { since: chTime(o.since) })).map(normalizeAlert);
  if (alerts.length === 0) return added;
  const have = new Set(
    (
      await o.store.query<{ destination: string; alert_id: string; revision: string }>(
        'SELECT DISTINCT destination, alert_id, revision FROM alert_outbox WHERE destination IN {d:Array(String)} AND alert_id IN {ids:Array(String)}',
        { d: [...o.destinations], ids: [...new Set(alerts.map((a) => a.alert_id))] },
      )
    ).map((r) => `${r.destination}\u0000${r.alert_id}\u0000${r.revision}`),
  );
  const now = chTime(o.now);
  const rows: OutboxRow[] = [];
  for (const a of alerts) {
    const revision = alertRevision(a);
    for (const d of o.destinations) {
      if (!routeAccepts(o.routes?.[d], a)) continue;
      if (have.has(`${d}\u0000${a.alert_id}\u0000${revision}`)) continue;
      rows.push({ destination: d, alert_id: a.alert_id, revision, enqueued_time: now, alert: JSON.stringify(a), version: 0, state: 'pending', attempts: 0, next_attempt_time: now, last_attempt_time: null, delivered_time: null, last_status: 0, last_error: '' });
      added[d] = (added[d] ?? 0) + 1;
    }
  }
  await o.store.insertRows('alert_outbox', rows);
  return added;
}

/** The newest revision of each alert, per destination: the only one delivery looks at. */
const LATEST = `(destination, alert_id, revision) IN (
  SELECT destination, alert_id, argMax(revision, enqueued_time) FROM alert_outbox WHERE destination IN {d:Array(String)} GROUP BY destination, alert_id)`;

const ENTRY_COLUMNS = `destination, alert_id, revision, toString(enqueued_time) AS enqueued_time, alert, version, state, attempts,
  toString(next_attempt_time) AS next_attempt_time, toString(last_attempt_time) AS last_attempt_time,
  toString(delivered_time) AS delivered_time, last_status, last_error`;

/** Pending entries of these destinations that are due at `now`, oldest due first. */
export async function dueEntries(store: Store, destinations: readonly string[], now: Date, limit = 500): Promise<OutboxEntry[]> {
  if (destinations.length === 0) return [];
  const rows = await store.query<OutboxRow & { was_delivered: number }>(
    `SELECT ${ENTRY_COLUMNS},
       (destination, alert_id) IN (SELECT destination, alert_id FROM alert_outbox FINAL WHERE state = 'delivered' AND destination IN {d:Array(String)}) AS was_delivered
     FROM (SELECT * FROM alert_outbox FINAL WHERE destination IN {d:Array(String)} AND state = 'pending' AND next_attempt_time <= {now:DateTime64(3)} AND ${LATEST})
     ORDER BY next_attempt_time, enqueued_time, alert_id, destination
     LIMIT {limit:UInt32}`,
    { d: [...destinations], now: chTime(now), limit },
  );
  return rows.map((r) => ({
    destination: r.destination,
    alertId: r.alert_id,
    revision: r.revision,
    enqueuedTime: r.enqueued_time,
    alert: JSON.parse(r.alert) as AlertRow,
    attempts: Number(r.attempts),
    version: Number(r.version),
    activity: Number(r.was_delivered) === 1 ? 'update' : 'create',
    idempotencyKey: `${r.alert_id}:${r.revision}`,
  }));
}

/** When the next pending entry of these destinations comes due, or undefined when none is pending. */
export async function nextDueTime(store: Store, destinations: readonly string[]): Promise<Date | undefined> {
  if (destinations.length === 0) return undefined;
  const [row] = await store.query<{ t: string; n: string }>(
    `SELECT toString(min(next_attempt_time)) AS t, count() AS n FROM alert_outbox FINAL WHERE destination IN {d:Array(String)} AND state = 'pending' AND ${LATEST}`,
    { d: [...destinations] },
  );
  return row && Number(row.n) > 0 ? new Date(`${row.t.replace(' ', 'T')}Z`) : undefined;
}

/** Pending entries (newest revisions only) per destination. */
export async function pendingCounts(store: Store, destinations: readonly string[]): Promise<Record<string, number>> {
  if (destinations.length === 0) return {};
  const rows = await store.query<{ destination: string; n: string }>(
    `SELECT destination, count() AS n FROM alert_outbox FINAL WHERE destination IN {d:Array(String)} AND state = 'pending' AND ${LATEST} GROUP BY destination`,
    { d: [...destinations] },
  );
  return Object.fromEntries(rows.map((r) => [r.destination, Number(r.n)]));
}

/**
 * Backoff before attempt `attempts + 1`: base * 2^(attempts - 1), capped, with "equal jitter"
 * (half fixed, half random) so that many failing entries do not retry in step (AWS Architecture
 * Blog, "Exponential Backoff And Jitter"). A Retry-After the receiver sent is honoured when longer.
 */
export function backoffMs(policy: RetryPolicy, attempts: number, random: () => number, retryAfterMs?: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}
// A receiver asking for more than a day is taken at a day: the entry stays pending and visible.
const MAX_RETRY_AFTER_MS = 86_400_000;

/** What recording an attempt made of an entry. */
export interface Recorded {
  entry: OutboxEntry;
  state: OutboxState;
  attempts: number;
  nextAttemptTime: Date;
  error: string;
}

/** Records one attempt per entry as a new row of it; an entry that used its last attempt is dead. */
export async function recordOutcomes(store: Store, results: readonly { entry: OutboxEntry; outcome: SendOutcome; policy: RetryPolicy }[], now: Date, random: () => number = Math.random): Promise<Recorded[]> {
  const rows: OutboxRow[] = [];
  const out: Recorded[] = [];
  for (const { entry, outcome, policy } of results) {
    const attempts = entry.attempts + 1;
    let state: OutboxState;
    let error = '';
    let next = now;
    if (outcome.result === 'delivered') {
      state = 'delivered';
    } else if (outcome.result === 'dead') {
      state = 'dead';
      error = outcome.error;
    } else if (attempts >= policy.maxAttempts) {
      state = 'dead';
      error = `gave up after ${attempts} attempts: ${outcome.error}`;
    } else {
      state = 'pending';
      error = outcome.error;
      next = new Date(now.getTime() + backoffMs(policy, attempts, random, outcome.retryAfterMs));
    }
    rows.push({
      destination: entry.destination,
      alert_id: entry.alertId,
      revision: entry.revision,
      enqueued_time: entry.enqueuedTime,
      alert: JSON.stringify(entry.alert),
      version: 2 * attempts + (state === 'pending' ? 0 : 1),
      state,
      attempts,
      next_attempt_time: chTime(next),
      last_attempt_time: chTime(now),
      delivered_time: state === 'delivered' ? chTime(now) : null,
      last_status: outcome.status ?? 0,
      last_error: error.slice(0, 1000),
    });
    out.push({ entry, state, attempts, nextAttemptTime: next, error });
  }
  await store.insertRows('alert_outbox', rows);
  return out;
}

/** An outbox entry's current state, for status output and tests. */
export interface OutboxStatusRow {
  destination: string;
  alertId: string;
  revision: string;
  state: OutboxState;
  attempts: number;
  nextAttemptTime: string;
  lastAttemptTime: string | null;
  deliveredTime: string | null;
  lastStatus: number;
  lastError: string;
  /** False for an older revision that a newer one superseded before it was delivered. */
  latest: boolean;
}

/** Every entry (or those of one destination) in its current state. */
export async function readOutbox(store: Store, opts: { destination?: string } = {}): Promise<OutboxStatusRow[]> {
  const rows = await store.query<OutboxRow & { latest: number }>(
    `SELECT ${ENTRY_COLUMNS},
       (destination, alert_id, revision) IN (SELECT destination, alert_id, argMax(revision, enqueued_time) FROM alert_outbox GROUP BY destination, alert_id) AS latest
     FROM alert_outbox FINAL ${opts.destination ? 'WHERE destination = {d:String}' : ''}
     ORDER BY destination, enqueued_time, alert_id`,
    opts.destination ? { d: opts.destination } : {},
  );
  return rows.map((r) => ({
    destination: r.destination,
    alertId: r.alert_id,
    revision: r.revision,
    state: r.state,
    attempts: Number(r.attempts),
    nextAttemptTime: r.next_attempt_time,
    lastAttemptTime: r.last_attempt_time,
    deliveredTime: r.delivered_time,
    lastStatus: Number(r.last_status),
    lastError: r.last_error,
    latest: Number(r.latest) === 1,
  }));
}
