import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';

export const Settings = z
  .object({
    /** Fewest calls by one identity within one minute. */
    minOperations: z.number().int().positive().default(100),
    /** Fewest distinct operations among them. */
    minDistinctOperations: z.number().int().min(1).default(4),
    /**
     * A principal that made minutes of this shape on at least `regularDays` of the previous
     * `baselineDays` days is doing its usual work; 0 turns this off.
     */
    regularDays: z.number().int().min(0).default(2),
    baselineDays: z.number().int().min(1).max(90).default(7),
  })
  .strict();
export type Settings = z.infer<typeof Settings>;

// What counts as one operation. Reads keep the vendor's name (ListKeys, ListAliases, GetKeyPolicy,
// ListGrants, DescribeKey are all `list` or `describe`), because an enumeration sweep is what a
// burst of many reads looks like; so do `other` operations. Session plumbing (auth class: HSM
// open/close session, login, logout) is left out: an HSM application opens sessions all day.
const OP_KEY_SQL = "if(operation_class = 'read' OR operation = 'other', vendor_operation, operation)";
const SHAPE_WHERE = "principal != '' AND operation_class != 'auth'";

const chTime = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const fromCh = (s: string): number => Date.parse(`${s.replace(' ', 'T')}Z`);
const MINUTE = 60_000;
const DAY = 86_400_000;

interface MinuteRow {
  tenant: string;
  principal: string;
  minute: string;
  n: string;
  distinct_ops: string;
  scoped: string;
  first: string;
  last: string;
  ids: string[];
  ops: Record<string, string>;
  keys: Record<string, string>;
  sources: string[];
  source_ips: string[];
}

/** 50 at minOperations, +50/3 per doubling of the calls in the busiest minute, capped at 100. */
const scoreOf = (n: number, s: Settings) => Math.min(100, Math.max(0, 50 + (50 / 3) * Math.log2(n / s.minOperations)));

const top = (counts: Record<string, string>, k: number) =>
  Object.entries(counts)
    .map(([name, n]) => [name, Number(n)] as const)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, k);

