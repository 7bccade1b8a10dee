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
    const rows = await ctx.store.query<HourRow>(
      `WITH
         -- Hours with crypto calls in scope, per key and principal.
         targets AS (
           SELECT tenant, key_id, principal, toStartOfHour(event_time) AS hour, count() AS scoped, arraySlice(groupArray(event_id), 1, 20) AS ids
           FROM key_events
           WHERE (${ctx.scope.sql}) AND operation_class = 'crypto' AND (${ctx.notInternal})
           GROUP BY tenant, key_id, principal, hour
         ),
         -- Every stored hour of those groups, back to the oldest comparable hour.
         hourly AS (
           SELECT tenant, key_id, principal, toStartOfHour(event_time) AS hour, count() AS n,
                  toString(min(event_time)) AS first, toString(max(event_time)) AS last,
                  groupUniqArray(source) AS sources, groupUniqArray(operation) AS operations
           FROM key_events
           WHERE operation_class = 'crypto' AND (${ctx.notInternal})
             AND (tenant, key_id, principal) IN (SELECT tenant, key_id, principal FROM targets)
             AND event_time >= (SELECT min(hour) FROM targets) - toIntervalHour({lookback_hours:UInt32})
             AND event_time < (SELECT max(hour) FROM targets) + toIntervalHour(1)
           GROUP BY tenant, key_id, principal, hour
         ),
         firsts AS (SELECT tenant, key_id, principal, min(hour) AS first_hour FROM hourly GROUP BY tenant, key_id, principal),
         current AS (
           SELECT t.tenant AS tenant, t.key_id AS key_id, t.principal AS principal, t.hour AS hour, t.scoped AS scoped, t.ids AS ids,
                  h.n AS n, h.first AS first, h.last AS last, h.sources AS sources, h.operations AS operations
           FROM targets AS t
           INNER JOIN hourly AS h ON h.tenant = t.tenant AND h.key_id = t.key_id AND h.principal = t.principal AND h.hour = t.hour
           WHERE h.n >= {min_count:UInt32}
         ),
         -- The same hour 1..N weeks back, and the hours either side of it.
         comparable AS (
           SELECT tenant, key_id, principal, hour, week, shift, hour - toIntervalHour(week * 168 + shift) AS at
           FROM current
           ARRAY JOIN range(1, {weeks:UInt32} + 1) AS week
           ARRAY JOIN [-1, 0, 1] AS shift
         ),
         baseline AS (
           SELECT c.tenant AS tenant, c.key_id AS key_id, c.principal AS principal, c.hour AS hour, groupArray((c.week, c.shift, h.n)) AS slots
           FROM comparable AS c
           INNER JOIN firsts AS f ON f.tenant = c.tenant AND f.key_id = c.key_id AND f.principal = c.principal
           LEFT JOIN hourly AS h ON h.tenant = c.tenant AND h.key_id = c.key_id AND h.principal = c.principal AND h.hour = c.at
           -- Before the principal was first seen with the key, an empty hour says nothing.
           WHERE c.at >= f.first_hour
           GROUP BY tenant, key_id, principal, hour
         )
       SELECT cur.tenant AS tenant, cur.key_id AS key_id, cur.principal AS principal, toString(cur.hour) AS hour, cur.scoped AS scoped, cur.ids AS ids,
              cur.n AS n, cur.first AS first, cur.last AS last, cur.sources AS sources, cur.operations AS operations, b.slots AS slots
       FROM current AS cur
       LEFT JOIN baseline AS b ON b.tenant = cur.tenant AND b.key_id = cur.key_id AND b.principal = cur.principal AND b.hour = cur.hour
       ORDER BY cur.hour, cur.tenant, cur.key_id, cur.principal`,
      { ...ctx.scope.params, lookback_hours: lookbackHours, min_count: s.minCount, weeks: s.baselineWeeks },
    );

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
