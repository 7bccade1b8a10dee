import { z } from 'zod';
import type { Detector, DetectorContext, Finding } from './detector.ts';
import { cryptoSpan } from './crypto-span.ts';

const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

/** Settings of the first-use detectors (`detect.detectors.<id>`). */
export const FirstUseSettings = z
  .object({
    /** A pair (key and principal, or key and network) is new when it has no use in this many days before its first use in the run. */
    historyDays: z.number().int().min(1).max(400).default(14),
  })
  .strict();

/**
 * SQL: 1 when the event's principal is outside the organization, with params `org_accounts` and
 * `org_domains` (`orgParams`). An AWS principal (`arn:<partition>:iam::<account>:...`, `sts` too) or a GCP
 * service account (`name@<project>.iam.gserviceaccount.com`) is outside when its account or
 * project is neither the key's own account nor a configured one; a user e-mail (GCP, Azure UPN) is
 * outside when domains are configured and its domain is none of them nor a subdomain of one.
 * Principals that name no account or domain (Vault display names, HSM roles, Azure app ids) are
 * taken as inside: there is nothing to compare them with.
 *
 * @example `max(${OUTSIDE_ORG_SQL}) AS outside` in a query with `...orgParams(ctx)`
 */
export const OUTSIDE_ORG_SQL = `multiIf(
  extract(principal, '^arn:aws[a-z-]*:[a-z]+::([0-9]{12}):') != '',
    extract(principal, '^arn:aws[a-z-]*:[a-z]+::([0-9]{12}):') != account
      AND NOT has({org_accounts:Array(String)}, extract(principal, '^arn:aws[a-z-]*:[a-z]+::([0-9]{12}):')),
  extract(principal, '@([a-z0-9-]+)[.]iam[.]gserviceaccount[.]com$') != '',
    extract(principal, '@([a-z0-9-]+)[.]iam[.]gserviceaccount[.]com$') != account
      AND NOT has({org_accounts:Array(String)}, extract(principal, '@([a-z0-9-]+)[.]iam[.]gserviceaccount[.]com$')),
  position(principal, '@') > 0 AND length({org_domains:Array(String)}) > 0,
    NOT arrayExists(d -> (lower(substring(principal, position(principal, '@') + 1)) = lower(d)
      OR endsWith(lower(substring(principal, position(principal, '@') + 1)), concat('.', lower(d)))), {org_domains:Array(String)}),
  0)`;

export const orgParams = (ctx: DetectorContext) => ({ org_accounts: [...ctx.organization.accounts], org_domains: [...ctx.organization.domains] });

// How far back the key's own history and a returning principal's earlier use are looked for: a
// key with no event in this long counts as new.
const LOOKBACK_DAYS = 400;
const DAY_MS = 86_400_000;
const fromCh = (s: string): Date => new Date(`${s.replace(' ', 'T')}Z`);

interface NewPair {
  tenant: string;
  key_id: string;
  principal: string;
  principal_type: string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  failures: string;
  operations: string[];
  sources: string[];
  ips: string[];
  errors: string[];
  outside: number | string;
}

