import { join } from 'node:path';
import type { DetectConfig } from '../core/config.ts';
import type { Store } from '../storage/store.ts';
import { writeBundle, writeSums } from './bundle.ts';
import { reportCharts } from './charts.ts';
import { printToPdf } from './chromium.ts';
import { renderHtml } from './html.ts';
import { parseQuarter, type ReportPeriod } from './period.ts';
import { buildReport, type ComplianceReport } from './report.ts';

/**
 * Builds the compliance report of `period` and writes its bundle (JSON, CSV, HTML, optional PDF,
 * SHA256SUMS) into `out`, as `keywatch report` and the service's report schedule do.
 *
 * @example const { files } = await writeReport({ store, period: parseQuarter('2026Q3')!, tenant: '', now, detect: config.detect, out: 'reports/2026Q3', pdf: false });
 */
export async function writeReport(o: { store: Store; period: ReportPeriod; tenant: string; now: Date; detect: DetectConfig; out: string; pdf: boolean }): Promise<{ report: ComplianceReport; files: string[] }> {
  const report = await buildReport({ store: o.store, period: o.period, tenant: o.tenant, now: o.now, detect: o.detect });
  const html = renderHtml(report, await reportCharts(report));
  const files = writeBundle(o.out, report, { 'report.html': html });
  if (o.pdf) {
    await printToPdf(join(o.out, 'report.html'), join(o.out, 'report.pdf'));
    writeSums(o.out);
    files.push('report.pdf');
    files.sort();
  }
  return { report, files };
}

/** The calendar quarter (UTC) before the one `now` is in: what a report run on the 1st of a quarter covers. */
export function previousQuarter(now: Date): ReportPeriod {
  const q = Math.floor(now.getUTCMonth() / 3); // 0-based quarter of now
  const year = q === 0 ? now.getUTCFullYear() - 1 : now.getUTCFullYear();
  return parseQuarter(`${year}Q${q === 0 ? 4 : q}`) as ReportPeriod;
}
