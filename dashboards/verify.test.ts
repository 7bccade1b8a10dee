import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DashboardBuilder, type Dashboard, type Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import type { Store } from '../storage/store.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';
import { CLICKHOUSE_DATASOURCE } from './clickhouse-query.ts';
import { tablePanel } from './panels.ts';
import { DASHBOARDS } from './registry.ts';
import { expandMacros, panelQueries, renderQuery, runPanelQueries, substituteVariables, variableQueries, type QueryContext } from './verify.ts';

const BIN = new URL('../bin/keywatch.js', import.meta.url).pathname;

/** Dashboard uids are in every bookmark and link; changing one is a breaking change. */
const GOLDEN_UIDS = ['keywatch-executive', 'keywatch-on-call', 'keywatch-debug', 'keywatch-slo', 'keywatch-attestation'];

const built: Dashboard[] = DASHBOARDS.map((d) => d.build());

describe('macro expansion (grafana-clickhouse-datasource pkg/macros/macros.go)', () => {
  const ctx = { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-02T12:00:00.250Z'), intervalMs: 60_000 };

  it('expands the time filters to unix-second DateTimes, the _ms variants to millisecond DateTime64s', () => {
    expect(expandMacros('WHERE $__timeFilter(event_time)', ctx)).toBe('WHERE event_time >= toDateTime(1793491200) AND event_time <= toDateTime(1793620800)');
    expect(expandMacros('$__timeFilter_ms(t)', ctx)).toBe('t >= fromUnixTimestamp64Milli(1793491200000) AND t <= fromUnixTimestamp64Milli(1793620800250)');
    expect(expandMacros('$__fromTime, $__toTime', ctx)).toBe('toDateTime(1793491200), toDateTime(1793620800)');
    expect(expandMacros('$__dateFilter(d)', ctx)).toBe("d >= toDate('2026-11-01') AND d <= toDate('2026-11-02')");
  });

  it('buckets with toStartOfInterval at the query interval, never below one second', () => {
    expect(expandMacros('$__timeInterval(event_time)', ctx)).toBe('toStartOfInterval(toDateTime(event_time), INTERVAL 60 second)');
    expect(expandMacros('$__interval_s', { ...ctx, intervalMs: 200 })).toBe('1');
    expect(expandMacros('$__timeInterval(toDate(x, 1))', ctx)).toBe('toStartOfInterval(toDateTime(toDate(x, 1)), INTERVAL 60 second)');
  });

  it('rejects a macro the plugin does not have and a wrong argument count', () => {
    expect(() => expandMacros('$__timeGroup(t)', ctx)).toThrow(/unknown macro/);
    expect(() => expandMacros('$__timeFilter(a, b)', ctx)).toThrow(/expects 1 argument/);
  });
});

describe('variable substitution', () => {
  const sql = "x IN (${tenant:singlequote}) AND y = '$key'";

  it('puts the custom all value in unformatted when All is selected', () => {
    expect(substituteVariables(sql, {})).toBe("x IN ('__all') AND y = ''__all''");
  });

  it('quotes each chosen value and escapes quotes in it for :singlequote', () => {
    expect(substituteVariables(sql, { tenant: ['acme', "o'neil"], key: ['k1'] })).toBe("x IN ('acme','o\\'neil') AND y = 'k1'");
  });

  it('leaves Grafana built-ins such as ${__value.raw} alone', () => {
    expect(substituteVariables('${__value.raw} $__timeFilter(t)', {})).toBe('${__value.raw} $__timeFilter(t)');
  });
});

describe('dashboard JSON', () => {
  it('has the golden uids, one per dashboard', () => {
    expect(built.map((d) => d.uid)).toEqual(GOLDEN_UIDS);
  });

  it('is the same JSON on every build', () => {
    expect(JSON.stringify(DASHBOARDS.map((d) => d.build()))).toBe(JSON.stringify(built));
  });

  it('gives every panel a unique id, a grid position and raw-SQL targets on the provisioned datasource', () => {
    for (const d of built) {
      const panels = (d.panels ?? []).filter((p): p is Panel => p.type !== 'row');
      expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
      for (const p of panels) {
        expect(p.gridPos?.w, `${d.uid} / ${p.title}`).toBeGreaterThan(0);
        expect(p.datasource).toEqual(CLICKHOUSE_DATASOURCE);
        expect(p.targets?.length, `${d.uid} / ${p.title}`).toBeGreaterThan(0);
        for (const t of p.targets ?? []) {
          const q = JSON.parse(JSON.stringify(t)) as Record<string, unknown>;
          expect(q).toMatchObject({ editorType: 'sql', datasource: CLICKHOUSE_DATASOURCE });
          expect([0, 1]).toContain(q.format);
          expect(typeof q.rawSql).toBe('string');
        }
      }
      expect(variableQueries(d).map((v) => v.name)).toEqual(['tenant', 'source', 'region', 'key']);
      const text = JSON.stringify(d);
      for (const link of text.matchAll(/\/d\/([\w-]+)\?/g)) expect(GOLDEN_UIDS, `link in ${d.uid}`).toContain(link[1]);
    }
  });
});

describe('every panel query on demo data', () => {
  const dir = tempDir();
  const dataDir = join(dir.path, 'store');
  let store: Store;
  let ctx: QueryContext;

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [BIN, '--data-dir', dataDir, 'demo'], { env: { ...process.env, KEYWATCH_DATA_DIR: '' }, maxBuffer: 16 << 20 });
    store = await openEmbeddedStore({ dataDir });
    // The demo writes the 21 full UTC days before today; the range covers all of them.
    const to = new Date();
    ctx = { from: new Date(to.getTime() - 22 * 86_400_000), to, intervalMs: 3_600_000 };
  }, 600_000);

  afterAll(async () => {
    await store?.close();
    dir.remove();
  });

  it('runs without error and returns rows for every panel with every variable at All', async () => {
    const results = await runPanelQueries(store, built, ctx);
    expect(results.length).toBe(built.flatMap(panelQueries).length);
    for (const r of results) {
      expect(r.error, `${r.dashboard} / ${r.panel}`).toBeUndefined();
      expect(r.rows, `${r.dashboard} / ${r.panel}`).toBeGreaterThan(0);
    }
  });

  it('reports a panel whose SQL fails and one that returns nothing', async () => {
    const broken = new DashboardBuilder('broken')
      .uid('broken')
      .withPanel(tablePanel({ title: 'unknown macro', description: '', sql: 'SELECT $__timeGroup(event_time) FROM key_events' }))
      .withPanel(tablePanel({ title: 'empty', description: '', sql: "SELECT * FROM key_events WHERE $__timeFilter(event_time) AND tenant = 'no-such-tenant'" }))
      .build();
    const [macro, empty] = await runPanelQueries(store, [broken], ctx);
    expect(macro?.error).toMatch(/unknown macro \$__timeGroup/);
    expect(empty).toMatchObject({ rows: 0 });
    expect(empty?.error).toBeUndefined();
  });

  it('offers values for every template variable', async () => {
    for (const d of built) {
      for (const v of variableQueries(d)) {
        const rows = await store.query(renderQuery(v.sql, ctx));
        expect(rows.length, `${d.uid} $${v.name}`).toBeGreaterThan(0);
      }
    }
  });

  it('narrows the rows when a tenant is chosen, and a tenant with no data gives none', async () => {
    const all = await runPanelQueries(store, built, ctx);
    const acme = await runPanelQueries(store, built, { ...ctx, variables: { tenant: ['acme'] } });
    const none = await runPanelQueries(store, built, { ...ctx, variables: { tenant: ['no-such-tenant'] } });
    for (const r of [...acme, ...none]) expect(r.error, r.panel).toBeUndefined();
    const byPanel = (rs: typeof all, panel: string) => rs.find((r) => r.panel === panel)?.rows ?? -1;
    expect(byPanel(acme, 'Failures by principal')).toBeGreaterThan(0);
    expect(byPanel(acme, 'Failures by principal')).toBeLessThan(byPanel(all, 'Failures by principal'));
    expect(byPanel(none, 'Failures by principal')).toBe(0);
    expect(byPanel(none, 'Recent rotations')).toBe(0);
  });

  it('filters the Debug event stream by the principal typed in, and shows every principal when the box is empty', async () => {
    const debug = built.filter((d) => d.uid === 'keywatch-debug');
    const stream = async (principal: string) =>
      (await runPanelQueries(store, debug, { ...ctx, variables: { principal: [principal] } })).find((r) => r.panel === 'Audit event stream');
    const [probe] = await store.query<{ principal: string }>("SELECT principal FROM key_events WHERE source = 'pkcs11-probe' LIMIT 1");
    expect((await stream(''))?.rows).toBe(1000);
    expect((await stream(probe?.principal ?? ''))?.rows).toBeGreaterThan(0);
    expect((await stream("nobody's-principal"))?.rows).toBe(0);
  });
});
