import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../core/clock.ts';
import { createLogger } from '../../core/logger.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import { StoreError } from '../../storage/store-error.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { chTime, type AlertRow } from '../engine.ts';
import { deliverPending } from './deliver.ts';
import { jsonlFileDestination } from './jsonl.ts';
import { alertRevision, backoffMs, enqueueOpenAlerts, readOutbox, type RetryPolicy } from './outbox.ts';
import { freePort, startReceiver, type Receiver } from './testing/webhook-receiver.ts';
import { webhookDestination } from './webhook.ts';

// The outbox against the embedded store and a real HTTP receiver on 127.0.0.1. Time is a clock
// the test moves; the deliverer's waits move it too, so backoff is exercised without sleeping.

const SECRET = 'outbox-test-secret-0123456789';
const RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 60_000 };
const quiet = createLogger('silent');
const dir = tempDir('keywatch-outbox-');
const dataDir = join(dir.path, 'store');
let store: Store;
let t = new Date('2026-03-02T12:00:00.000Z');
const clock: Clock = { now: () => new Date(t) };
const advance = (ms: number) => {
  t = new Date(t.getTime() + ms);
};
const sleep = async (ms: number) => advance(ms);
let receiver: Receiver | undefined;

function alert(n: number, over: Partial<AlertRow> = {}): AlertRow {
  return {
    alert_id: `a${String(n).padStart(31, '0')}`,
    detected_time: chTime(t),
    detector: 'key-disabled-or-deleted',
    title: `Key ${n} scheduled for deletion`,
    severity: 'high',
    score: 80,
    tenant: 'acme',
    key_id: `key-${n}`,
    principal: 'arn:aws:iam::111122223333:user/kms-admin',
    first_time: '2026-03-02 08:00:00.000',
    last_time: '2026-03-02 08:00:00.000',
    event_count: 1,
    event_ids: [`event-${n}`],
    evidence: JSON.stringify({ pending_window_days: 7 }),
    runbook: 'Cancel the deletion unless a change ticket covers it.',
    status: 'open',
    suppressed_by: '',
    ...over,
  };
}

async function reopen(): Promise<void> {
  await store?.close();
  store = await openEmbeddedStore({ dataDir });
  await migrate(store, { now: () => new Date('2026-01-01T00:00:00Z') });
}

async function reset(): Promise<void> {
  for (const table of ['alerts', 'alert_outbox']) await store.exec(`TRUNCATE TABLE ${table}`);
}

const hookAt = (url: string, retry: RetryPolicy = RETRY) => webhookDestination({ url, secret: SECRET, format: 'json', timeoutMs: 5_000, retry }, clock);
const since = () => new Date(t.getTime() - 7 * 86_400_000);

beforeAll(async () => {
  await reopen();
});
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});
afterAll(async () => {
  await store?.close();
  dir.remove();
});

