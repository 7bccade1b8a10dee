import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Config, type DetectConfig } from '../core/config.ts';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import type { Store } from '../storage/store.ts';
import { event } from './cases.ts';
import type { Detector, Finding } from './detector.ts';
import { resolveAlerts } from './alert-feed.ts';
import { runDetectors, suppression } from './engine.ts';
import { alertsToJsonl } from './outputs/jsonl.ts';

// The engine with a plain detector: one finding per failed event it is shown.
const failures: Detector = {
  id: 'test-failures',
  title: 'Failed key operation',
  severity: 'medium',
  description: 'test detector',
  runbook: 'look at it',
  references: ['none'],
  falsePositives: ['none'],
  dedupeMinutes: 60,
  async run(ctx) {
    const rows = await ctx.store.query<{ tenant: string; key_id: string; principal: string; first: string; last: string; n: string; ids: string[] }>(
      `SELECT tenant, key_id, principal, toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n, groupArray(event_id) AS ids
       FROM key_events WHERE (${ctx.scope.sql}) AND outcome = 'failure' AND (${ctx.notInternal})
       GROUP BY tenant, key_id, principal, toStartOfHour(event_time) ORDER BY first`,
      ctx.scope.params,
    );
    return rows.map((r): Finding => ({ tenant: r.tenant, key_id: r.key_id, principal: r.principal, first_time: r.first, last_time: r.last, score: 50, event_count: Number(r.n), event_ids: r.ids, evidence: { n: Number(r.n) } }));
  },
};
const needsHistory: Detector = { ...failures, id: 'test-needs-history', historyDays: 14 };