export const firstUseByPrincipal: Detector = {
  id: 'first-use-by-principal',
  title: 'First use of a key by a principal',
  severity: 'medium',
  description:
    'A principal used a key (encrypt, decrypt, sign, wrap ... successful or not) for the first time in the history window (setting `historyDays`, default 14): the key, principal pair has uses in the examined events but none in the window before the first of them. New callers of an established key are how stolen credentials, a widened key policy or grant, and a workload moved out of its account show up. Keys with no event older than the window start (looked for up to 400 days back) are left out, since the first users of a new key are expected, as are provider-internal callers and events without a principal; a new deployment stays quiet until the store holds 14 days of events. Higher score when the use failed (probing) and high severity when the principal is outside the organization (another AWS account or GCP project, or an e-mail domain not in `detect.organization.domains`).',
  runbook:
    'Identify the principal and whether its owner expected to use this key (the key owner, the team owning the workload). Compare with who used the key before: keywatch sql "SELECT principal, count(), max(event_time) FROM key_events WHERE key_id = \'<key_id>\' AND operation_class = \'crypto\' GROUP BY principal". Find what gave it access: a key policy change, a grant or an IAM binding shortly before (keywatch sql "SELECT * FROM key_events WHERE key_id = \'<key_id>\' AND operation_class = \'policy\' ORDER BY event_time DESC LIMIT 20"). If nobody can vouch for it: revoke the grant or binding, disable the principal\'s credentials, and review everything else it did.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html',
    'https://cloud.google.com/kms/docs/audit-logging',
    'https://learn.microsoft.com/azure/key-vault/general/logging',
    'https://attack.mitre.org/techniques/T1078/004/',
    'https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html',
  ],
  falsePositives: [
    'A new deployment, a new CI runner role or a renamed service account (allow-list the principal pattern, or declare a maintenance window for the migration)',
    'A principal returning after a break longer than the history window (the evidence shows its previous use)',
    'A person on call decrypting by hand during an incident',
  ],
  // A first use is one event in time; later runs see the pair as known.
  dedupeMinutes: 1440,
  historyDays: 14,
  settings: FirstUseSettings,
  async run(ctx) {
    const { historyDays } = FirstUseSettings.parse(ctx.settings);
    // Step 1: pairs with uses in scope and none in the window before their first use, from the
    // cheap columns only: each pair's first use in scope and its latest use outside the examined
    // events (before them, or seen by an earlier run), in one pass, grouped by a 64-bit hash of the
    // pair (a small hash table of numbers instead of one of long strings).
    // Where the look back starts (earlier use cannot make a pair seen in the window), from cheap columns.
    const span = await cryptoSpan(ctx);
    if (span.n === 0) return [];
    const fresh = await ctx.store.query<{ g: string; key_id: string }>(
      `SELECT toString(g) AS g, any(k) AS key_id
       FROM
       (
         SELECT cityHash64(tenant, key_id, principal) AS g, key_id AS k, event_time,
                (${ctx.scope.sql}) AND key_id != '' AND principal != '' AND (${ctx.notInternal}) AS examined,
                NOT (${ctx.scope.sql}) AND event_time < {fu_to:DateTime64(3)} AS before
         FROM key_events
         WHERE operation_class = 'crypto' AND event_time >= subtractDays({fu_lo:DateTime64(3)}, {fu_days:UInt32})
       )
       GROUP BY g
       HAVING countIf(examined) > 0 AND (countIf(before) = 0 OR maxIf(event_time, before) < subtractDays(minIf(event_time, examined), {fu_days:UInt32}))`,
      { ...ctx.scope.params, fu_days: historyDays, fu_to: chTime(ctx.scope.to), fu_lo: span.lo },
    );
    if (fresh.length === 0) return [];
    const rows = await ctx.store.query<Omit<NewPair, 'principal_type'> & { ptype: string }>(
      `SELECT tenant, key_id, principal, any(principal_type) AS ptype,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              groupArray(20)(event_id) AS ids, countIf(outcome = 'failure') AS failures,
              groupUniqArray(operation) AS operations, groupUniqArray(source) AS sources,
              arraySlice(groupUniqArrayIf(source_ip, source_ip != ''), 1, 10) AS ips,
              groupUniqArrayIf(error_code, error_code != '') AS errors,
              max(${OUTSIDE_ORG_SQL}) AS outside
       FROM key_events
       WHERE (${ctx.scope.sql}) AND operation_class = 'crypto' AND key_id != '' AND principal != '' AND (${ctx.notInternal})
         AND key_id IN {fu_keys:Array(String)} AND toString(cityHash64(tenant, key_id, principal)) IN {fu_pairs:Array(String)}
       GROUP BY tenant, key_id, principal
       ORDER BY min(event_time)`,
      { ...ctx.scope.params, ...orgParams(ctx), fu_keys: [...new Set(fresh.map((p) => p.key_id))], fu_pairs: fresh.map((p) => p.g) },
    );
    const pairs: NewPair[] = rows.map(({ ptype, ...r }) => ({ ...r, principal_type: ptype }));
    if (pairs.length === 0) return [];

    // Step 2, for the keys of new pairs only (rarely many): when each key was first seen, and when
    // each new principal last used it before the window.
    const windowStart = (p: NewPair) => new Date(fromCh(p.first).getTime() - historyDays * DAY_MS);
    const earliest = new Date(Math.min(...pairs.map((p) => windowStart(p).getTime())) - LOOKBACK_DAYS * DAY_MS);
    const latest = new Date(Math.max(...pairs.map((p) => windowStart(p).getTime())));
    // One row per key and new principal (its crypto use), and one per key for everything else.
    const history = await ctx.store.query<{ tenant: string; key_id: string; who: string; first_t: string; last_t: string }>(
      `SELECT tenant, key_id, if(operation_class = 'crypto' AND principal IN {fu_principals:Array(String)}, principal, '') AS who,
              toString(min(event_time)) AS first_t, toString(max(event_time)) AS last_t
       FROM key_events
       WHERE tenant IN {fu_tenants:Array(String)} AND key_id IN {fu_keys:Array(String)}
         AND event_time >= {fu_earliest:DateTime64(3)} AND event_time < {fu_latest:DateTime64(3)}
       GROUP BY tenant, key_id, who`,
      {
        fu_tenants: [...new Set(pairs.map((p) => p.tenant))],
        fu_keys: [...new Set(pairs.map((p) => p.key_id))],
        fu_principals: [...new Set(pairs.map((p) => p.principal))],
        fu_earliest: chTime(earliest),
        fu_latest: chTime(latest),
      },
    );
    const keyFirst = new Map<string, string>();
    const lastUse = new Map<string, string>();
    for (const h of history) {
      const k = `${h.tenant}\u0000${h.key_id}`;
      const cur = keyFirst.get(k);
      if (cur === undefined || h.first_t < cur) keyFirst.set(k, h.first_t);
      if (h.who !== '') lastUse.set(`${k}\u0000${h.who}`, h.last_t);
    }

    const findings: Finding[] = [];
    for (const r of pairs) {
      const start = chTime(windowStart(r));
      const k = `${r.tenant}\u0000${r.key_id}`;
      const seen = keyFirst.get(k);
      // A key first seen inside the window is new itself: its first users are expected.
      if (seen === undefined || seen >= start) continue;
      const previous = lastUse.get(`${k}\u0000${r.principal}`);
      const outside = Number(r.outside) === 1;
      const failures = Number(r.failures);
      findings.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: Math.min(100, 50 + (failures > 0 ? 15 : 0) + (outside ? 30 : 0)),
        severity: outside ? 'high' : 'medium',
        event_count: Number(r.n),
        event_ids: r.ids,
        evidence: {
          history_days: historyDays,
          principal_type: r.principal_type,
          outside_organization: outside,
          failures,
          operations: [...r.operations].sort().join(','),
          error_codes: [...r.errors].sort().join(','),
          sources: [...r.sources].sort().join(','),
          source_ips: [...r.ips].sort().join(','),
          key_first_seen: seen,
          previous_use: previous !== undefined && previous < start ? previous : null,
        },
        title: `First use of ${r.key_id} by ${r.principal}${outside ? ' (outside the organization)' : ''}`,
      });
    }
    return findings;
  },
};