describe('the alert outbox', () => {
  it('keeps alerts pending while the receiver is down, survives a restart, and delivers each once the receiver is up', async () => {
    await reset();
    await store.insertRows('alerts', [alert(1), alert(2), alert(3), alert(4, { status: 'suppressed', suppressed_by: 'allow-list: test' })]);
    expect(await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() })).toEqual({ webhook: 3 });

    // The receiver's port is known but nothing listens on it yet: connection refused.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/hooks/keywatch`;
    const first = await deliverPending({ store, destinations: [hookAt(url)], clock, logger: quiet, random: () => 1 });
    expect(first.byDestination.webhook).toEqual({ attempts: 3, delivered: 0, failed: 3, dead: 0, pending: 3 });
    let rows = await readOutbox(store);
    expect(rows.map((r) => [r.alertId, r.state, r.attempts, r.lastError])).toEqual([1, 2, 3].map((n) => [alert(n).alert_id, 'pending', 1, 'network error: ECONNREFUSED']));
    // The next attempt waits for the backoff: nothing is due yet.
    expect(rows[0]?.nextAttemptTime).toBe('2026-03-02 12:00:01.000');
    expect((await deliverPending({ store, destinations: [hookAt(url)], clock, logger: quiet })).byDestination.webhook?.attempts).toBe(0);

    // Restart: the store is closed and opened again, the destination is new.
    await reopen();
    receiver = await startReceiver({ secret: SECRET, port });
    advance(5_000);
    const second = await deliverPending({ store, destinations: [hookAt(url)], clock, logger: quiet });
    expect(second.byDestination.webhook).toEqual({ attempts: 3, delivered: 3, failed: 0, dead: 0, pending: 0 });

    // The receiver got each alert, signed; the outbox says delivered.
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    expect([...receiver.unique.values()].map((r) => r.headers['x-keywatch-alert-id']).sort()).toEqual([1, 2, 3].map((n) => alert(n).alert_id));
    rows = await readOutbox(store);
    expect(rows.map((r) => [r.state, r.attempts, r.deliveredTime, r.lastError])).toEqual([1, 2, 3].map(() => ['delivered', 2, '2026-03-02 12:00:05.000', '']));

    // Nothing more to send, and the same alerts found again (same content) are not enqueued again.
    await reopen();
    expect((await deliverPending({ store, destinations: [hookAt(receiver.url)], clock, logger: quiet })).byDestination.webhook?.attempts).toBe(0);
    expect(await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() })).toEqual({ webhook: 0 });
    expect(receiver.requests).toHaveLength(3);
  });

  it('sends an alert that grew in a later run again, as an update with a new idempotency key', async () => {
    await reset();
    receiver = await startReceiver({ secret: SECRET });
    await store.insertRows('alerts', [alert(1)]);
    await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() });
    await deliverPending({ store, destinations: [hookAt(receiver.url)], clock, logger: quiet });
    advance(60_000);
    await store.insertRows('alerts', [alert(1, { detected_time: chTime(t), last_time: '2026-03-02 08:30:00.000', event_count: 2, event_ids: ['event-1', 'event-1b'] })]);
    expect(await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() })).toEqual({ webhook: 1 });
    await deliverPending({ store, destinations: [hookAt(receiver.url)], clock, logger: quiet });
    const [created, updated] = receiver.requests;
    expect(created?.headers['x-keywatch-activity']).toBe('create');
    expect(updated?.headers['x-keywatch-activity']).toBe('update');
    expect(updated?.headers['idempotency-key']).not.toBe(created?.headers['idempotency-key']);
    expect(JSON.parse(updated?.body ?? '{}')).toMatchObject({ event_count: 2, event_ids: ['event-1', 'event-1b'] });
  });

  it('sends only the newest revision of an alert that changed before it could be delivered', async () => {
    await reset();
    await store.insertRows('alerts', [alert(1)]);
    await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() });
    advance(60_000);
    const grown = alert(1, { detected_time: chTime(t), event_count: 3 });
    await store.insertRows('alerts', [grown]);
    await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() });
    receiver = await startReceiver({ secret: SECRET });
    await deliverPending({ store, destinations: [hookAt(receiver.url)], clock, logger: quiet });
    expect(receiver.requests.map((r) => [r.headers['x-keywatch-activity'], r.headers['idempotency-key']])).toEqual([['create', `${grown.alert_id}:${alertRevision(grown)}`]]);
    const rows = await readOutbox(store);
    expect(rows.map((r) => [r.state, r.latest])).toEqual([
      ['pending', false],
      ['delivered', true],
    ]);
  });

  it('sends again an alert whose delivery was not recorded (the store failed after the send): at least once', async () => {
    await reset();
    receiver = await startReceiver({ secret: SECRET });
    await store.insertRows('alerts', [alert(1)]);
    await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() });
    // The insert of the attempt's result fails, as if the process died right after the POST.
    const failing = new Proxy(store, {
      get(target, key) {
        const v = Reflect.get(target, key) as unknown;
        if (key === 'insertRows') return () => Promise.reject(new StoreError('STORE_UNAVAILABLE', 'cannot reach ClickHouse'));
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    await expect(deliverPending({ store: failing, destinations: [hookAt(receiver.url)], clock, logger: quiet })).rejects.toThrow(/cannot reach ClickHouse/);
    expect((await readOutbox(store))[0]).toMatchObject({ state: 'pending', attempts: 0 });
    await deliverPending({ store, destinations: [hookAt(receiver.url)], clock, logger: quiet });
    expect(receiver.requests).toHaveLength(2);
    expect(new Set(receiver.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(receiver.unique.size).toBe(1);
    expect((await readOutbox(store))[0]).toMatchObject({ state: 'delivered', attempts: 1 });
  });

  it('gives up on a 4xx at once and on 5xx after maxAttempts, recording the status; retries wait with backoff, honouring Retry-After', async () => {
    await reset();
    await store.insertRows('alerts', [alert(1), alert(2), alert(3)]);
    await enqueueOpenAlerts({ store, destinations: ['webhook'], now: clock.now(), since: since() });
    receiver = await startReceiver({
      secret: SECRET,
      reply: (r) => {
        const id = r.headers['x-keywatch-alert-id'];
        if (id === alert(1).alert_id) return { status: 422, body: 'unknown field' };
        if (id === alert(2).alert_id) return { status: 503 };
        return { status: 429, headers: { 'retry-after': '3600' } };
      },
    });
    const start = t.getTime();
    const summary = await deliverPending({ store, destinations: [hookAt(receiver.url, { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 60_000 })], clock, sleep, maxWaitMs: 30_000, logger: quiet, random: () => 0.5 });
    expect(summary.byDestination.webhook).toMatchObject({ dead: 2, pending: 1 });
    const byId = new Map((await readOutbox(store)).map((r) => [r.alertId, r]));
    expect(byId.get(alert(1).alert_id)).toMatchObject({ state: 'dead', attempts: 1, lastStatus: 422, lastError: 'HTTP 422: unknown field' });
    expect(byId.get(alert(2).alert_id)).toMatchObject({ state: 'dead', attempts: 3, lastStatus: 503, lastError: 'gave up after 3 attempts: HTTP 503' });
    // 429 with Retry-After: 3600 is not due within the 30 s the deliverer waited.
    expect(byId.get(alert(3).alert_id)).toMatchObject({ state: 'pending', attempts: 1, lastStatus: 429, nextAttemptTime: chTime(new Date(start + 3_600_000)) });
    // 503 was tried three times, waiting out the backoff in between; 422 only once.
    const tries = (n: number) => receiver?.requests.filter((r) => r.headers['x-keywatch-alert-id'] === alert(n).alert_id).length;
    expect([tries(1), tries(2), tries(3)]).toEqual([1, 3, 1]);
  });

  it('enqueues open alerts a stopped run wrote but never enqueued, within the look-back window only', async () => {
    await reset();
    const old = alert(1, { detected_time: chTime(new Date(t.getTime() - 8 * 86_400_000)) });
    await store.insertRows('alerts', [old, alert(2)]);
    expect(await enqueueOpenAlerts({ store, destinations: ['webhook', 'file'], now: clock.now(), since: since() })).toEqual({ webhook: 1, file: 1 });
    expect((await readOutbox(store)).map((r) => [r.destination, r.alertId])).toEqual([
      ['file', alert(2).alert_id],
      ['webhook', alert(2).alert_id],
    ]);
  });

  it('appends alerts to the JSONL file destination once each', async () => {
    await reset();
    const file = join(dir.path, 'alerts.jsonl');
    await store.insertRows('alerts', [alert(1), alert(2)]);
    await enqueueOpenAlerts({ store, destinations: ['file'], now: clock.now(), since: since() });
    const destinations = [jsonlFileDestination(file, RETRY)];
    await deliverPending({ store, destinations, clock, logger: quiet });
    await deliverPending({ store, destinations, clock, logger: quiet });
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; runbook: string });
    expect(lines.map((l) => l.id)).toEqual([alert(1).alert_id, alert(2).alert_id]);
    expect(lines[0]?.runbook).toBe(alert(1).runbook);
  });

  it('backs off exponentially with equal jitter, capped', () => {
    const p: RetryPolicy = { maxAttempts: 10, baseDelayMs: 1_000, maxDelayMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(p, n, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect([1, 2, 3].map((n) => backoffMs(p, n, () => 0))).toEqual([500, 1_000, 2_000]);
    expect(backoffMs(p, 1, () => 0, 30_000)).toBe(30_000);
  });
});