export const burst: Detector = {
  id: 'burst',
  title: 'Burst of many different key operations by one identity',
  severity: 'high',
  description:
    'One identity made at least minOperations (100) calls of at least minDistinctOperations (4) different kinds within one minute, on any keys of a tenant, on any source: a script enumerating keys and policies (ListKeys, DescribeKey, GetKeyPolicy, ListGrants), then decrypting, re-encrypting or granting — the shape of stolen credentials being used, or ransomware re-encrypting data under its own key. Counts come from ClickHouse per tenant, principal and minute. A busy service does not fire: it repeats a few operations (Decrypt, GenerateDataKey), and one whose normal load has this shape made such minutes on at least regularDays of the previous baselineDays days. Reads are counted by their vendor name, HSM session plumbing (open/close session, login, logout) and provider-internal callers are left out.',
  runbook:
    "Read the operations and keys in the evidence: enumeration (list, describe, get policy) followed by decrypt, re-encrypt, create grant or policy changes is an intrusion until shown otherwise. Ask the owner of the identity whether a script or migration ran at that minute. If not: revoke the identity's sessions and credentials (AWS: deny-all policy and revoke role sessions; GCP: disable the service account key; Azure: revoke the application's secret; Vault: revoke the token or its accessor; HSM: log the user out and change its PIN), then list what it did (keywatch sql \"SELECT event_time, key_id, operation, vendor_operation, outcome, source_ip FROM key_events WHERE principal = '<principal>' AND event_time >= '<first_time>' ORDER BY event_time\") and undo grants, policy changes and scheduled deletions.",
  references: [
    'https://attack.mitre.org/techniques/T1580/ (cloud infrastructure discovery)',
    'https://attack.mitre.org/techniques/T1486/ (data encrypted for impact)',
    'https://docs.aws.amazon.com/kms/latest/developerguide/ct-listkeys.html',
    'https://attack.mitre.org/techniques/T1526/ (cloud service discovery)',
    'Sigma: Account Enumeration on AWS (aws_enum_listing, e9c14b23-47e2-4a8b-8a63-d36618e33d70)',
  ],
  falsePositives: [
    'Infrastructure-as-code runs (Terraform, Pulumi, CloudFormation drift checks) that read every key and its policy (allow-list the pipeline identity)',
    'Key inventory or compliance scanners (CSPM tools such as Prowler, Security Hub, Wiz) doing their daily sweep: they stop firing once they have run on regularDays of the last baselineDays days',
    'A bulk re-encryption or migration job started for the first time (declare a maintenance window)',
    'A newly deployed high-throughput service whose normal mix has four or more operations, until it has run on regularDays days',
  ],
  dedupeMinutes: 60,
  settings: Settings,
  async run(ctx) {
    const s = Settings.parse(ctx.settings);
    // Minutes of each identity with calls in scope, counted over every stored call of that minute,
    // so a minute split by an incremental run's watermark is seen whole. A minute with minOperations
    // calls lies in an hour with as many, so the hours of each identity are counted first (one
    // 64-bit hash per identity and hour, a small hash table), and only the calls of those hours are
    // grouped by minute. The hash only narrows the rows; the minutes are grouped by the real columns.
    // The hours to look at: those of the events in scope, found from the times alone.
    const [span] = await ctx.store.query<{ lo: string; hi: string; n: string }>(
      `SELECT toString(toStartOfHour(min(event_time))) AS lo, toString(toStartOfHour(max(event_time)) + toIntervalHour(1)) AS hi, count() AS n
       FROM key_events WHERE (${ctx.scope.sql})`,
      ctx.scope.params,
    );
    if (!span || Number(span.n) === 0) return [];
    const rows = await ctx.store.query<MinuteRow>(
      `WITH
         busy_hours AS (
           SELECT cityHash64(tenant, principal, toStartOfHour(event_time)) AS h
           FROM key_events
           WHERE (${ctx.notInternal}) AND ${SHAPE_WHERE}
             AND event_time >= {burst_lo:DateTime64(3)} AND event_time < {burst_hi:DateTime64(3)}
           GROUP BY h
           HAVING count() >= {min_ops:UInt32} AND countIf(${ctx.scope.sql}) > 0
         )
       SELECT tenant, principal, toString(toStartOfMinute(event_time)) AS minute, count() AS n, uniqExact(${OP_KEY_SQL}) AS distinct_ops,
              countIf(${ctx.scope.sql}) AS scoped, toString(min(event_time)) AS first, toString(max(event_time)) AS last,
              groupArray(20)(event_id) AS ids,
              sumMap(map(${OP_KEY_SQL}, toUInt64(1))) AS ops, sumMap(map(key_id, toUInt64(1))) AS keys,
              groupUniqArray(source) AS sources, arraySlice(groupUniqArray(source_ip), 1, 5) AS source_ips
       FROM key_events
       WHERE (${ctx.notInternal}) AND ${SHAPE_WHERE}
         AND event_time >= {burst_lo:DateTime64(3)} AND event_time < {burst_hi:DateTime64(3)}
         AND cityHash64(tenant, principal, toStartOfHour(event_time)) IN (SELECT h FROM busy_hours)
       GROUP BY tenant, principal, toStartOfMinute(event_time)
       HAVING n >= {min_ops:UInt32} AND distinct_ops >= {min_distinct:UInt32} AND scoped > 0
       ORDER BY tenant, principal, minute`,
      { ...ctx.scope.params, burst_lo: span.lo, burst_hi: span.hi, min_ops: s.minOperations, min_distinct: s.minDistinctOperations },
    );

    // Group the burst minutes per identity; consecutive minutes (at most one quiet minute between) are one burst.
    const byIdentity = new Map<string, MinuteRow[][]>();
    for (const r of rows) {
      const id = `${r.tenant}\u0000${r.principal}`;
      const bursts = byIdentity.get(id) ?? [];
      const cur = bursts.at(-1);
      const prev = cur?.at(-1);
      if (cur && prev && fromCh(r.minute) - fromCh(prev.minute) <= 2 * MINUTE) cur.push(r);
      else bursts.push([r]);
      byIdentity.set(id, bursts);
    }

    const findings: Finding[] = [];
    for (const bursts of byIdentity.values()) {
      const first = bursts[0]?.[0];
      if (!first) continue;
      // Days on which the identity already made minutes of this shape, before the first burst's day.
      let regularDays: string[] = [];
      if (s.regularDays > 0) {
        const day0 = Math.floor(fromCh(first.minute) / DAY) * DAY;
        const lastDay = Math.floor(fromCh(bursts.at(-1)?.at(-1)?.minute ?? first.minute) / DAY) * DAY;
        const days = await ctx.store.query<{ day: string }>(
          `SELECT DISTINCT toString(toDate(minute)) AS day
           FROM
           (
             SELECT toStartOfMinute(event_time) AS minute, count() AS n, uniqExact(${OP_KEY_SQL}) AS d
             FROM key_events
             WHERE tenant = {tenant:String} AND principal = {principal:String} AND (${ctx.notInternal}) AND ${SHAPE_WHERE}
               AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
             GROUP BY minute
             HAVING n >= {min_ops:UInt32} AND d >= {min_distinct:UInt32}
           )
           ORDER BY day`,
          { tenant: first.tenant, principal: first.principal, from: chTime(day0 - s.baselineDays * DAY), to: chTime(lastDay), min_ops: s.minOperations, min_distinct: s.minDistinctOperations },
        );
        regularDays = days.map((d) => d.day);
      }
      for (const minutes of bursts) {
        const start = Math.floor(fromCh(minutes[0]?.minute ?? first.minute) / DAY) * DAY;
        const before = regularDays.filter((d) => {
          const t = Date.parse(`${d}T00:00:00Z`);
          return t >= start - s.baselineDays * DAY && t < start;
        });
        if (s.regularDays > 0 && before.length >= s.regularDays) continue;
        const peak = minutes.reduce((a, b) => (Number(b.n) > Number(a.n) ? b : a));
        const sum = (pick: (r: MinuteRow) => Record<string, string>) => {
          const out: Record<string, string> = {};
          for (const r of minutes) for (const [k, v] of Object.entries(pick(r))) out[k] = String(Number(out[k] ?? 0) + Number(v));
          return out;
        };
        const ops = top(sum((r) => r.ops), 10);
        const keys = top(sum((r) => r.keys), 3);
        const calls = minutes.reduce((n, r) => n + Number(r.n), 0);
        const peakN = Number(peak.n);
        const [topKey] = keys;
        findings.push({
          tenant: first.tenant,
          key_id: '',
          principal: first.principal,
          first_time: minutes[0]?.first ?? peak.first,
          last_time: minutes.at(-1)?.last ?? peak.last,
          score: scoreOf(peakN, s),
          event_count: minutes.reduce((n, r) => n + Number(r.scoped), 0),
          event_ids: minutes.flatMap((r) => r.ids).slice(0, 20),
          evidence: {
            calls,
            minutes: minutes.length,
            peak_minute: peak.minute,
            peak_minute_calls: peakN,
            peak_minute_distinct_operations: Number(peak.distinct_ops),
            operations: ops.map(([k, n]) => `${k}:${n}`).join(','),
            keys: Object.keys(sum((r) => r.keys)).length,
            top_key_id: topKey?.[0] ?? '',
            top_key_calls: topKey?.[1] ?? 0,
            sources: [...new Set(minutes.flatMap((r) => r.sources))].sort().join(','),
            source_ips: [...new Set(minutes.flatMap((r) => r.source_ips))].filter((v) => v !== '').sort().join(','),
            earlier_burst_days: before.length,
          },
          title: `${peakN} calls of ${peak.distinct_ops} kinds in one minute by ${first.principal}`,
        });
      }
    }
    return findings;
  },
};
