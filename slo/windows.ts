import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KeywatchError } from '../core/errors.ts';
import { Duration, durationMs } from './duration.ts';

/*
 * Multi-window, multi-burn-rate alert tables, one data file per supported SLO period
 * (slo/windows/<period>.json). A policy fires when the burn rate over both its long and its short
 * window is above `burnRate` (The Site Reliability Workbook, ch. 5, "Alerting on SLOs", approach
 * 6). A period without a table is an error: the tables are never extrapolated.
 */

export const WINDOWS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'windows');

export const BurnRatePolicy = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    /** A page wakes someone; a ticket is handled in working hours. */
    action: z.enum(['page', 'ticket']),
    /** How many times faster than "exactly on budget" the errors arrive. */
    burnRate: z.number().positive(),
    longWindow: Duration,
    shortWindow: Duration,
  })
  .strict()
  .refine((p) => durationMs(p.shortWindow) < durationMs(p.longWindow), { message: 'shortWindow must be shorter than longWindow' });
export type BurnRatePolicy = z.infer<typeof BurnRatePolicy>;

export const WindowTable = z
  .object({
    period: Duration,
    /** Where the numbers come from. */
    source: z.string().min(1),
    policies: z.array(BurnRatePolicy).min(1),
  })
  .strict()
  .superRefine((t, ctx) => {
    const names = new Set<string>();
    t.policies.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['policies', i, 'name'], message: `duplicate policy name ${p.name}` });
      names.add(p.name);
      if (durationMs(p.longWindow) > durationMs(t.period)) ctx.addIssue({ code: 'custom', path: ['policies', i, 'longWindow'], message: `longer than the period ${t.period}` });
      if (budgetSpent(p, t.period) > 1) ctx.addIssue({ code: 'custom', path: ['policies', i, 'burnRate'], message: `would spend ${(budgetSpent(p, t.period) * 100).toFixed(0)}% of the budget before firing` });
    });
  });
export type WindowTable = z.infer<typeof WindowTable>;

/** Fraction of the period's error budget a policy lets burn before it fires: burnRate × long / period. */
export function budgetSpent(p: Pick<BurnRatePolicy, 'burnRate' | 'longWindow'>, period: string): number {
  return (p.burnRate * durationMs(p.longWindow)) / durationMs(period);
}

/** Parses and validates one window table; `file` names it in errors. */
export function parseWindowTable(text: string, file: string): WindowTable {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new KeywatchError('SLO_SPEC_INVALID', `window table ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const r = WindowTable.safeParse(raw);
  if (!r.success) throw new KeywatchError('SLO_SPEC_INVALID', `window table ${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const expected = file.replace(/^.*\//, '').replace(/\.json$/, '');
  if (r.data.period !== expected) throw new KeywatchError('SLO_SPEC_INVALID', `window table ${file} declares period ${r.data.period}; the file must be named ${r.data.period}.json`);
  return r.data;
}

/** Every window table in `dir`, by period. */
export function loadWindowTables(dir = WINDOWS_DIR): Map<string, WindowTable> {
  const out = new Map<string, WindowTable>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const t = parseWindowTable(readFileSync(join(dir, f), 'utf8'), join(dir, f));
    out.set(t.period, t);
  }
  return out;
}

/** The table for `period`, or a clear error naming the supported periods. */
export function windowTableFor(period: string, tables: Map<string, WindowTable> = loadWindowTables()): WindowTable {
  const t = tables.get(period);
  if (!t) {
    const known = [...tables.keys()].sort((a, b) => durationMs(a) - durationMs(b));
    throw new KeywatchError('SLO_SPEC_INVALID', `SLO period ${period} is not supported: burn-rate window tables exist for ${known.join(', ')} (slo/windows/). Add a table for ${period} rather than extrapolating one.`);
  }
  return t;
}
