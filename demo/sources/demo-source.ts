/**
 * A demo traffic generator for one log source. `keywatch demo` writes every source's files into
 * one directory and ingests it with `--format auto`; bench/ingest uses `write` with a large
 * `records` budget for per-format rates.
 */
export interface DemoSourceOptions {
  /** The first instant of traffic (UTC midnight); traffic covers `days` full days from it. */
  start: Date;
  days: number;
  seed: number;
  /** Directory to write into (it exists). File names must start with the source name. */
  dir: string;
  /** Inject this source's incidents (the ones detectors should find). */
  incidents: boolean;
  /** Stop after about this many records (bench); without it, the natural demo volume. */
  records?: number;
}

export interface DemoIncident {
  id: string;
  /** ISO time. */
  at: string;
  what: string;
  /**
   * Which detectors should raise an alert for it (ids of detectors/registry.ts) and what the alert
   * must agree on: `keywatch evaluate` matches alerts to incidents with it. Tenant, principal and
   * key id are compared when given (principal and key id as case-insensitive substrings); the
   * alert's span must overlap `at` ± windowMinutes (default 60). No detectors: not a detector's job.
   */
  expect?: { detectors: string[]; tenant?: string; principal?: string; key_id?: string; windowMinutes?: number };
}

export interface DemoSource {
  source: string;
  /** The account-like ids this source's events carry (project, subscription, HSM cluster ...) -> demo tenant. */
  tenants: Record<string, string>;
  /** Writes the files; returns their paths and the number of records written. */
  write(opts: DemoSourceOptions): Promise<{ files: string[]; records: number }>;
  incidents(opts: Pick<DemoSourceOptions, 'start' | 'days' | 'seed'>): DemoIncident[];
}

/**
 * For incident labels of administrative changes: the detectors plus admin-off-hours when `at`
 * falls outside the default business hours (08:00-18:00 UTC, Monday to Friday), since incident
 * times move with the demo window and the weekday changes.
 */
export function plusOffHours(at: string, detectors: string[]): string[] {
  const d = new Date(at);
  const day = d.getUTCDay();
  const hour = d.getUTCHours();
  return day === 0 || day === 6 || hour < 8 || hour >= 18 ? [...detectors, 'admin-off-hours'] : detectors;
}

/**
 * Whether a generated time falls in the demo estate's office hours: 09:00-17:00 UTC, Monday to
 * Friday, inside the default business hours (08:00-18:00) with an hour's margin. The estate's
 * people (key administrators, security officers, change pipelines run on merges) do their change
 * work then; at night and at weekends only applications and scheduled jobs run.
 */
export function inOfficeHours(ms: number): boolean {
  const d = new Date(ms);
  const day = d.getUTCDay();
  const hour = d.getUTCHours();
  return day !== 0 && day !== 6 && hour >= 9 && hour < 17;
}

/**
 * For incident labels of a stranger using a key: the detectors plus the first-use detectors when
 * the demo holds the 14 days of the key's history they judge against before `at` (shorter demos
 * cannot show a first use).
 */
export function plusFirstUse(at: string, start: Date, detectors: string[]): string[] {
  return Date.parse(at) - start.getTime() > 14 * 86_400_000 + 3_600_000 ? [...detectors, 'first-use-by-principal', 'first-use-from-network'] : detectors;
}
