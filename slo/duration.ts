import { z } from 'zod';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A span written as whole minutes, hours or days: `5m`, `1h`, `3d`, `30d`. */
export const Duration = z
  .string()
  .regex(/^[1-9]\d*[mhd]$/, 'a whole number of minutes, hours or days, such as 5m, 6h or 3d');
export type Duration = z.infer<typeof Duration>;

/** Milliseconds in a `Duration`. @example durationMs('6h') === 21_600_000 */
export function durationMs(d: string): number {
  const m = /^([1-9]\d*)([mhd])$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}
