import { median, medianAbsoluteDeviation } from 'simple-statistics';
import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';

export const Settings = z
  .object({
    /** How many previous weeks give the same hour of the week as a baseline. */
    baselineWeeks: z.number().int().min(1).max(12).default(4),
    /** Robust z-score at or above which the hour is anomalous. */
    minScore: z.number().positive().default(6),
    /** Fewest crypto calls in the hour; below it a spike is too small to matter. */
    minCount: z.number().int().positive().default(50),
    /** Fewest comparable hours with traffic before the baseline is trusted. */
    minBaselineHours: z.number().int().min(1).default(3),
  })
  .strict();
export type Settings = z.infer<typeof Settings>;

// 1.4826 makes the median absolute deviation estimate the standard deviation of normal data
// (Rousseeuw & Croux 1993; Iglewicz & Hoaglin's modified z-score uses the same constant).
const MAD_TO_SD = 1.4826;
const HOUR = 3_600_000;
const chTime = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const fromCh = (s: string): number => Date.parse(`${s.replace(' ', 'T')}Z`);

interface HourRow {
  tenant: string;
  key_id: string;
  principal: string;
  hour: string;
  scoped: string;
  ids: string[];
  n: string;
  first: string;
  last: string;
  sources: string[];
  operations: string[];
  /** One per comparable hour the group was already seen by: [weeks back, hours shifted, count]. */
  slots: [number | string, number | string, number | string][];
}

/** The baseline of one hour: which comparable hours are used, and the robust score against them. */
export interface Baseline {
  values: number[];
  withData: number;
  neighbours: boolean;
  median: number;
  mad: number;
  score: number;
}

/**
 * Scores an hour's count against its comparable hours. The same hour of the week in each previous
 * week comes first, an empty one counting as zero. When fewer than `minBaselineHours` of those had
 * traffic, the baseline is widened to every comparable hour with traffic, the hours either side
 * included: a job that slips by an hour, or a principal with two weeks of history, still gets a
 * baseline, and the empty neighbours of a job's usual hour do not drag its median to zero. The
 * scale is floored at sqrt(median) (the Poisson spread of a count) and 1, so that a flat baseline
 * (MAD 0) does not turn a small wobble into a huge score.
 *
 * @example scoreHour(900, [{ week: 1, shift: 0, n: 100 }, ...], settings) // { median: 100, score: 54, ... }
 */
export function scoreHour(count: number, slots: readonly { week: number; shift: number; n: number }[], s: Settings): Baseline {
  const same = slots.filter((x) => x.shift === 0);
  const neighbours = same.filter((x) => x.n > 0).length < s.minBaselineHours;
  const values = (neighbours ? slots.filter((x) => x.n > 0) : same).map((x) => x.n);
  if (values.length === 0) return { values, withData: 0, neighbours, median: 0, mad: 0, score: 0 };
  const med = median(values);
  const mad = medianAbsoluteDeviation(values);
  const scale = MAD_TO_SD * Math.max(mad, Math.sqrt(med), 1);
  return { values, withData: values.filter((v) => v > 0).length, neighbours, median: med, mad, score: (count - med) / scale };
}

/** 50 at the threshold, +50/3 per doubling of the robust score, capped at 100. */
const scaled = (score: number, threshold: number) => Math.min(100, Math.max(0, 50 + (50 / 3) * Math.log2(score / threshold)));

