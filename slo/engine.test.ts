import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import type { Store } from '../storage/store.ts';
import { parseSpecs, type SloSpec } from './spec.ts';
import { sliQuery } from './sql.ts';
import { evaluateSlos, policiesOf, replaySlos, SLO_DETECTOR, windowsOf } from './engine.ts';
import { durationMs } from './duration.ts';
import { loadWindowTables } from './windows.ts';

let store: Store;
let dir: string;

const T0 = Date.parse('2026-06-10T12:00:00Z');
const MIN = 60_000;
const at = (minutes: number) => new Date(T0 + minutes * MIN);
const ch = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/**
 * `perMinute` decrypt calls on one key in every minute of [from, to), evenly spread; in minutes of
 * [failFrom, failTo) the calls whose index in the minute is listed in `failing` fail.
 */
async function traffic(o: { key: string; from: number; to: number; perMinute: number; failFrom?: number; failTo?: number; failing?: number[]; tenant?: string; latencyMs?: number; operation?: string; source?: string; region?: string }) {
  const minutes = Math.round((o.to - o.from) / MIN);
  await store.exec(
    `INSERT INTO key_events (event_id, event_time, ingest_time, source, tenant, account, region, key_id, operation, operation_class, vendor_operation, principal, principal_type, outcome, error_code, latency_ms)
     SELECT concat({key:String}, ':', toString(number)) AS event_id,
            toDateTime64({from:DateTime64(3)}, 3, 'UTC') + toIntervalMillisecond(intDiv(number, {per:UInt32}) * 60000 + (number % {per:UInt32}) * intDiv(60000, {per:UInt32})) AS t,
            t, {source:String}, {tenant:String}, '111111111111', {region:String}, {key:String}, {op:String}, 'crypto', 'Decrypt', 'arn:aws:iam::111111111111:role/app', 'role',
            if(t >= {ff:DateTime64(3)} AND t < {ft:DateTime64(3)} AND has({failing:Array(UInt32)}, toUInt32(number % {per:UInt32})), 'failure', 'success') AS outcome,
            if(outcome = 'failure', 'KMSInternalException', ''),
            {latency:Float64}
     FROM numbers({n:UInt64})`,
    {
      key: o.key,
      from: ch(o.from),
      per: o.perMinute,
      n: minutes * o.perMinute,
      tenant: o.tenant ?? 'acme',
      region: o.region ?? 'eu-west-1',
      source: o.source ?? 'aws-kms',
      op: o.operation ?? 'decrypt',
      ff: ch(o.failFrom ?? 0),
      ft: ch(o.failTo ?? 0),
      failing: o.failing ?? [],
      latency: o.latencyMs ?? 12,
    },
  );
}

const spec = (yaml: string): SloSpec => {
  const [s] = parseSpecs(yaml, 'test.yaml');
  if (!s) throw new Error('no spec');
  return s;
};

const DECRYPT_999 = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: decrypt-success }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 0.999 }]
  groupBy: [key]
  indicator: { ratio: { total: { operation: [decrypt] }, good: { outcome: [success] } } }
