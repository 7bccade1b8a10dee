import type { Chart } from './charts.ts';
import type { ComplianceReport } from './report.ts';

type Cell = string | number | boolean | null;

const esc = (v: Cell): string =>
  v === null ? '' : String(v).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');

// Long tables are cut in the HTML and PDF; the CSV files of the bundle hold every row.
const MAX_ROWS = 200;

// Identifiers (ARNs, hashes, URLs) have no spaces: only they may break anywhere, so ordinary words
// keep their columns wide enough to stay whole.
const td = (v: Cell): string => (typeof v === 'string' && v.length > 24 && !/\s/.test(v) ? `<td class="id">${esc(v)}</td>` : `<td>${esc(v)}</td>`);

function table(rows: readonly Record<string, Cell>[], columns: readonly string[], csv: string): string {
  if (rows.length === 0) return '<p class="empty">None in this quarter.</p>';
  const head = `<tr>${columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const body = rows.slice(0, MAX_ROWS).map((r) => `<tr>${columns.map((c) => td(r[c] ?? null)).join('')}</tr>`).join('\n');
  const more = rows.length > MAX_ROWS ? `<p class="note">First ${MAX_ROWS} of ${rows.length} rows; all of them are in ${esc(csv)}.</p>` : '';
  return `<table><thead>${head}</thead><tbody>\n${body}\n</tbody></table>${more}`;
}

function figures(items: [string, Cell][]): string {
  return `<table class="figures"><tbody>${items.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`;
}

// Charts go in as images (data: URIs): an SVG shown through <img> cannot run script or fetch
// anything, whatever text from the events its labels carry.
function chart(charts: readonly Chart[], id: string): string {
  const c = charts.find((x) => x.id === id);
  return c ? `<figure><img alt="${esc(c.title)}" src="data:image/svg+xml;base64,${Buffer.from(c.svg).toString('base64')}"><figcaption>${esc(c.title)}</figcaption></figure>` : '';
}

/**
 * The report as one self-contained HTML page (inline CSS, charts as data: images, no scripts and
 * no external resources), suitable for printing to PDF.
 */
export function renderHtml(r: ComplianceReport, charts: readonly Chart[]): string {
  const title = `Key management compliance report ${r.quarter}${r.tenant ? ` — ${r.tenant}` : ''}`;
  const totalEvents = r.scope.sources.reduce((s, x) => s + x.events, 0);
  const sections = [
    `<section id="summary"><h2>Summary</h2>${figures([
      ['Period', `${r.period.from} to ${r.period.to} (end exclusive)`],
      ['Tenant', r.tenant || 'all'],
      ['Events', totalEvents],
      ['Keys', r.inventory.keys.length],
      ['Keys past cryptoperiod', r.rotation.overdue],
      ['Alerts', r.alerts.total],
      ['Mean time to resolve (hours)', r.alerts.mttr_hours ?? 'n/a'],
      ['Ingest hash chain', r.scope.chain.ok ? `verified (${r.scope.chain.batches} batches)` : `BROKEN (${r.scope.chain.findings.length} findings)`],
    ])}</section>`,
    `<section id="scope"><h2>1. Scope and data completeness</h2>${chart(charts, 'events-by-source')}
      ${table(r.scope.sources, ['source', 'tenants', 'accounts', 'keys', 'events', 'first_event', 'last_event'], 'sources.csv')}
      <h3>Ingest hash chain</h3>${figures([['Result', r.scope.chain.ok ? 'verified' : 'broken'], ['Batches', r.scope.chain.batches], ['Head', r.scope.chain.head], ['Records quarantined in the quarter', r.scope.quarantined]])}
      ${table(r.scope.chain.findings, ['code', 'message'], 'report.json')}
      <h3>Audit sequence gaps</h3>${table(r.scope.audit_gaps, ['tenant', 'source', 'stream', 'kind', 'from_position', 'to_position', 'missing', 'before_time', 'after_time'], 'audit_gaps.csv')}
      <h3>Coverage gaps</h3>${table(r.scope.coverage_gaps, ['tenant', 'source', 'account', 'key_id', 'reason', 'admin_events', 'data_events', 'hint'], 'coverage_gaps.csv')}</section>`,
    `<section id="inventory"><h2>2. Key inventory</h2>${figures([['BYOK', r.inventory.by_origin.byok], ['Provider', r.inventory.by_origin.provider], ['HSM', r.inventory.by_origin.hsm]])}${chart(charts, 'keys-by-origin')}
      ${table(r.inventory.regions, ['region', 'keys'], 'report.json')}
      ${table(r.inventory.keys, ['tenant', 'key_id', 'source', 'account', 'regions', 'origin', 'events', 'first_event', 'last_event'], 'key_inventory.csv')}</section>`,
    `<section id="rotation"><h2>3. Rotation adherence</h2>${figures([['Evaluated at', r.rotation.as_of], ['Keys evaluated', r.rotation.evaluated], ['Within cryptoperiod', r.rotation.within_period], ['Overdue', r.rotation.overdue], ['Scheduled for deletion or destroyed', r.rotation.deleted]])}
      ${chart(charts, 'rotation-age')}<h3>Overdue keys</h3>
      ${table(r.rotation.keys.filter((k) => k.overdue), ['tenant', 'key_id', 'source', 'cryptoperiod_days', 'age_days', 'material_since', 'evidence', 'schedule', 'byok'], 'rotation_overdue.csv')}</section>`,
    `<section id="access"><h2>4. Access review</h2>${figures([['Principals', r.access.principals], ['Key/principal pairs', r.access.key_principal_pairs], ['New in the quarter', r.access.new_pairs], ['Cross-account', r.access.cross_account_pairs]])}
      <h3>New and cross-account access</h3>${table(r.access.rows.filter((x) => x.new_in_quarter || x.cross_account), ['tenant', 'key_id', 'principal', 'events', 'failures', 'operations', 'new_in_quarter', 'cross_account', 'caller_accounts'], 'access_review.csv')}</section>`,
    `<section id="admin"><h2>5. Destructive and administrative operations</h2>${figures([['Events', r.admin_operations.total], ['Destructive', r.admin_operations.destructive], ['Failed', r.admin_operations.failed]])}
      ${table(r.admin_operations.by_operation, ['operation', 'events'], 'admin_operations.csv')}
      <h3>Destructive operations</h3>${table(r.admin_operations.events.filter((e) => e.destructive), ['event_time', 'tenant', 'key_id', 'operation', 'principal', 'outcome', 'source_ip', 'event_id'], 'admin_operations.csv')}</section>`,
    `<section id="attestations"><h2>6. Attestation evidence</h2>${figures([['Attestations verified', r.attestations.total], ...r.attestations.by_verdict.map((v): [string, Cell] => [v.verdict, v.count])])}
      ${table(r.attestations.rows, ['verified_at', 'tenant', 'key_id', 'format', 'verdict', 'policy', 'failed_checks'], 'attestations.csv')}</section>`,
    `<section id="slos"><h2>7. SLO attainment and error budgets</h2>${chart(charts, 'slo-budget')}
      ${table(r.slos.slos, ['display_name', 'tenant', 'objective', 'period', 'evaluations', 'firing_evaluations', 'last_state', 'last_budget_remaining', 'min_budget_remaining'], 'slo_attainment.csv')}</section>`,
    `<section id="alerts"><h2>8. Alerts and incidents</h2>${figures([['Alerts', r.alerts.total], ['Resolved', r.alerts.resolved], ['Mean time to resolve (hours)', r.alerts.mttr_hours ?? 'n/a']])}${chart(charts, 'alerts-by-severity')}
      ${table(r.alerts.by_severity, ['severity', 'alerts', 'open', 'resolved', 'suppressed', 'mttr_hours'], 'alerts_by_severity.csv')}
      <h3>High and critical incidents</h3>${table(r.alerts.incidents, ['first_time', 'severity', 'detector', 'key_id', 'principal', 'status', 'hours_to_resolve'], 'incidents.csv')}</section>`,
    `<section id="controls"><h2>9. Control mapping</h2>${table(r.controls, ['framework', 'control', 'requirement', 'sections', 'status', 'note'], 'controls.csv')}</section>`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:11px;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:15px;border-bottom:1px solid #999;margin-top:28px}h3{font-size:12px}
table{border-collapse:collapse;width:100%;margin:6px 0;table-layout:auto}th,td{border:1px solid #ccc;padding:2px 4px;text-align:left;vertical-align:top;overflow-wrap:break-word}
td.id{word-break:break-all}th{background:#eee}table.figures{width:auto;min-width:40%}table.figures th{font-weight:normal;width:16em}table.figures td{font-weight:bold}
figure{margin:8px 0;page-break-inside:avoid}img{max-width:100%}.empty,.note{color:#555;font-style:italic}
@media print{section{page-break-inside:auto}h2{page-break-after:avoid}}
</style></head><body>
<h1>${esc(title)}</h1>
<p>Generated ${esc(r.generated_at)} by keywatch from the ${esc(r.store.backend)} store (database ${esc(r.store.database)}). Evidence: report.json and the CSV files beside this page, listed with their digests in SHA256SUMS.</p>
${sections.join('\n')}
</body></html>
`;
}
