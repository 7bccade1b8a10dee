import { z } from 'zod';
import type { DetectConfig } from '../core/config.ts';
import type { Store } from '../storage/store.ts';

export const Severity = z.enum(['info', 'low', 'medium', 'high', 'critical']);
export type Severity = z.infer<typeof Severity>;

/**
 * Which events a run examines, as a SQL predicate over `key_events` with its parameters. An
 * incremental run examines events *ingested* since the detector's watermark (so late events are
 * seen); an explicit run (`keywatch detect --from --to`) examines events that *happened* in a range.
 * Detectors add `AND (${scope.sql})` to their queries and pass `scope.params` along.
 */
export interface Scope {
  sql: string;
  params: Record<string, unknown>;
  /** Event-time bounds of what is examined, for detectors that need a baseline before them. */
  from: Date;
  to: Date;
}

export interface DetectorContext {
  store: Store;
  /** The run's clock reading; results depend on it, never on the wall clock. */
  now: Date;
  scope: Scope;
  /**
   * SQL predicate that leaves out provider-internal callers (AWS Internal, AWS services acting
   * for the customer, Azure's own rotation). Detectors add it unless calls by the provider are
   * what they look for.
   */
  notInternal: string;
  /** Inside the organization: accounts (the tenants map's and configured ones) and identity domains. */
  organization: { accounts: readonly string[]; domains: readonly string[] };
  /** `detect.detectors[<id>]` from config, already validated by the detector's `settings` schema (its defaults applied). */
  settings: Record<string, unknown>;
  /** The rest of the detect configuration (business hours, cryptoperiods). */
  config: DetectConfig;
  /**
   * Work shared by the detectors of one run: the first call with a given `key` runs `compute`,
   * later calls in the same run get its result. The key must name everything the result depends
   * on (the scope's SQL and parameters, the evaluation time). Absent outside `runDetectors`.
   *
   * @example const keys = await (ctx.shared?.(`key-history:${asOf}`, load) ?? load())
   */
  shared?: <T>(key: string, compute: () => Promise<T>) => Promise<T>;
}

/** What a detector reports; the engine turns it into an alert row (id, dedupe, suppression). */
export interface Finding {
  tenant: string;
  key_id: string;
  principal: string;
  /** Event-time span of the evidence, ClickHouse text (`2026-03-02 08:14:52.000`). */
  first_time: string;
  last_time: string;
  /** 0..100; signatures give a fixed score, statistical detectors the scaled anomaly score. */
  score: number;
  event_count: number;
  /** Up to 20 event ids behind the finding. */
  event_ids: string[];
  /** The numbers and values behind the finding (baseline, counts, the policy change ...). */
  evidence: Record<string, string | number | boolean | null>;
  /** A more specific title than the detector's, e.g. naming the key. */
  title?: string;
  severity?: Severity;
  /** Extra part of the dedupe key when one key and principal can have distinct findings. */
  group?: string;
}

/**
 * One detector. Each lives in `detectors/<id>.ts` with its cases in `detectors/<id>.cases.ts`
 * and is listed in `detectors/registry.ts`.
 *
 * @example export const keyDisabled: Detector = { id: 'key-disabled', title: 'Key disabled', ..., run: async (ctx) => [...] }
 */
export interface Detector {
  id: string;
  title: string;
  severity: Severity;
  description: string;
  /** What the analyst does first: where to look, whom to ask, how to contain. */
  runbook: string;
  references: readonly string[];
  falsePositives: readonly string[];
  /**
   * Findings of one key and principal within this many minutes are one alert (default 60). The
   * bucket is taken from the first event's time.
   */
  dedupeMinutes?: number;
  /** Days of stored history the detector needs before it may fire; until then it stays quiet. */
  historyDays?: number;
  /** Schema of the detector's settings (`detect.detectors.<id>` in config), with defaults; validated at run time. */
  settings?: z.ZodType<Record<string, unknown>>;
  run(ctx: DetectorContext): Promise<Finding[]>;
}
