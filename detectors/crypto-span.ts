import type { DetectorContext } from './detector.ts';

/**
 * The first crypto event in the run's scope and how many there are: where the first-use
 * detectors start looking back. Both need it; it is computed once per run (`ctx.shared`).
 */
export async function cryptoSpan(ctx: Pick<DetectorContext, 'store' | 'scope' | 'shared'>): Promise<{ lo: string; n: number }> {
  const load = async () => {
    const [row] = await ctx.store.query<{ lo: string; n: string }>(
      `SELECT toString(min(event_time)) AS lo, count() AS n FROM key_events WHERE (${ctx.scope.sql}) AND operation_class = 'crypto'`,
      ctx.scope.params,
    );
    return { lo: row?.lo ?? '', n: Number(row?.n ?? 0) };
  };
  return ctx.shared ? ctx.shared(`crypto-span:${ctx.scope.sql}:${JSON.stringify(ctx.scope.params)}`, load) : load();
}
