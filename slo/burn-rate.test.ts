import { describe, expect, it } from 'vitest';
import { budgetRemaining, burnRate, errorRatio, evaluatePolicy, sloState } from './burn-rate.ts';
import { budgetSpent, loadWindowTables } from './windows.ts';

// Hand-computed: burn = (bad/total) / (1 − objective); budget left = 1 − bad / ((1 − objective) · total).
const TABLE = [
  { objective: 0.999, good: 999, total: 1000, burn: 1, left: 0 },
  { objective: 0.999, good: 9856, total: 10000, burn: 14.4, left: -13.4 },
  { objective: 0.999, good: 9940, total: 10000, burn: 6, left: -5 },
  { objective: 0.999, good: 99990, total: 100000, burn: 0.1, left: 0.9 },
  { objective: 0.9995, good: 19990, total: 20000, burn: 1, left: 0 },
  { objective: 0.9995, good: 20000, total: 20000, burn: 0, left: 1 },
  { objective: 0.9999, good: 9999, total: 10000, burn: 1, left: 0 },
  { objective: 0.99, good: 4950, total: 5000, burn: 1, left: 0 },
  { objective: 0.99, good: 4990, total: 5000, burn: 0.2, left: 0.8 },
  { objective: 0.95, good: 90, total: 100, burn: 2, left: -1 },
];

describe('burn-rate maths', () => {
  it.each(TABLE)('objective $objective with $good good of $total burns at $burn and leaves $left of the budget', (r) => {
    expect(burnRate({ good: r.good, total: r.total }, r.objective)).toBeCloseTo(r.burn, 9);
    expect(budgetRemaining({ good: r.good, total: r.total }, r.objective)).toBeCloseTo(r.left, 9);
  });

  it('reports no data as null rather than dividing by zero', () => {
    expect(errorRatio({ good: 0, total: 0 })).toBeNull();
    expect(burnRate({ good: 0, total: 0 }, 0.999)).toBeNull();
    expect(budgetRemaining({ good: 0, total: 0 }, 0.999)).toBeNull();
  });

  it('treats a 100% objective as a budget of zero events', () => {
    expect(burnRate({ good: 10, total: 10 }, 1)).toBe(0);
    expect(burnRate({ good: 9, total: 10 }, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(budgetRemaining({ good: 10, total: 10 }, 1)).toBe(1);
    expect(budgetRemaining({ good: 9, total: 10 }, 1)).toBe(0);
  });

  it('matches the SRE workbook: each 30-day policy spends 2%, 5% and 10% of the budget before it fires', () => {
    const t = loadWindowTables().get('30d');
    expect(t?.policies.map((p) => [p.action, p.burnRate, p.longWindow, p.shortWindow, Number(budgetSpent(p, '30d').toFixed(4))])).toEqual([
      ['page', 14.4, '1h', '5m', 0.02],
      ['page', 6, '6h', '30m', 0.05],
      ['ticket', 1, '3d', '6h', 0.1],
    ]);
  });
});

describe('a multi-window policy', () => {
  const page = { name: 'page-fast', action: 'page' as const, burnRate: 14.4, longWindow: '1h', shortWindow: '5m' };

  it('fires only when both windows burn faster than its factor', () => {
    expect(evaluatePolicy(page, { good: 9800, total: 10000 }, { good: 800, total: 1000 }, 0.999, 50).state).toBe('firing');
    // The long window over the factor but the short one recovered: the errors stopped.
    expect(evaluatePolicy(page, { good: 9800, total: 10000 }, { good: 995, total: 1000 }, 0.999, 50).state).toBe('ok');
    // The short window spiking but the long one under the factor: a blip.
    expect(evaluatePolicy(page, { good: 9900, total: 10000 }, { good: 800, total: 1000 }, 0.999, 50).state).toBe('ok');
  });

  it('does not fire at exactly its factor (the workbook compares with >)', () => {
    expect(evaluatePolicy(page, { good: 9856, total: 10000 }, { good: 9856, total: 10000 }, 0.999, 50).state).toBe('ok');
    expect(evaluatePolicy(page, { good: 9855, total: 10000 }, { good: 9855, total: 10000 }, 0.999, 50).state).toBe('firing');
  });

  it('stays quiet on a low-traffic key until the long window holds minEvents events', () => {
    const r = evaluatePolicy(page, { good: 9, total: 10 }, { good: 0, total: 1 }, 0.999, 50);
    expect(r.state).toBe('low_traffic');
    expect(r.burnLong).toBeCloseTo(100, 9);
    expect(evaluatePolicy(page, { good: 45, total: 50 }, { good: 0, total: 1 }, 0.999, 50).state).toBe('firing');
  });

  it('does not fire on fewer bad events than minBadEvents, however few calls surround them', () => {
    // One throttled call among 60: a burn of 33 over both windows, but one failure.
    expect(evaluatePolicy(page, { good: 59, total: 60 }, { good: 4, total: 5 }, 0.9995, 50, 2).state).toBe('ok');
    expect(evaluatePolicy(page, { good: 58, total: 60 }, { good: 4, total: 5 }, 0.9995, 50, 2).state).toBe('firing');
    expect(evaluatePolicy(page, { good: 59, total: 60 }, { good: 4, total: 5 }, 0.9995, 50, 1).state).toBe('firing');
  });

  it('says no data when the long window is empty, and does not fire on an empty short window', () => {
    expect(evaluatePolicy(page, { good: 0, total: 0 }, { good: 0, total: 0 }, 0.999, 50).state).toBe('no_data');
    expect(evaluatePolicy(page, { good: 0, total: 100 }, { good: 0, total: 0 }, 0.999, 50).state).toBe('ok');
  });

  it('gives the group the most urgent firing action', () => {
    const ticket = { ...page, name: 'ticket', action: 'ticket' as const, burnRate: 1 };
    const fire = (p: typeof page | typeof ticket) => evaluatePolicy(p, { good: 0, total: 100 }, { good: 0, total: 100 }, 0.999, 50);
    const quiet = (p: typeof page | typeof ticket) => evaluatePolicy(p, { good: 100, total: 100 }, { good: 100, total: 100 }, 0.999, 50);
    expect(sloState([fire(page), fire(ticket)], { good: 0, total: 100 })).toBe('page');
    expect(sloState([quiet(page), fire(ticket)], { good: 0, total: 100 })).toBe('ticket');
    expect(sloState([quiet(page), quiet(ticket)], { good: 100, total: 100 })).toBe('ok');
    expect(sloState([], { good: 0, total: 0 })).toBe('no_data');
  });
});