`);

const sloAlerts = () =>
  store.query<{ alert_id: string; status: string; severity: string; key_id: string; first_time: string; resolved_time: string | null; evidence: string }>(
    `SELECT alert_id, status, severity, key_id, toString(first_time) AS first_time, toString(resolved_time) AS resolved_time, evidence FROM alerts FINAL WHERE detector = {d:String} ORDER BY first_time, alert_id`,
    { d: SLO_DETECTOR },
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-slo-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-01-01T00:00:00Z') });
});
beforeEach(async () => {
  for (const t of ['key_events', 'alerts', 'slo_status', 'audit_integrity']) await store.exec(`TRUNCATE TABLE ${t}`);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a burst of decrypt failures against a 99.9% SLO over 30 days', () => {
  // 100 calls a minute for three days and 70 minutes; from T0 for one hour, 3 calls in 100 fail: a burn rate of 30.
  // Over the 1 h window at T0 + m the burn is (3m / 6000) / 0.001 = m / 2, above 14.4 from m = 29 on,
  // when 87 failures have spent 2% of the 30-day budget (0.1% of 30 days at 144,000 calls a day = 4,320).
  // The 5 m window burns 30 until the failures stop at T0 + 60, then 6 · (5 − k) at T0 + 60 + k:
  // 18 at k = 2 (still firing), 12 at k = 3 (resolved).
  beforeEach(async () => {
    await traffic({ key: 'key-a', from: T0 - 3 * 86_400_000, to: T0 + 70 * MIN, perMinute: 100, failFrom: T0, failTo: T0 + 60 * MIN, failing: [0, 33, 66] });
    await traffic({ key: 'key-b', from: T0 - 3 * 86_400_000, to: T0 + 70 * MIN, perMinute: 100 });
  });

  it('pages at minute 29, when 2% of the budget is spent within the hour, and resolves at minute 63', async () => {
    const timeline: string[] = [];
    for (let m = 20; m <= 68; m++) {
      const r = await evaluateSlos({ store, specs: [DECRYPT_999], at: at(m) });
      for (const t of r.transitions) timeline.push(`${m} ${t.change} ${t.action} ${t.group.key_id}`);
    }
    expect(timeline).toEqual(['29 opened page key-a', '63 resolved page key-a']);
    const alerts = await sloAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ status: 'resolved', severity: 'critical', key_id: 'key-a', first_time: ch(T0 + 29 * MIN), resolved_time: ch(T0 + 63 * MIN) });
    const ev = JSON.parse(alerts[0]?.evidence ?? '{}') as { policies: { policy: string; burn_long: number; burn_short: number }[]; windows: Record<string, { good: number; total: number }> };
    expect(ev.policies).toEqual([{ policy: 'page-fast', factor: 14.4, burn_long: 14.5, burn_short: 30 }]);
    expect(ev.windows['1h']).toEqual({ good: 6000 - 87, total: 6000 });
  });

  it('replays a past range minute by minute with the same alert timeline as evaluating each minute', async () => {
    const r = await replaySlos({ store, specs: [DECRYPT_999], from: at(20), to: at(68), stepMinutes: 1, statusEveryMinutes: 10 });
    expect(r.steps).toBe(49);
    expect(r.transitions.map((t) => [t.at, t.change, t.action, t.group.key_id])).toEqual([
      [at(29).toISOString(), 'opened', 'page', 'key-a'],
      [at(63).toISOString(), 'resolved', 'page', 'key-a'],
    ]);
    const alerts = await sloAlerts();
    expect(alerts.map((a) => [a.status, a.first_time, a.resolved_time])).toEqual([['resolved', ch(T0 + 29 * MIN), ch(T0 + 63 * MIN)]]);
    // The burn rates it records are those of an evaluation at that instant.
    const instant = await evaluateSlos({ store, specs: [DECRYPT_999], at: at(30), write: false });
    const [row] = await store.query<{ burn_rate: number }>("SELECT burn_rate['1h'] AS burn_rate FROM slo_status FINAL WHERE key_id = 'key-a' AND evaluated_time = {t:DateTime64(3)}", { t: ch(T0 + 30 * MIN) });
    expect(row?.burn_rate).toBeCloseTo(instant.results.find((g) => g.group.key_id === 'key-a')?.windows.find((w) => w.window === '1h')?.burnRate ?? -1, 9);
    // slo_status every 10 minutes and at the last step: 20, 30, ..., 60, 68.
    const times = await store.query<{ t: string }>("SELECT DISTINCT toString(evaluated_time) AS t FROM slo_status ORDER BY t");
    expect(times.map((x) => x.t)).toEqual([20, 30, 40, 50, 60, 68].map((m) => ch(T0 + m * MIN)));
  });

  it('keeps one alert while the page holds, however often it is evaluated', async () => {
    for (const m of [30, 30, 31, 40, 50]) await evaluateSlos({ store, specs: [DECRYPT_999], at: at(m) });
    const alerts = await sloAlerts();
    expect(alerts.map((a) => [a.status, a.first_time])).toEqual([['open', ch(T0 + 30 * MIN)]]);
  });

  it('writes per-window burn rates and the remaining budget to slo_status', async () => {
    await evaluateSlos({ store, specs: [DECRYPT_999], at: at(30) });
    const rows = await store.query<{ window_name: string; g: string; t: string; br: number; budget_remaining: number; state: string; firing: string[] }>(
      `SELECT w AS window_name, good[w] AS g, total[w] AS t, burn_rate[w] AS br, budget_remaining, state, firing
       FROM slo_status FINAL ARRAY JOIN mapKeys(total) AS w WHERE key_id = 'key-a' ORDER BY t, length(w), w`,
    );
    expect(rows[0]?.firing).toEqual(['page-fast']);
    expect(rows.map((r) => [r.window_name, Number(r.t), Number(r.t) - Number(r.g), Number(r.br.toFixed(4)), r.state])).toEqual([
      ['5m', 500, 15, 30, 'page'],
      ['30m', 3000, 90, 30, 'page'],
      ['1h', 6000, 90, 15, 'page'],
      ['6h', 36000, 90, 2.5, 'page'],
      ['3d', 432000, 90, 0.2083, 'page'],
      ['30d', 435000, 90, 0.2069, 'page'],
    ]);
    // 90 bad of a budget of 0.1% × 435,000 = 435.
    expect(rows[0]?.budget_remaining).toBeCloseTo(1 - 90 / 435, 9);
    const b = await store.query<{ state: string; budget_remaining: number }>("SELECT state, budget_remaining FROM slo_status FINAL WHERE key_id = 'key-b'");
    expect(b).toEqual([{ state: 'ok', budget_remaining: 1 }]);
  });
});

describe('quiet keys, no data and a 100% objective', () => {
  it('does not page on one failure of a key with little traffic', async () => {
    await traffic({ key: 'quiet', from: T0 - 10 * MIN, to: T0, perMinute: 2, failFrom: T0 - 2 * MIN, failTo: T0, failing: [0] });
    const r = await evaluateSlos({ store, specs: [DECRYPT_999], at: at(0) });
    expect(r.results.map((g) => [g.group.key_id, g.state])).toEqual([['quiet', 'low_traffic']]);
    expect(r.transitions).toEqual([]);
  });

  it('reports no data for an SLO with no events instead of dividing by zero', async () => {
    const all = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: everything }
spec:
  timeWindow: [{ duration: 7d }]
  objectives: [{ target: 0.99 }]
  indicator: { ratio: { total: { operation: [sign] }, good: { outcome: [success] } } }
`);
    const r = await evaluateSlos({ store, specs: [all], at: at(0) });
    expect(r.results).toHaveLength(1);
    expect(r.results[0]).toMatchObject({ state: 'no_data', budgetRemaining: null });
    expect(r.results[0]?.windows.every((w) => w.total === 0 && w.burnRate === null && w.errorRatio === null)).toBe(true);
    const rows = await store.query<{ n: string; windows: string; nulls: string; budget: number | null }>(
      "SELECT count() AS n, length(mapKeys(burn_rate)) AS windows, arrayCount(x -> x IS NULL, mapValues(burn_rate)) AS nulls, any(budget_remaining) AS budget FROM slo_status WHERE slo = 'everything' GROUP BY windows, nulls",
    );
    expect(rows).toEqual([{ n: '1', windows: '7', nulls: 7, budget: null }]);
  });

  it('fires at once on a failed import under a 100% objective and stores the infinite burn rate', async () => {
    const imports = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: imports }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 1 }]
  minEvents: 1
  minBadEvents: 1
  alerting: { windowTable: false, policies: [{ name: import-failed, action: ticket, burnRate: 1, longWindow: 1d, shortWindow: 1h }] }
  indicator: { ratio: { total: { operation: [import_key_material] }, good: { outcome: [success] } } }
