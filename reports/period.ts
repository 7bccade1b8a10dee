/** A calendar quarter in UTC: `from` inclusive, `to` exclusive. */
export interface ReportPeriod {
  label: string;
  from: Date;
  to: Date;
}

/**
 * Parses `2026Q3` (or `2026-Q3`) into its UTC bounds; undefined when the text is not a quarter.
 *
 * @example parseQuarter('2026Q3') // { label: '2026Q3', from: 2026-07-01T00:00Z, to: 2026-10-01T00:00Z }
 */
export function parseQuarter(text: string): ReportPeriod | undefined {
  const m = /^(\d{4})-?Q([1-4])$/i.exec(text.trim());
  if (!m) return undefined;
  const year = Number(m[1]);
  const q = Number(m[2]);
  return { label: `${year}Q${q}`, from: new Date(Date.UTC(year, (q - 1) * 3, 1)), to: new Date(Date.UTC(year, q * 3, 1)) };
}

/** ClickHouse DateTime64(3) text of an instant. */
export const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