export const volumeAnomaly: Detector = {
  id: 'volume-anomaly',
  title: 'Unusual volume of key use by a principal',
  severity: 'medium',
  description:
    'A principal used a key for far more cryptographic operations (encrypt, decrypt, generate data key, sign, wrap, unwrap ...) in one hour than usual for that hour of the week, on any source (AWS KMS, GCP Cloud KMS, Azure Key Vault, Vault transit, CloudHSM, Luna). ClickHouse counts the calls per tenant, key, principal and hour, for the hour and for its comparable hours: the same hour of the week in each of the previous baselineWeeks (4) weeks, an empty one counting as zero; when fewer than minBaselineHours (3) of those had traffic, every comparable hour with traffic, the hours either side included (a job that slips by an hour, a principal with two weeks of history). The score is a robust z-score, (count - median) / (1.4826 x max(MAD, sqrt(median), 1)); it fires at minScore (6) when the hour has at least minCount (50) calls and the baseline has traffic in at least minBaselineHours comparable hours, so quiet keys and new principals do not page. Comparable hours before the principal was first seen with the key are left out. Bulk decryption by stolen credentials, an exfiltration job or a runaway client look like this. Quiet until the store holds 14 days of history; provider-internal callers are left out.',
  runbook:
    "Read the evidence: count against median and MAD, and which hours formed the baseline. Ask the principal's owner whether a backfill, re-encryption, migration or load test ran at that hour. If not, look at what the calls were and where they came from (keywatch sql \"SELECT operation, source_ip, user_agent, count() FROM key_events WHERE principal = '<principal>' AND key_id = '<key_id>' AND event_time >= '<first_time>' GROUP BY ALL ORDER BY 4 DESC\"); unfamiliar IPs or user agents point to stolen credentials: revoke the principal's sessions or keys, and restrict the key policy or IAM binding until it is understood. For a runaway client, rate-limit it before it exhausts the key's request quota (AWS KMS ThrottlingException, Key Vault 429) and breaks other callers.",
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-cloudtrail.html',
    'https://cloud.google.com/kms/docs/audit-logging',
    'https://learn.microsoft.com/azure/key-vault/general/logging',
    'https://www.itl.nist.gov/div898/handbook/eda/section3/eda35h.htm (modified z-score, Iglewicz and Hoaglin)',
    'MITRE ATT&CK T1530 (data from cloud storage), T1486 (data encrypted for impact)',
  ],
  falsePositives: [
    'Backfills, re-encryption or key migration jobs, and load tests (declare a maintenance window, or allow-list the job principal for this detector)',
    'Month-end or seasonal batch peaks that fall outside the weekly pattern (raise minScore for the tenant, or allow-list the principal until the peak is over)',
    'A service that moved traffic from another principal or key to this one (the old pair goes quiet at the same time)',
    'Callers whose baseline was made before the store held their full history: the comparable hours before a principal was first seen with the key are left out, not counted as zero',
  ],
  dedupeMinutes: 60,
  historyDays: 14,
  settings: Settings,
  async run(ctx) {
    const s = Settings.parse(ctx.settings);
    const lookbackHours = s.baselineWeeks * 168 + 1;
    const crypto = `operation_class = 'crypto' AND (${ctx.notInternal})`;
    const [span] = await ctx.store.query<{ lo: string; hi: string; n: string }>(
      `SELECT toString(toStartOfHour(min(event_time))) AS lo, toString(toStartOfHour(max(event_time)) + toIntervalHour(1)) AS hi, count() AS n
       FROM key_events WHERE (${ctx.scope.sql}) AND ${crypto}`,
      ctx.scope.params,
    );
    if (!span || Number(span.n) === 0) return [];
    // Hours with crypto calls in scope and at least minCount stored calls, per key and principal.
    // Only these can fire, and they are few: they are found with a count per 64-bit hash of (tenant,
    // key, principal, hour), a small hash table, then grouped by the real columns.
    const current = await ctx.store.query<Omit<HourRow, 'slots'> & { g: string }>(
      `WITH busy AS (
         SELECT cityHash64(tenant, key_id, principal, toStartOfHour(event_time)) AS h
         FROM key_events
         WHERE ${crypto} AND event_time >= {va_lo:DateTime64(3)} AND event_time < {va_hi:DateTime64(3)}
         GROUP BY h
         HAVING count() >= {min_count:UInt32} AND countIf(${ctx.scope.sql}) > 0
       )
       SELECT tenant, key_id, principal, toString(cityHash64(tenant, key_id, principal)) AS g, toString(toStartOfHour(event_time)) AS hour,
              countIf(${ctx.scope.sql}) AS scoped, groupArrayIf(20)(event_id, ${ctx.scope.sql}) AS ids, count() AS n,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last,
              groupUniqArray(source) AS sources, groupUniqArray(operation) AS operations
       FROM key_events
       WHERE ${crypto} AND event_time >= {va_lo:DateTime64(3)} AND event_time < {va_hi:DateTime64(3)}
         AND cityHash64(tenant, key_id, principal, toStartOfHour(event_time)) IN (SELECT h FROM busy)
       GROUP BY tenant, key_id, principal, toStartOfHour(event_time)
       HAVING n >= {min_count:UInt32} AND scoped > 0
       ORDER BY hour, tenant, key_id, principal`,
      { ...ctx.scope.params, va_lo: span.lo, va_hi: span.hi, min_count: s.minCount },
    );
    if (current.length === 0) return [];

    // The same hour 1..N weeks back, and the hours either side of it.
    const comparable = (hour: number) => {
      const out: { week: number; shift: number; at: number }[] = [];
      for (let week = 1; week <= s.baselineWeeks; week++) for (const shift of [-1, 0, 1]) out.push({ week, shift, at: hour - (week * 168 + shift) * HOUR });
      return out;
    };
    const hourOf = (r: { hour: string }) => fromCh(r.hour);
    const groupOf = (r: { tenant: string; key_id: string; principal: string }) => `${r.tenant}\u0000${r.key_id}\u0000${r.principal}`;
    const wanted = new Set(current.flatMap((r) => comparable(hourOf(r)).map((c) => c.at / 1000)));
    // Per key and principal, back to the oldest comparable hour: its first hour with crypto calls, and
    // its counts in the comparable hours.
    const history = await ctx.store.query<{ tenant: string; key_id: string; principal: string; first_hour: string; counts: [string, string][] }>(
      `SELECT tenant, key_id, principal, toString(min(hour)) AS first_hour, groupArrayIf((toString(hour), n), toUInt32(hour) IN {va_at:Array(UInt32)}) AS counts
       FROM
       (
         SELECT tenant, key_id, principal, toStartOfHour(event_time) AS hour, count() AS n
         FROM key_events
         WHERE ${crypto} AND key_id IN {va_keys:Array(String)} AND toString(cityHash64(tenant, key_id, principal)) IN {va_groups:Array(String)}
           AND event_time >= {va_from:DateTime64(3)} AND event_time < {va_hi:DateTime64(3)}
         GROUP BY tenant, key_id, principal, hour
       )
       GROUP BY tenant, key_id, principal`,
      {
        va_keys: [...new Set(current.map((r) => r.key_id))],
        va_groups: [...new Set(current.map((r) => r.g))],
        va_at: [...wanted],
        va_from: chTime(fromCh(span.lo) - lookbackHours * HOUR),
        va_hi: span.hi,
      },
    );
    const firstHour = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const h of history) {
      const g = groupOf(h);
      firstHour.set(g, fromCh(h.first_hour));
      for (const [hour, n] of h.counts) counts.set(`${g}\u0000${fromCh(hour)}`, Number(n));
    }
    const rows: HourRow[] = current.map((r) => {
      const g = groupOf(r);
      const first = firstHour.get(g) ?? Number.POSITIVE_INFINITY;
      // Before the principal was first seen with the key, an empty hour says nothing.
      const slots = comparable(hourOf(r))
        .filter((c) => c.at >= first)
        .map((c): [number, number, number] => [c.week, c.shift, counts.get(`${g}\u0000${c.at}`) ?? 0]);
      const { g: _hash, ...row } = r;
      return { ...row, slots };
    });

    const findings: Finding[] = [];
    for (const r of rows) {
      const count = Number(r.n);
      const slots = (r.slots ?? []).map(([week, shift, n]) => ({ week: Number(week), shift: Number(shift), n: Number(n) }));
      const b = scoreHour(count, slots, s);
      // The minimum-baseline gate: a key or principal with too little history does not page.
      if (b.withData < s.minBaselineHours || b.score < s.minScore) continue;
      const score = Math.round(b.score * 100) / 100;
      findings.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: scaled(b.score, s.minScore),
        severity: b.score >= 4 * s.minScore ? 'high' : 'medium',
        event_count: Number(r.scoped),
        event_ids: r.ids,
        evidence: {
          hour: r.hour,
          count,
          median: b.median,
          mad: b.mad,
          robust_score: score,
          baseline_hours: b.values.length,
          baseline_hours_with_data: b.withData,
          baseline_weeks: s.baselineWeeks,
          neighbouring_hours: b.neighbours,
          baseline: b.values.join(','),
          operations: [...r.operations].sort().join(','),
          sources: [...r.sources].sort().join(','),
        },
        title: `${count} crypto calls in an hour (usually ${b.median}) on ${r.key_id || '(no key)'} by ${r.principal || '(unknown principal)'}`,
      });
    }
    return findings;
  },
};