`);
    await traffic({ key: 'byok', from: T0 - 3 * MIN, to: T0 - 1 * MIN, perMinute: 1, operation: 'import_key_material', failFrom: T0 - 2 * MIN, failTo: T0, failing: [0] });
    const r = await evaluateSlos({ store, specs: [imports], at: at(0) });
    expect(r.transitions.map((t) => [t.change, t.action])).toEqual([['opened', 'ticket']]);
    const [row] = await store.query<{ inf: number; budget: number }>("SELECT isInfinite(burn_rate['1h']) AS inf, budget_remaining AS budget FROM slo_status WHERE slo = 'imports'");
    expect(row).toEqual({ inf: 1, budget: 0 });
    // Two hours later the short window holds no import any more: the ticket resolves.
    const later = await evaluateSlos({ store, specs: [imports], at: at(120) });
    expect(later.transitions.map((t) => [t.change, t.action])).toEqual([['resolved', 'ticket']]);
  });
});

describe('one shared scan for ratio and latency SLOs', () => {
  it('gives every SLO the same counts as a query of its own', async () => {
    await traffic({ key: 'a1', from: T0 - 200 * MIN, to: T0, perMinute: 7, failFrom: T0 - 50 * MIN, failTo: T0, failing: [1, 3], latencyMs: 40 });
    await traffic({ key: 'a2', from: T0 - 3000 * MIN, to: T0 - 100 * MIN, perMinute: 3, region: 'us-east-1', latencyMs: 70 });
    await traffic({ key: 'g1', from: T0 - 90 * MIN, to: T0, perMinute: 5, source: 'gcp-kms', tenant: 'globex', operation: 'encrypt', failFrom: T0 - 10 * MIN, failTo: T0, failing: [0] });
    const mk = (name: string, body: string) =>
      spec(`apiVersion: keywatch/v1\nkind: SLO\nmetadata: { name: ${name} }\nspec:\n  timeWindow: [{ duration: ${name.endsWith('7d') ? '7d' : '30d'} }]\n  objectives: [{ target: 0.99 }]\n${body}`);
    const specs = [
      mk('by-key', '  groupBy: [key]\n  indicator: { ratio: { total: { operationClass: [crypto] }, good: { not: { errorKind: [server] } } } }'),
      mk('by-region-7d', '  groupBy: [region, tenant]\n  indicator: { ratio: { total: { operation: [decrypt], not: { source: [gcp-kms] } }, good: { outcome: [success] } } }'),
      mk('latency-all', '  indicator: { latency: { thresholdMs: 50 } }'),
      mk('latency-by-source-7d', '  groupBy: [source]\n  indicator: { latency: { thresholdMs: 60, filter: { tenant: [acme] } } }'),
      mk('encrypt-only', '  groupBy: [tenant, source]\n  indicator: { ratio: { total: { operation: [encrypt] }, good: { outcome: [success] } } }'),
    ];
    const r = await evaluateSlos({ store, specs, at: at(0), write: false });
    const tables = loadWindowTables();
    for (const sp of specs) {
      const labels = windowsOf(sp, policiesOf(sp, tables));
      const q = sliQuery(sp.spec.indicator, sp.spec.groupBy, labels.map((l) => ({ name: l, from: new Date(at(0).getTime() - durationMs(l)) })), at(0));
      const own = await store.query<Record<string, string>>(q.sql, q.params);
      const expected = own.map((row) => [[row.tenant, row.source, row.region, row.key_id].join('|'), labels.map((l, i) => [l, Number(row[`good_${i}`]), Number(row[`total_${i}`])])]);
      const got = r.results.filter((g) => g.slo === sp.metadata.name).map((g) => [[g.group.tenant, g.group.source, g.group.region, g.group.key_id].join('|'), g.windows.map((w) => [w.window, w.good, w.total])]);
      expect(got, sp.metadata.name).toEqual(expected);
      expect(got.length, sp.metadata.name).toBeGreaterThan(0);
    }
  });
});

describe('other indicators', () => {
  it('filters on columns it does not group by', async () => {
    await traffic({ key: 'k1', from: T0 - 60 * MIN, to: T0, perMinute: 10, source: 'gcp-kms', region: 'europe-west3' });
    await traffic({ key: 'k2', from: T0 - 60 * MIN, to: T0, perMinute: 5, source: 'aws-kms', region: 'eu-west-1' });
    const bySource = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: gcp-only }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 0.999 }]
  indicator: { ratio: { total: { source: [gcp-kms], region: [europe-west3], tenant: [acme], keyId: [k1] }, good: { outcome: [success] } } }
`);
    const r = await evaluateSlos({ store, specs: [bySource], at: at(0) });
    expect(r.results.map((g) => [g.group, g.windows.find((w) => w.window === '1h')?.total])).toEqual([[{ tenant: '', source: '', region: '', key_id: '' }, 600]]);
  });

  it('counts only failures that are the key service\'s fault when the good filter says so', async () => {
    await traffic({ key: 'k', from: T0 - 60 * MIN, to: T0, perMinute: 10, failFrom: T0 - 60 * MIN, failTo: T0, failing: [0] });
    await store.exec("ALTER TABLE key_events UPDATE error_code = 'AccessDeniedException' WHERE outcome = 'failure' AND toMinute(event_time) % 2 = 0 SETTINGS mutations_sync = 2");
    const avail = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: avail }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 0.999 }]
  indicator: { ratio: { total: { operation: [decrypt] }, good: { not: { errorKind: [server] } } } }
