import { Error as VEGA_ERROR_LEVEL, parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ComplianceReport } from './report.ts';

/**
 * Charts of the report, rendered to SVG on the server: a Vega-Lite spec is compiled to Vega and
 * drawn by a headless `View` (no browser, no canvas). This file is the only one that imports vega.
 *
 * @example const svg = await renderSvg({ data: { values: [{ a: 'x', n: 1 }] }, mark: 'bar', encoding: { x: { field: 'a' }, y: { field: 'n', type: 'quantitative' } } })
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none', logLevel: VEGA_ERROR_LEVEL });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface Chart { id: string; title: string; svg: string }

/** The rotation chart shows the keys with the oldest material only; the CSV lists all of them. */
export const ROTATION_CHART_KEYS = 40;

type Row = Record<string, string | number | boolean | null>;

function bar(title: string, values: Row[], x: string, y: string, opts: { color?: string; xTitle?: string; yTitle?: string } = {}): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: 220,
    data: { values },
    mark: { type: 'bar', tooltip: false },
    encoding: {
      x: { field: x, type: 'nominal', sort: null, title: opts.xTitle ?? x, axis: { labelAngle: -30, labelLimit: 160 } },
      y: { field: y, type: 'quantitative', title: opts.yTitle ?? y },
      ...(opts.color ? { color: { field: opts.color, type: 'nominal' } } : {}),
    },
  };
}

/** The report's charts as SVG, in the order the HTML shows them. Sections without data get no chart. */
export async function reportCharts(r: ComplianceReport): Promise<Chart[]> {
  const specs: { id: string; title: string; spec: TopLevelSpec; has: boolean }[] = [
    { id: 'events-by-source', title: 'Events by source', has: r.scope.sources.length > 0, spec: bar('Events by source', r.scope.sources, 'source', 'events', { yTitle: 'events' }) },
    {
      id: 'keys-by-origin', title: 'Keys by origin', has: r.inventory.keys.length > 0,
      spec: bar('Keys by origin', Object.entries(r.inventory.by_origin).map(([origin, keys]) => ({ origin, keys })), 'origin', 'keys'),
    },
    {
      id: 'rotation-age', title: `Key material age against cryptoperiod (oldest ${Math.min(ROTATION_CHART_KEYS, r.rotation.keys.length)} of ${r.rotation.keys.length} keys)`, has: r.rotation.keys.length > 0,
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: 'Key material age (days); tick: cryptoperiod',
        width: 420,
        height: { step: 14 },
        data: { values: [...r.rotation.keys].sort((a, b) => b.age_days - a.age_days || a.key_id.localeCompare(b.key_id)).slice(0, ROTATION_CHART_KEYS).map((k) => ({ key: k.key_id.length > 48 ? `…${k.key_id.slice(-47)}` : k.key_id, age_days: k.age_days, cryptoperiod_days: k.cryptoperiod_days, status: k.deleted ? 'deleted' : k.overdue ? 'overdue' : 'within period' })) },
        layer: [
          { mark: 'bar', encoding: { y: { field: 'key', type: 'nominal', sort: null, title: null, axis: { labelLimit: 220 } }, x: { field: 'age_days', type: 'quantitative', title: 'days' }, color: { field: 'status', type: 'nominal', scale: { domain: ['within period', 'overdue', 'deleted'], range: ['#4c78a8', '#e45756', '#9d9d9d'] } } } },
          { mark: { type: 'tick', color: 'black', thickness: 2 }, encoding: { y: { field: 'key', type: 'nominal', sort: null }, x: { field: 'cryptoperiod_days', type: 'quantitative' } } },
        ],
      },
    },
    {
      id: 'alerts-by-severity', title: 'Alerts by severity', has: r.alerts.by_severity.length > 0,
      spec: bar('Alerts by severity', r.alerts.by_severity, 'severity', 'alerts'),
    },
    {
      id: 'slo-budget', title: 'SLO error budget remaining (last evaluation)', has: r.slos.slos.some((s) => s.last_budget_remaining !== null),
      spec: bar('SLO error budget remaining', r.slos.slos.filter((s) => s.last_budget_remaining !== null).map((s) => ({ slo: s.tenant ? `${s.display_name} (${s.tenant})` : s.display_name, budget: s.last_budget_remaining })), 'slo', 'budget', { yTitle: 'fraction of budget left' }),
    },
  ];
  const out: Chart[] = [];
  for (const s of specs) if (s.has) out.push({ id: s.id, title: s.title, svg: await renderSvg(s.spec) });
  return out;
}
