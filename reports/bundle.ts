import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportTables, type ComplianceReport } from './report.ts';

type Cell = string | number | boolean | null;

// A cell a spreadsheet would evaluate as a formula (OWASP "CSV injection") gets a leading quote;
// event values such as principals come from outside and must stay text.
const FORMULA_START = /^[=+\-@\t\r]/;

function csvCell(v: Cell): string {
  if (v === null) return '';
  let s = String(v);
  if (typeof v === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * One table as RFC 4180 CSV with a header row of `columns`.
 *
 * @example toCsv([{ a: 1, b: 'x,y' }], ['a', 'b']) // 'a,b\r\n1,"x,y"\r\n'
 */
export function toCsv(rows: readonly Record<string, Cell>[], columns: readonly string[]): string {
  const cols = columns;
  const lines = [cols.map((c) => csvCell(c)).join(',')];
  for (const r of rows) lines.push(cols.map((c) => csvCell(r[c] ?? null)).join(','));
  return lines.join('\r\n') + '\r\n';
}

export const SUMS_FILE = 'SHA256SUMS';

/** `sha256sum` text (`<hex>  <name>` per line, sorted by name) of every file in `dir` but SHA256SUMS itself. */
export function sha256sums(dir: string): string {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name !== SUMS_FILE)
    .map((e) => e.name)
    .sort();
  return names.map((n) => `${createHash('sha256').update(readFileSync(join(dir, n))).digest('hex')}  ${n}\n`).join('');
}

/**
 * Writes the evidence bundle into `dir`: `report.json`, one CSV per table, any `extra` files (the
 * HTML rendering, the PDF), and last `SHA256SUMS` over all of them. Returns the file names written.
 */
export function writeBundle(dir: string, report: ComplianceReport, extra: Record<string, string | Buffer> = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string | Buffer> = { 'report.json': JSON.stringify(report, null, 2) + '\n' };
  for (const [name, t] of Object.entries(reportTables(report))) files[`${name}.csv`] = toCsv(t.rows, t.columns);
  Object.assign(files, extra);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  writeSums(dir);
  return [...Object.keys(files), SUMS_FILE].sort();
}

/** (Re)writes `dir/SHA256SUMS`, after a file was added to the bundle. */
export function writeSums(dir: string): void {
  writeFileSync(join(dir, SUMS_FILE), sha256sums(dir));
}