`);
    const r = await evaluateSlos({ store, specs: [avail], at: at(0) });
    // 60 failures: 30 KMSInternalException (the service's fault) and 30 AccessDeniedException (the caller's).
    expect(r.results[0]?.windows.find((w) => w.window === '1h')).toMatchObject({ good: 570, total: 600 });
  });

  it('counts latency at or under the threshold as good', async () => {
    await traffic({ key: 'fast', from: T0 - 60 * MIN, to: T0, perMinute: 10, latencyMs: 50 });
    await traffic({ key: 'slow', from: T0 - 60 * MIN, to: T0, perMinute: 10, latencyMs: 51 });
    const lat = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: latency }
spec:
  timeWindow: [{ duration: 28d }]
  objectives: [{ target: 0.95 }]
  groupBy: [key]
  indicator: { latency: { thresholdMs: 50 } }
`);
    const r = await evaluateSlos({ store, specs: [lat], at: at(0) });
    expect(r.results.map((g) => [g.group.key_id, g.windows.find((w) => w.window === '1h')?.good, g.state])).toEqual([
      ['fast', 600, 'ok'],
      ['slow', 0, 'page'],
    ]);
  });

  it('counts HSM records missing from a sequence against audit-log completeness', async () => {
    await traffic({ key: 'hsm-key', from: T0 - 60 * MIN, to: T0, perMinute: 10, source: 'aws-cloudhsm' });
    await store.insertRows('audit_integrity', [
      { detected_time: ch(T0), tenant: 'acme', source: 'aws-cloudhsm', stream: 'hsm-1', kind: 'sequence_gap', epoch: '0x1', from_position: 100, to_position: 129, missing: 30, before_time: ch(T0 - 31 * MIN), after_time: ch(T0 - 30 * MIN), before_event_id: 'a', after_event_id: 'b', detail: '' },
    ]);
    const comp = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: completeness }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 0.9999 }]
  groupBy: [source]
  minEvents: 1
  indicator: { auditCompleteness: {} }
