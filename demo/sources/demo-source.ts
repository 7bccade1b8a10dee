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
}

export interface DemoSource {
  source: string;
  /** The account-like ids this source's events carry (project, subscription, HSM cluster ...) -> demo tenant. */
  tenants: Record<string, string>;
  /** Writes the files; returns their paths and the number of records written. */
  write(opts: DemoSourceOptions): Promise<{ files: string[]; records: number }>;
  incidents(opts: Pick<DemoSourceOptions, 'start' | 'days' | 'seed'>): DemoIncident[];
}