let store: Store;
let dir: string;
const base: DetectConfig = Config.parse({}).detect;
const fail = (t: string, extra: Parameters<typeof event>[0] | object = {}) => event({ event_time: t, outcome: 'failure', error_code: 'AccessDenied', ...extra });
const openAlerts = async () => store.query<{ alert_id: string; event_count: string; first_time: string; last_time: string; status: string; suppressed_by: string }>(
  "SELECT alert_id, event_count, toString(first_time) AS first_time, toString(last_time) AS last_time, status, suppressed_by FROM alerts FINAL ORDER BY first_time",
);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-engine-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-01-01T00:00:00Z') });
});
beforeEach(async () => {
  for (const t of ['key_events', 'alerts', 'detector_state']) await store.exec(`TRUNCATE TABLE ${t}`);
});
afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the detector engine', () => {
  it('looks back only initialLookbackHours on a first run, so a new deployment does not page on its history', async () => {
    await store.insertRows('key_events', [fail('2026-03-01 08:00:00.000'), fail('2026-03-02 11:00:00.000')]);
    const r = await runDetectors({ store, now: new Date('2026-03-02T12:00:00Z'), config: base, detectors: [failures] });
    expect(r.alerts.map((a) => a.first_time)).toEqual(['2026-03-02 11:00:00.000']);
    expect(r.runs[0]).toMatchObject({ status: 'ran', alerts: 1, scope: { incremental: true } });
  });

  it('then examines only events ingested after its watermark, including late events, and grows an alert found again', async () => {
    const now1 = new Date('2026-03-02T12:00:00Z');
    await store.insertRows('key_events', [fail('2026-03-02 11:10:00.000', { ingest_time: '2026-03-02 11:10:01.000' })]);
    await runDetectors({ store, now: now1, config: base, detectors: [failures] });
    // A second run with nothing new finds nothing.
    expect((await runDetectors({ store, now: new Date('2026-03-02T12:05:00Z'), config: base, detectors: [failures] })).alerts).toEqual([]);
    // A late event of the same hour, ingested after the watermark, joins the same alert.
    await store.insertRows('key_events', [fail('2026-03-02 11:20:00.000', { ingest_time: '2026-03-02 12:07:00.000' })]);
    const r3 = await runDetectors({ store, now: new Date('2026-03-02T12:10:00Z'), config: base, detectors: [failures] });
    expect(r3.alerts).toHaveLength(1);
    const rows = await openAlerts();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ event_count: '2', first_time: '2026-03-02 11:10:00.000', last_time: '2026-03-02 11:20:00.000' });
  });

  it('does not skip a batch stamped before a run that became visible only after it (a write in flight during the run)', async () => {
    await store.insertRows('key_events', [fail('2026-03-02 11:10:00.000', { ingest_time: '2026-03-02 11:10:01.000', key_id: 'k-seen' })]);
    await runDetectors({ store, now: new Date('2026-03-02T12:00:00Z'), config: base, detectors: [failures] });
    const [wm] = await store.query<{ w: string }>("SELECT toString(max(watermark)) AS w FROM detector_state WHERE detector = 'test-failures'");
    // The watermark stops at the newest stamp the run could see, not at the run's clock.
    expect(wm?.w).toBe('2026-03-02 11:10:01.000');
    // A batch stamped at 11:59:58, while the run was going, whose INSERT finished after it.
    await store.insertRows('key_events', [fail('2026-03-02 11:59:00.000', { ingest_time: '2026-03-02 11:59:58.000', key_id: 'k-in-flight' })]);
    const r = await runDetectors({ store, now: new Date('2026-03-02T12:01:00Z'), config: base, detectors: [failures] });
    expect(r.alerts.map((a) => a.key_id)).toEqual(['k-in-flight']);
  });

  it('gives the same alert ids for the same events, so re-running a range replaces rather than adds', async () => {
    await store.insertRows('key_events', [fail('2026-03-02 09:00:00.000'), fail('2026-03-02 10:30:00.000', { principal: 'other' })]);
    const range = { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-03T00:00:00Z') };
    const a = await runDetectors({ store, now: new Date('2026-03-03T00:00:00Z'), config: base, detectors: [failures], range });
    const b = await runDetectors({ store, now: new Date('2026-03-03T01:00:00Z'), config: base, detectors: [failures], range });
    expect(b.alerts.map((x) => x.alert_id)).toEqual(a.alerts.map((x) => x.alert_id));
    expect(await openAlerts()).toHaveLength(2);
    // Range runs do not move the watermark.
    const [state] = await store.query<{ n: string }>('SELECT count() AS n FROM detector_state');
    expect(Number(state?.n)).toBe(0);
  });

  it('keeps an alert an analyst resolved resolved when a re-run finds the same evidence, and reopens it on later evidence', async () => {
    await store.insertRows('key_events', [fail('2026-03-02 09:00:00.000')]);
    const range = { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-03T00:00:00Z') };
    const [first] = (await runDetectors({ store, now: new Date('2026-03-03T00:00:00Z'), config: base, detectors: [failures], range })).alerts;
    expect([first?.status, first?.principal, first?.first_time]).toEqual(['open', 'arn:aws:iam::111122223333:role/app', '2026-03-02 09:00:00.000']);
    await resolveAlerts(store, [first?.alert_id ?? ''], new Date('2026-03-03T00:30:00Z'), 'handled');
    const again = await runDetectors({ store, now: new Date('2026-03-03T01:00:00Z'), config: base, detectors: [failures], range });
    expect(again.alerts).toEqual([]);
    const [kept] = await store.query<{ status: string }>('SELECT status FROM alerts FINAL');
    expect(kept?.status).toBe('resolved');
    // A new failure in the same bucket is the problem coming back: the alert reopens.
    await store.insertRows('key_events', [fail('2026-03-02 09:20:00.000')]);
    const back = await runDetectors({ store, now: new Date('2026-03-03T02:00:00Z'), config: base, detectors: [failures], range });
    expect(back.alerts.map((a) => [a.alert_id, a.status])).toEqual([[first?.alert_id, 'open']]);
    const [reopened] = await store.query<{ status: string; resolved_time: string | null }>('SELECT status, resolved_time FROM alerts FINAL');
    expect(reopened).toEqual({ status: 'open', resolved_time: null });
  });

  it('leaves provider-internal callers out unless configured to include them', async () => {
    await store.insertRows('key_events', [fail('2026-03-02 11:00:00.000', { principal: 'AWS Internal', principal_type: 'internal' })]);
    const now = new Date('2026-03-02T12:00:00Z');
    const range = { from: new Date('2026-03-02T00:00:00Z'), to: now };
    expect((await runDetectors({ store, now, config: base, detectors: [failures], range })).alerts).toEqual([]);
    expect((await runDetectors({ store, now, config: { ...base, includeInternalCallers: true }, detectors: [failures], range })).alerts).toHaveLength(1);
  });

  it('stores allow-listed alerts and those inside a maintenance window as suppressed, with the reason', async () => {
    await store.insertRows('key_events', [
      fail('2026-03-02 09:00:00.000', { principal: 'arn:aws:iam::111122223333:role/ci-tests' }),
      fail('2026-03-02 10:00:00.000', { key_id: 'k-maint' }),
      fail('2026-03-02 11:00:00.000', { key_id: 'k-other' }),
    ]);
    const config: DetectConfig = {
      ...base,
      allow: [{ principal: '*role/ci-*', reason: 'CI exercises failure paths' }],
      maintenance: [{ key_id: 'k-maint', from: '2026-03-02T09:30:00Z', to: '2026-03-02T10:30:00Z', reason: 'planned rotation CHG-1' }],
    };
    const r = await runDetectors({ store, now: new Date('2026-03-02T12:00:00Z'), config, detectors: [failures], range: { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-03T00:00:00Z') } });
    expect(r.runs[0]).toMatchObject({ alerts: 1, suppressed: 2 });
    expect((await openAlerts()).map((a) => a.suppressed_by)).toEqual(['allow-list: CI exercises failure paths', 'maintenance window: planned rotation CHG-1', '']);
    expect(alertsToJsonl(r.alerts).trim().split('\n')).toHaveLength(1);
  });

  it('an allow-list entry past its `until` no longer suppresses', () => {
    const config: DetectConfig = { ...base, allow: [{ tenant: 'acme', reason: 'temporary', until: '2026-03-01T00:00:00Z' }] };
    const a = { detector: 'x', tenant: 'acme', key_id: 'k', principal: 'p', first_time: '2026-03-02 00:00:00.000', last_time: '2026-03-02 00:00:00.000' };
    expect(suppression(config, a, new Date('2026-02-28T00:00:00Z'))).toBe('allow-list: temporary');
    expect(suppression(config, a, new Date('2026-03-02T00:00:00Z'))).toBe('');
  });

  it('keeps a detector that needs history quiet until the store holds that much', async () => {
    await store.insertRows('key_events', [fail('2026-03-01 11:00:00.000'), fail('2026-03-02 11:00:00.000')]);
    const r = await runDetectors({ store, now: new Date('2026-03-02T12:00:00Z'), config: base, detectors: [needsHistory] });
    expect(r.runs[0]).toMatchObject({ status: 'waiting_for_history', alerts: 0 });
    await store.insertRows('key_events', [event({ event_time: '2026-02-10 00:00:00.000' })]);
    const later = await runDetectors({ store, now: new Date('2026-03-02T12:30:00Z'), config: base, detectors: [needsHistory], range: { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-03T00:00:00Z') } });
    expect(later.runs[0]).toMatchObject({ status: 'ran', alerts: 1 });
  });

  it('writes open alerts as JSON lines with RFC 3339 times and parsed evidence', async () => {
    await store.insertRows('key_events', [fail('2026-03-02 11:00:00.000')]);
    const r = await runDetectors({ store, now: new Date('2026-03-02T12:00:00Z'), config: base, detectors: [failures] });
    const [line] = alertsToJsonl(r.alerts).trim().split('\n');
    expect(JSON.parse(line as string)).toMatchObject({ detector: 'test-failures', severity: 'medium', first_time: '2026-03-02T11:00:00.000Z', evidence: { n: 1 }, event_count: 1 });
  });

  it('computes work shared by name once per run and again on the next run', async () => {
    let loads = 0;
    const sharing = (id: string): Detector => ({
      ...failures,
      id,
      async run(ctx) {
        const n = await (ctx.shared ?? ((_k, f) => f()))('test-count', async () => {
          loads++;
          const [row] = await ctx.store.query<{ n: string }>('SELECT count() AS n FROM key_events');
          return Number(row?.n);
        });
        return n === 1 ? [] : [{ tenant: 'acme', key_id: '', principal: '', first_time: '2026-03-02 11:00:00.000', last_time: '2026-03-02 11:00:00.000', score: 1, event_count: n, event_ids: [], evidence: {} }];
      },
    });
    await store.insertRows('key_events', [fail('2026-03-02 11:00:00.000')]);
    const first = await runDetectors({ store, now: new Date('2026-03-02T12:00:00Z'), config: base, detectors: [sharing('test-a'), sharing('test-b')] });
    expect(loads).toBe(1);
    expect(first.runs.map((r) => r.findings)).toEqual([0, 0]);
    await store.insertRows('key_events', [fail('2026-03-02 11:30:00.000')]);
    const second = await runDetectors({ store, now: new Date('2026-03-02T12:30:00Z'), config: base, detectors: [sharing('test-a'), sharing('test-b')] });
    expect(loads).toBe(2);
    expect(second.runs.map((r) => r.findings)).toEqual([1, 1]);
  });
});
