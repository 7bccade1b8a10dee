import type { BurnRatePolicy } from './windows.ts';

/*
 * Burn-rate maths, pure. Definitions from The Site Reliability Workbook, ch. 5 "Alerting on SLOs":
 *   error ratio = bad / total over a window
 *   burn rate   = error ratio / (1 − objective)   (1 = spending the budget exactly over the period)
 *   a multi-window policy fires when the burn rate over the long AND the short window exceed its
 *   factor (approach 6, "multiwindow, multi-burn-rate alerts").
 * Remaining budget over the period = 1 − bad / ((1 − objective) × total); below 0 is overspent.
 * No events is its own state (null), never a division by zero.
 */

export interface Counts {
  good: number;
  total: number;
}

export function errorRatio(c: Counts): number | null {
  return c.total > 0 ? (c.total - c.good) / c.total : null;
}

/**
 * Burn rate over a window, or null without events. With a 100% objective there is no budget:
 * any bad event burns it infinitely fast, none burns nothing.
 */
export function burnRate(c: Counts, objective: number): number | null {
  const r = errorRatio(c);
  if (r === null) return null;
  if (objective >= 1) return r > 0 ? Number.POSITIVE_INFINITY : 0;
  return r / (1 - objective);
}

/**
 * Fraction of the period's error budget left, or null without events. With a 100% objective the
 * budget is zero events: 1 while nothing failed, 0 (exhausted) after the first failure.
 */
export function budgetRemaining(period: Counts, objective: number): number | null {
  if (period.total <= 0) return null;
  const bad = period.total - period.good;
  if (objective >= 1) return bad > 0 ? 0 : 1;
  return 1 - bad / ((1 - objective) * period.total);
}

export type PolicyState = 'firing' | 'ok' | 'no_data' | 'low_traffic';

export interface PolicyResult {
  policy: string;
  action: BurnRatePolicy['action'];
  state: PolicyState;
  burnLong: number | null;
  burnShort: number | null;
  factor: number;
}

/**
 * One policy against its windows' counts. `minEvents` gates the long window, so a quiet key does not
 * page; `minBadEvents` too, so that one failure never fires however few calls surround it; an
 * empty short window means the errors have stopped (not firing).
 */
export function evaluatePolicy(p: BurnRatePolicy, long: Counts, short: Counts, objective: number, minEvents: number, minBadEvents = 1): PolicyResult {
  const burnLong = burnRate(long, objective);
  const burnShort = burnRate(short, objective);
  const base = { policy: p.name, action: p.action, burnLong, burnShort, factor: p.burnRate };
  if (burnLong === null) return { ...base, state: 'no_data' };
  if (long.total < minEvents) return { ...base, state: 'low_traffic' };
  const firing = burnShort !== null && burnLong > p.burnRate && burnShort > p.burnRate && long.total - long.good >= minBadEvents;
  return { ...base, state: firing ? 'firing' : 'ok' };
}

export type SloState = 'page' | 'ticket' | 'ok' | 'low_traffic' | 'no_data';

/** The state of one SLO group: the most urgent firing action, else whether there was data to judge. */
export function sloState(results: readonly PolicyResult[], period: Counts): SloState {
  if (results.some((r) => r.state === 'firing' && r.action === 'page')) return 'page';
  if (results.some((r) => r.state === 'firing' && r.action === 'ticket')) return 'ticket';
  if (period.total === 0) return 'no_data';
  if (results.length > 0 && results.every((r) => r.state === 'low_traffic' || r.state === 'no_data')) return 'low_traffic';
  return 'ok';
}