`);
    const r = await evaluateSlos({ store, specs: [comp], at: at(0) });
    expect(r.results.map((g) => [g.group.source, g.windows.find((w) => w.window === '1h')])).toEqual([
      ['aws-cloudhsm', { window: '1h', good: 600, total: 630, errorRatio: 30 / 630, burnRate: expect.closeTo(30 / 630 / 0.0001, 6) }],
    ]);
  });

  it('measures incident recovery from detector alerts: resolved in time is good, open past the threshold is bad', async () => {
    const alert = (id: string, first: number, status: string, resolved: number | null, severity = 'high') => ({
      alert_id: id, detected_time: ch(first), detector: 'key-disabled-or-deleted', title: 't', severity, score: 90, tenant: 'acme', key_id: 'k', principal: 'p',
      first_time: ch(first), last_time: ch(first), event_count: 1, event_ids: [], evidence: '{}', runbook: 'r', status, suppressed_by: '', resolved_time: resolved === null ? null : ch(resolved),
    });
    await store.insertRows('alerts', [
      alert('fast', T0 - 600 * MIN, 'resolved', T0 - 540 * MIN),
      alert('slow', T0 - 600 * MIN, 'resolved', T0 - 300 * MIN),
      alert('stuck', T0 - 300 * MIN, 'open', null),
      alert('young', T0 - 60 * MIN, 'open', null),
      alert('low', T0 - 600 * MIN, 'open', null, 'low'),
    ]);
    const rec = spec(`
apiVersion: keywatch/v1
kind: SLO
metadata: { name: recovery }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 0.9 }]
  minEvents: 1
  indicator: { alertRecovery: { thresholdMinutes: 240, severities: [high, critical] } }
`);
    const r = await evaluateSlos({ store, specs: [rec], at: at(0) });
    expect(r.results[0]?.windows.find((w) => w.window === '30d')).toMatchObject({ good: 1, total: 3 });
  });
});
