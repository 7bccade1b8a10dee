export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * Nearest-rank percentiles (the smallest sample with at least p% of the samples at or below it),
 * in the samples' unit, rounded to 0.1. With fewer than 100 samples p99 is the maximum.
 *
 * @example summarize([12, 15, 230]).p50 // 15
 */
export function summarize(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
  return { count: s.length, p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), max: round(s[s.length - 1] as number), mean: round(s.reduce((a, n) => a + n, 0) / s.length) };
}
