import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../core/clock.ts';
import { loadConfig } from '../core/config.ts';
import { ingest } from '../ingest/pipeline.ts';
import type { Input } from '../ingest/transports/file.ts';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import type { Store } from '../storage/store.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';
import { toCsv, writeBundle, writeSums } from './bundle.ts';
import { reportCharts } from './charts.ts';
import { findChromium, printToPdf, screenshot } from './chromium.ts';
import { renderHtml } from './html.ts';
import { parseQuarter } from './period.ts';
import { buildReport, reportTables, type ComplianceReport } from './report.ts';

const SLOW_TEST_MS = 180_000;
const dir = tempDir('keywatch-report-');
let store: Store;
let report: ComplianceReport;

const ACCOUNT = '111111111111';
const key = (k: string): string => `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${k}`;
const OPS = 'arn:aws:iam::111111111111:user/ops';
const APP = 'arn:aws:iam::111111111111:role/app';
const PARTNER = 'arn:aws:iam::444455556666:role/partner';

let n = 0;
function ev(time: string, operation: string, keyId: string, principal: string, extra: Record<string, unknown> = {}): string {
  n++;
  return JSON.stringify({
    source: 'aws-kms', event_time: time, operation, outcome: 'success', key_id: keyId, account: ACCOUNT, region: 'eu-west-1', tenant: 'acme',
    principal, principal_type: 'role', event_id: `ev-${n}`, ...extra,
  });
}

// acme's keys in 2026Q3: `old` created in 2025 and never rotated (overdue at the end of the quarter
// with the 365-day default), `byok` imported in the quarter then disabled, an HSM key; a partner
// account decrypting with `old`; and events outside the quarter or of another tenant.
const EVENTS = [
  ev('2025-06-01T00:00:00Z', 'create_key', key('old'), OPS),
  ev('2026-05-01T00:00:00Z', 'encrypt', key('old'), APP),
  ev('2026-07-02T10:00:00Z', 'encrypt', key('old'), APP),
  ev('2026-07-03T10:00:00Z', 'decrypt', key('old'), PARTNER, { attributes: { caller_account: '444455556666' } }),
  ev('2026-07-05T09:00:00Z', 'create_key', key('byok'), OPS, { region: 'eu-central-1' }),
  ev('2026-07-05T09:05:00Z', 'import_key_material', key('byok'), OPS, { region: 'eu-central-1' }),
  ev('2026-08-10T12:00:00Z', 'decrypt', key('byok'), APP, { region: 'eu-central-1', outcome: 'failure', error_code: 'AccessDeniedException' }),
  ev('2026-09-20T12:00:00Z', 'disable_key', key('byok'), OPS, { region: 'eu-central-1' }),
  ev('2026-08-01T00:00:00Z', 'sign', 'luna:partition-1/signing', 'crypto-officer', { source: 'luna-hsm', account: 'partition-1', region: '' }),
  ev('2026-10-02T00:00:00Z', 'schedule_deletion', key('old'), OPS),
  ev('2026-07-10T00:00:00Z', 'encrypt', key('other'), APP, { tenant: 'globex' }),
];

function memoryInput(lines: string[]): Input {
  const data = Buffer.from(lines.join('\n') + '\n');
  return { transport: 'file', origin: 'events.ndjson', chunks: (async function* () { yield data; })(), bytesRead: () => data.length };
}

const alert = (id: string, severity: string, first: string, resolved: string | null) => ({
  alert_id: id, detected_time: first, detector: 'key-disabled-or-deleted', title: 't', severity, score: 1, tenant: 'acme', key_id: key('byok'), principal: OPS,
  first_time: first, last_time: first, event_count: 1, event_ids: [], evidence: '{}', runbook: '', status: resolved ? 'resolved' : 'open', suppressed_by: '', resolved_time: resolved,
});

beforeAll(async () => {
  store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
  await migrate(store);
  await ingest([memoryInput(EVENTS)], { store, clock: fixedClock('2026-10-05T00:00:00Z'), format: 'keywatch-json', tenants: {}, defaultTenant: 'default', batchBytes: 1 << 20, maxRecordBytes: 1 << 20 });
  await store.insertRows('alerts', [
    alert('a-high', 'high', '2026-09-20 12:00:00.000', '2026-09-20 14:00:00.000'),
    alert('a-crit', 'critical', '2026-08-01 00:00:00.000', '2026-08-01 06:00:00.000'),
    alert('a-low', 'low', '2026-07-03 10:00:00.000', null),
    alert('a-q2', 'high', '2026-06-03 10:00:00.000', null),
  ]);
  await store.insertRows('attestations', [
    { verified_at: '2026-07-06 00:00:00.000', tenant: 'acme', key_id: key('byok'), format: 'marvell', verdict: 'valid', policy: 'allowed', failed_checks: [], warnings: [], evidence: '{}', anchors: [], input_sha256: 'ab' },
  ]);
  const slo = (t: string, state: string, budget: number) => ({
    evaluated_time: t, slo: 'kms-availability', display_name: 'KMS availability', period: '30d', objective: 0.999, tenant: 'acme', source: '', region: '', key_id: '',
    state, budget_remaining: budget, good: {}, total: {}, error_ratio: {}, burn_rate: {}, firing: [], written_time: t,
  });
  await store.insertRows('slo_status', [slo('2026-07-01 00:00:00.000', 'ok', 0.9), slo('2026-08-01 00:00:00.000', 'firing', 0.2), slo('2026-09-01 00:00:00.000', 'ok', 0.5)]);
  const period = parseQuarter('2026Q3');
  if (!period) throw new Error('quarter did not parse');
  report = await buildReport({ store, period, tenant: 'acme', now: new Date('2026-11-01T00:00:00Z'), detect: loadConfig({ env: {} }).detect });
}, SLOW_TEST_MS);

afterAll(async () => {
  await store?.close();
  dir.remove();
});

const count = async (sql: string): Promise<number> => Number((await store.query<{ n: string }>(sql))[0]?.n);
const Q3 = `tenant = 'acme' AND event_time >= '2026-07-01 00:00:00' AND event_time < '2026-10-01 00:00:00'`;

describe('the quarterly compliance report', () => {
  it('parses quarters into UTC bounds and refuses anything else', () => {
    expect(parseQuarter('2026Q3')).toEqual({ label: '2026Q3', from: new Date('2026-07-01T00:00:00Z'), to: new Date('2026-10-01T00:00:00Z') });
    expect(parseQuarter('2026-q4')?.to).toEqual(new Date('2027-01-01T00:00:00Z'));
    expect(parseQuarter('2026Q5')).toBeUndefined();
  });

  it('counts the same events, keys and sources as SQL over the quarter, of the tenant only', async () => {
    expect(report.scope.sources.map((s) => [s.source, s.events])).toEqual([['aws-kms', await count(`SELECT count() AS n FROM key_events FINAL WHERE ${Q3} AND source = 'aws-kms'`)], ['luna-hsm', 1]]);
    expect(report.scope.sources.reduce((s, r) => s + r.events, 0)).toBe(await count(`SELECT count() AS n FROM key_events FINAL WHERE ${Q3}`));
    expect(report.inventory.keys.length).toBe(await count(`SELECT uniqExact(key_id) AS n FROM key_events FINAL WHERE ${Q3}`));
    expect(report.scope.chain).toMatchObject({ ok: true, batches: 1 });
  });

  it('tells BYOK, provider and HSM keys apart and lists their regions', () => {
    expect(report.inventory.keys.map((k) => [k.key_id.split(/[/]/).pop(), k.origin, k.regions])).toEqual([
      ['byok', 'byok', 'eu-central-1'],
      ['old', 'provider', 'eu-west-1'],
      ['signing', 'hsm', ''],
    ]);
    expect(report.inventory.by_origin).toEqual({ byok: 1, provider: 1, hsm: 1 });
  });

  it('lists the key created in 2025 and never rotated as overdue against the 365-day cryptoperiod', () => {
    const overdue = report.rotation.keys.filter((k) => k.overdue).map((k) => k.key_id);
    expect(overdue).toEqual([key('old')]);
    expect(report.rotation.overdue).toBe(1);
    expect(report.rotation.keys.find((k) => k.key_id === key('byok'))).toMatchObject({ overdue: false, byok: true, evidence: 'imported', cryptoperiod_days: 365 });
    expect(report.rotation.as_of).toBe('2026-09-30T23:59:59.999Z');
  });

  it('marks new and cross-account principals in the access review', async () => {
    expect(report.access.key_principal_pairs).toBe(await count(`SELECT uniqExact(key_id, principal) AS n FROM key_events FINAL WHERE ${Q3}`));
    const row = (k: string, p: string) => report.access.rows.find((r) => r.key_id === k && r.principal === p);
    expect(row(key('old'), APP)).toMatchObject({ new_in_quarter: false, cross_account: false, events: 1 });
    expect(row(key('old'), PARTNER)).toMatchObject({ new_in_quarter: true, cross_account: true, caller_accounts: '444455556666' });
    expect(row(key('byok'), APP)).toMatchObject({ failures: 1 });
    expect(report.access.cross_account_pairs).toBe(1);
  });

  it('logs the lifecycle events of the quarter and flags the destructive one', async () => {
    expect(report.admin_operations.total).toBe(await count(`SELECT count() AS n FROM key_events FINAL WHERE ${Q3} AND operation_class IN ('lifecycle', 'policy', 'admin')`));
    expect(report.admin_operations.events.filter((e) => e.destructive).map((e) => e.operation)).toEqual(['disable_key']);
  });

  it('counts alerts by severity and computes the time to resolve from resolved_time', () => {
    expect(report.alerts.total).toBe(3);
    expect(report.alerts.by_severity.map((s) => [s.severity, s.alerts, s.resolved, s.mttr_hours])).toEqual([['critical', 1, 1, 6], ['high', 1, 1, 2], ['low', 1, 0, null]]);
    expect(report.alerts.mttr_hours).toBe(4);
    expect(report.alerts.incidents.map((i) => [i.alert_id, i.hours_to_resolve])).toEqual([['a-crit', 6], ['a-high', 2]]);
  });

  it('summarises attestations and SLO budgets of the quarter', () => {
    expect(report.attestations.by_verdict).toEqual([{ verdict: 'valid', count: 1 }]);
    expect(report.slos.slos).toEqual([
      expect.objectContaining({ slo: 'kms-availability', evaluations: 3, firing_evaluations: 1, last_state: 'ok', last_budget_remaining: 0.5, min_budget_remaining: 0.2 }),
    ]);
  });

  it('maps the evidence to controls, with the overdue key an exception to the cryptoperiod controls', () => {
    const status = Object.fromEntries(report.controls.map((c) => [c.control, c.status]));
    expect(status['3.7']).toBe('exceptions');
    expect(status['5.3 Cryptoperiods']).toBe('exceptions');
    expect(status['KMS_KEY_NOT_ROTATED']).toBe('no_evidence');
    expect(report.controls.map((c) => c.framework)).toEqual(expect.arrayContaining(['PCI DSS v4.0', 'NIST SP 800-57 Part 1 Rev. 5', 'SOC 2 (2017 TSC)']));
  });

  it('writes a JSON bundle, one CSV per table and a SHA256SUMS that sha256sum -c accepts', () => {
    const out = join(dir.path, 'out');
    const files = writeBundle(out, report);
    expect(files).toContain('report.json');
    expect(files).toContain('rotation_overdue.csv');
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ComplianceReport;
    expect(json.rotation.overdue).toBe(1);
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8');
    expect(sums.trim().split('\n')).toHaveLength(files.length - 1);
    expect(execFileSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' })).not.toMatch(/FAILED/);
    for (const [name, t] of Object.entries(reportTables(report))) {
      const lines = readFileSync(join(out, `${name}.csv`), 'utf8').trimEnd().split('\r\n');
      expect(lines.length, name).toBe(t.rows.length + 1);
      expect(lines[0], name).toBe(t.columns.join(','));
      // Every field of a row is a column of its CSV.
      for (const row of t.rows) expect(t.columns, name).toEqual(expect.arrayContaining(Object.keys(row)));
    }
    expect(readFileSync(join(out, 'coverage_gaps.csv'), 'utf8')).toBe('tenant,source,account,key_id,reason,admin_events,data_events,window_start,window_end,hint\r\n');
  });

  it('quotes CSV cells with separators and defuses cells a spreadsheet would run as formulas', () => {
    expect(toCsv([{ a: 'x,"y"', b: '=HYPERLINK("x")', c: -1 }], ['a', 'b', 'c'])).toBe('a,b,c\r\n"x,""y""","\'=HYPERLINK(""x"")",-1\r\n');
  });
});

// Under CI a missing chromium fails these tests (findChromium is undefined, the calls throw); on a
// developer machine without it they are skipped.
const browserIt = findChromium() || process.env.CI === 'true' ? it : it.skip;

describe('the HTML and PDF renderings of the report', () => {
  it('draws the charts as SVG with Vega-Lite, one per section with data', async () => {
    const charts = await reportCharts(report);
    expect(charts.map((c) => c.id)).toEqual(['events-by-source', 'keys-by-origin', 'rotation-age', 'alerts-by-severity', 'slo-budget']);
    for (const c of charts) expect(c.svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    // The rotation chart has one bar per key: its axis names the overdue key.
    expect(charts.find((c) => c.id === 'rotation-age')?.svg).toContain('key/old');
  }, SLOW_TEST_MS);

  it('writes a self-contained page that escapes event values', async () => {
    const html = renderHtml({ ...report, tenant: '<script>alert(1)</script>' }, await reportCharts(report));
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toMatch(/(src|href)="https?:/);
  }, SLOW_TEST_MS);

  browserIt('renders in headless chromium (screenshot) and prints to a PDF whose text has the sections and figures', async () => {
    const out = join(dir.path, 'rendered');
    writeBundle(out, report, { 'report.html': renderHtml(report, await reportCharts(report)) });
    const html = join(out, 'report.html');
    const png = join(dir.path, 'report.png');
    await screenshot(html, png, { width: 1280, height: 1600 });
    const image = readFileSync(png);
    expect(image.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(image.length).toBeGreaterThan(10_000);

    await printToPdf(html, join(out, 'report.pdf'));
    writeSums(out);
    expect(readFileSync(join(out, 'SHA256SUMS'), 'utf8')).toMatch(/ {2}report\.pdf\n/);
    const text = execFileSync('pdftotext', ['-layout', join(out, 'report.pdf'), '-'], { encoding: 'utf8' });
    for (const heading of ['Scope and data completeness', 'Key inventory', 'Rotation adherence', 'Access review', 'Destructive and administrative operations', 'Attestation evidence', 'SLO attainment', 'Alerts and incidents', 'Control mapping']) {
      expect(text).toContain(heading);
    }
    expect(text).toMatch(/Keys past cryptoperiod\s+1\b/);
    expect(text, text.slice(text.indexOf('Control mapping'))).toContain('PCI DSS v4.0');
    expect(text).toMatch(/Mean time to resolve \(hours\)\s+4\b/);
  }, SLOW_TEST_MS);
});
