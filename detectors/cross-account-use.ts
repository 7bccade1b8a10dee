import type { Detector, DetectorContext, Finding } from './detector.ts';

// Helpers for "inside the organization", shared with policy-widened and external-grant.

const DAY_MS = 86_400_000;
const chText = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

/** How far back an account must have shown its own log to count as monitored. */
export const MONITORED_LOOKBACK_DAYS = 30;

/**
 * Accounts that count as inside the organization: the configured and tenants-map accounts, and
 * every account whose own audit log keywatch read in the month before the run (for AWS the
 * `recipient_account` of the trail, since a caller-side copy of a cross-account call names the
 * foreign key owner in `account`). Nobody feeds keywatch an outsider's logs, so an account whose
 * log arrives is part of the estate, even when it has no tenant mapping. Lower case.
 *
 * @example const inside = await insideAccounts(ctx); inside.has('111122223333')
 */
export async function insideAccounts(ctx: DetectorContext): Promise<Set<string>> {
  const rows = await ctx.store.query<{ a: string }>(
    `SELECT DISTINCT lower(if(attributes['recipient_account'] != '', attributes['recipient_account'], account)) AS a
     FROM key_events
     WHERE account != '' AND event_time >= {inside_from:DateTime64(3)} AND event_time < {inside_to:DateTime64(3)}`,
    { inside_from: chText(new Date(ctx.scope.from.getTime() - MONITORED_LOOKBACK_DAYS * DAY_MS)), inside_to: chText(new Date(ctx.scope.to.getTime() + DAY_MS)) },
  );
  return new Set([...ctx.organization.accounts.map((a) => a.toLowerCase()), ...rows.map((r) => r.a)]);
}

/**
 * The Entra tenant each monitored Azure subscription belongs to, taken from the tokens seen on its
 * vaults in the month before the run: the tenant of most successful management calls (key
 * creation, access policies ...), else of most calls. Key Vault accepts only tokens of the vault's
 * own tenant, so this is the vault's tenant unless an outsider made nearly all the calls.
 */
export async function azureHomeTenants(ctx: DetectorContext): Promise<Map<string, string>> {
  const rows = await ctx.store.query<{ account: string; home: string }>(
    `SELECT account, argMax(tid, (mgmt, n)) AS home FROM (
       SELECT account, lower(attributes['tenant_id']) AS tid,
              countIf(operation_class IN ('lifecycle', 'policy', 'admin') AND outcome = 'success') AS mgmt, count() AS n
       FROM key_events
       WHERE source = 'azure-key-vault' AND attributes['tenant_id'] != ''
         AND event_time >= {home_from:DateTime64(3)} AND event_time < {home_to:DateTime64(3)}
       GROUP BY account, tid)
     GROUP BY account`,
    { home_from: chText(new Date(ctx.scope.from.getTime() - MONITORED_LOOKBACK_DAYS * DAY_MS)), home_to: chText(new Date(ctx.scope.to.getTime() + DAY_MS)) },
  );
  return new Map(rows.map((r) => [r.account, r.home]));
}

/** Whether `domain` is one of `domains` or below one (`eu.example.com` is inside `example.com`). */
export function domainInside(domain: string, domains: readonly string[]): boolean {
  const d = domain.toLowerCase();
  return domains.some((x) => {
    const o = x.toLowerCase().replace(/^\*?\.|^@/, '');
    return d === o || d.endsWith(`.${o}`);
  });
}

/**
 * The project of a user-managed GCP service account (`name@<project>.iam.gserviceaccount.com`,
 * `<project>@appspot.gserviceaccount.com`); domain-scoped projects come back as `example.com:proj`.
 * Google-managed service agents (`service-<number>@…`, `…@gcp-sa-….iam…`) and default accounts named
 * by project number have no project id and give undefined.
 */
export function gcpServiceAccountProject(email: string): string | undefined {
  const m = /^([^@]+)@([a-z0-9.:-]+)\.iam\.gserviceaccount\.com$/i.exec(email) ?? undefined;
  if (m?.[1] && m[2]) {
    if (/^(service-|bq-)?\d+$/.test(m[1]) || m[2].startsWith('gcp-sa-')) return undefined;
    const dot = m[2].indexOf('.');
    return (dot > 0 ? `${m[2].slice(dot + 1)}:${m[2].slice(0, dot)}` : m[2]).toLowerCase();
  }
  const app = /^([a-z][a-z0-9-]{4,28}[a-z0-9])@appspot\.gserviceaccount\.com$/i.exec(email) ?? undefined;
  return app?.[1]?.toLowerCase();
}

/** Whether a GCP project (id, or `domain:id`) is inside: listed, monitored, or in an organization domain. */
export function gcpProjectInside(project: string, inside: ReadonlySet<string>, domains: readonly string[]): boolean {
  if (inside.has(project)) return true;
  const colon = project.indexOf(':');
  return colon > 0 && domainInside(project.slice(0, colon), domains);
}

// The detector.

interface Row {
  tenant: string;
  key_id: string;
  principal: string;
  caller_kind: string;
  caller_account: string;
  key_owner: string;
  source_name: string;
  first: string;
  last: string;
  n: string;
  ok: string;
  ids: string[];
  ips: string[];
  ops: string[];
  errors: string[];
}

// Dedupe window: a partner's steady use of a key is one alert a day, not one an hour.
const DEDUPE_MINUTES = 1440;

export const crossAccountUse: Detector = {
  id: 'cross-account-use',
  title: 'Key used from an account outside the organization',
  severity: 'high',
  description:
    'Cryptographic use (encrypt, decrypt, data keys, sign, wrap/unwrap) of a key by a principal of another account that is not inside the organization. ' +
    'AWS: the caller account (`caller_account`) differs from the key owner (the KMS key policy or a grant lets a foreign account use the key). ' +
    'GCP: a user-managed service account of another project (`name@<project>.iam.gserviceaccount.com`) uses the key; users of other identity domains count only when `detect.organization.domains` is configured; service agents and workload-identity principals (named by project number) are not judged. ' +
    'Azure: the token tenant (`tid`, attribute `tenant_id`) differs from the tenant of the vault\'s subscription (learned from the management calls on its vaults); a successful call with a foreign tid should not exist, since Key Vault only takes its own tenant\'s tokens, and cross-tenant customer-managed keys show the vault\'s own tid with a foreign app id, which the log cannot tell apart. ' +
    'Inside the organization: the configured accounts (`detect.organization.accounts`, which may list projects and Entra tenant ids), the tenants map, the key\'s own account, and every account whose own log keywatch reads; cross-account use between those is normal in multi-account estates and is not reported. ' +
    'Events are aggregated per key, principal and caller account in a day: one alert with counts, first and last time and source IPs. High when any call succeeded, medium when every call was refused (probing). ' +
    'Vault namespaces, CloudHSM and Luna partitions have no foreign accounts; they are not covered.',
  runbook:
    'Identify the caller account from the evidence (`caller_account`) and find its owner: an AWS Organizations lookup, the GCP project\'s owners, the Entra tenant\'s name. ' +
    'If it is a known partner or one of your own accounts not yet configured, add it to `detect.organization.accounts` (or the tenants map). ' +
    'If it is unknown: find what lets it use the key (AWS: `aws kms get-key-policy` and `aws kms list-grants` for the key; GCP: `gcloud kms keys get-iam-policy` and the key ring\'s policy; Azure: the vault\'s access policies / role assignments), ' +
    'remove that access (revoke the grant, drop the statement or binding), and check what the principal decrypted: keywatch sql "SELECT event_time, operation, source_ip, attributes FROM key_events WHERE key_id = \'<key>\' AND principal = \'<principal>\' ORDER BY event_time". ' +
    'Treat data encrypted under the key as exposed for the span shown; rotate the key and the data keys it protected if the access was not authorised.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html',
    'https://cloud.google.com/kms/docs/audit-logging',
    'https://learn.microsoft.com/azure/key-vault/general/logging',
    'Panther: GCP.KMS.CrossProjectEncryption (the reverse direction: an own service account using another project\'s key)',
  ],
  falsePositives: [
    'A partner or a newly acquired account that is not yet listed in detect.organization.accounts or the tenants map (add it)',
    'A CI or data-platform project in GCP outside the configured projects and whose KMS log keywatch does not read',
    'Azure: a vault whose only callers are another tenant\'s app, so the learned home tenant is the outsider\'s and the owner\'s own rare calls look foreign (configure the tenant id in detect.organization.accounts)',
  ],
  dedupeMinutes: DEDUPE_MINUTES,
  async run(ctx) {
    // Candidates first (a caller account that differs from the key's), the month-long lookups of
    // monitored accounts and Azure home tenants only when there are any. The caller's side is a
    // function of a few columns, so it is worked out once per distinct combination of them, not
    // per event; the events are read in full only for callers that may be outside.
    const judge = { judge_domains: ctx.organization.domains.length > 0 ? 1 : 0 };
    const combos = await ctx.store.query<{ combo: string; caller_kind: string; caller_account: string; key_account: string }>(
      `SELECT combo, caller_kind, lower(caller_raw) AS caller_account, lower(account) AS key_account
       FROM (
         SELECT combo, account,
                multiIf(source = 'azure-key-vault', 'tenant',
                        source = 'gcp-kms' AND principal_type = 'service_account', 'project',
                        source = 'gcp-kms' AND principal_type = 'user' AND position(principal, '@') > 0 AND {judge_domains:UInt8} = 1, 'domain',
                        'account') AS caller_kind,
                extract(principal, '@([a-zA-Z0-9.-]+)[.]iam[.]gserviceaccount[.]com$') AS sa_domain,
                multiIf(source = 'azure-key-vault', tenant_id,
                        caller_kind = 'project', ${GCP_PROJECT_SQL},
                        caller_kind = 'domain', substring(principal, position(principal, '@') + 1),
                        caller_attr) AS caller_raw
         FROM (
           SELECT combo, src AS source, ptype AS principal_type, prin AS principal, acct AS account, tenant_id, caller_attr
           FROM (
             SELECT toString(${COMBO_HASH_SQL}) AS combo, any(source) AS src, any(principal_type) AS ptype, any(principal) AS prin,
                    any(account) AS acct, any(attributes['tenant_id']) AS tenant_id, any(attributes['caller_account']) AS caller_attr
             FROM key_events
             WHERE (${ctx.scope.sql}) AND operation_class = 'crypto' AND key_id != '' AND (${ctx.notInternal})
             GROUP BY ${COMBO_HASH_SQL}
           )
         )
       )
       WHERE caller_account != '' AND (caller_kind = 'tenant' OR caller_account != key_account)
       -- Pushed below the GROUP BY, this filter would work the caller out for every event again.
       SETTINGS query_plan_filter_push_down = 0, enable_optimize_predicate_expression = 0`,
      { ...ctx.scope.params, ...judge },
    );
    if (combos.length === 0) return [];
    const homes = combos.some((r) => r.caller_kind === 'tenant') ? await azureHomeTenants(ctx) : new Map<string, string>();
    const inside = await insideAccounts(ctx);
    for (const t of homes.values()) inside.add(t);
    const outside = (r: { caller_kind: string; caller_account: string }, keyAccount: string): boolean => {
      if (keyAccount === '' || r.caller_account === keyAccount) return false;
      if (r.caller_kind === 'project') return !gcpProjectInside(r.caller_account, inside, ctx.organization.domains);
      if (r.caller_kind === 'domain') return !domainInside(r.caller_account, ctx.organization.domains);
      return !inside.has(r.caller_account);
    };
    const homeOf = (r: { caller_kind: string }, owner: string) => (r.caller_kind === 'tenant' ? (homes.get(owner) ?? '') : owner);
    // Callers outside for some key, and every combination that names them (their events are grouped together below).
    const foreign = new Set(combos.filter((c) => outside(c, homeOf(c, c.key_account))).map((c) => `${c.caller_kind}\u0000${c.caller_account}`));
    const only = combos.filter((c) => foreign.has(`${c.caller_kind}\u0000${c.caller_account}`)).map((c) => c.combo);
    if (only.length === 0) return [];
    const rows = await ctx.store.query<Row>(
      `SELECT tenant, key_id, principal, caller_kind, caller_account, any(key_account) AS key_owner, any(source) AS source_name,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n, countIf(outcome = 'success') AS ok,
              groupArray(20)(event_id) AS ids,
              arraySlice(arraySort(arrayFilter(ip -> ip != '', groupUniqArray(source_ip))), 1, 10) AS ips,
              arraySort(groupUniqArray(operation)) AS ops,
              arraySort(arrayFilter(e -> e != '', groupUniqArray(error_code))) AS errors
       FROM (
         SELECT tenant, key_id, principal, source, event_time, event_id, outcome, operation, error_code, source_ip, caller_kind,
                lower(caller_raw) AS caller_account, lower(account) AS key_account
         FROM (
           SELECT tenant, key_id, principal, source, event_time, event_id, outcome, operation, error_code, source_ip, account,
                  multiIf(source = 'azure-key-vault', 'tenant',
                          source = 'gcp-kms' AND principal_type = 'service_account', 'project',
                          source = 'gcp-kms' AND principal_type = 'user' AND position(principal, '@') > 0 AND {judge_domains:UInt8} = 1, 'domain',
                          'account') AS caller_kind,
                  extract(principal, '@([a-zA-Z0-9.-]+)[.]iam[.]gserviceaccount[.]com$') AS sa_domain,
                  multiIf(source = 'azure-key-vault', attributes['tenant_id'],
                          caller_kind = 'project', ${GCP_PROJECT_SQL},
                          caller_kind = 'domain', substring(principal, position(principal, '@') + 1),
                          attributes['caller_account']) AS caller_raw
           FROM key_events
           WHERE (${ctx.scope.sql}) AND operation_class = 'crypto' AND key_id != '' AND (${ctx.notInternal})
             AND ${COMBO_SQL} IN {ca_combos:Array(String)}
         )
       )
       -- An Azure key's side is its subscription's tenant, looked up above.
       WHERE caller_account != '' AND (caller_kind = 'tenant' OR caller_account != key_account)
       GROUP BY tenant, key_id, principal, caller_kind, caller_account, intDiv(toUnixTimestamp(event_time), {bucket_seconds:UInt32})
       ORDER BY first, key_id, principal`,
      { ...ctx.scope.params, ...judge, ca_combos: only, bucket_seconds: DEDUPE_MINUTES * 60 },
    );
    const out: Finding[] = [];
    for (const r of rows) {
      const keyAccount = homeOf(r, r.key_owner);
      if (!outside(r, keyAccount)) continue;
      const ok = Number(r.ok);
      const n = Number(r.n);
      const what = r.caller_kind === 'tenant' ? 'Entra tenant' : r.caller_kind === 'project' ? 'project' : r.caller_kind === 'domain' ? 'domain' : 'account';
      out.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: ok > 0 ? 80 : 55,
        severity: ok > 0 ? 'high' : 'medium',
        event_count: n,
        event_ids: r.ids,
        evidence: {
          caller_account: r.caller_account,
          caller_kind: r.caller_kind,
          key_account: keyAccount,
          source: r.source_name,
          succeeded: ok,
          refused: n - ok,
          operations: r.ops.join(','),
          error_codes: r.errors.join(','),
          source_ips: r.ips.join(','),
        },
        title: `${ok > 0 ? 'Key used' : 'Key use attempted'} from outside ${what} ${r.caller_account}: ${r.key_id}`,
        group: r.caller_account,
      });
    }
    return out;
  },
};

// The SQL twin of gcpServiceAccountProject, over `sa_domain` (the part before `.iam.gserviceaccount.com`).
// The columns the caller's side is worked out from, as one value.
const COMBO_HASH_SQL = "cityHash64(source, principal_type, principal, account, attributes['tenant_id'], attributes['caller_account'])";
const COMBO_SQL = `toString(${COMBO_HASH_SQL})`;

const GCP_PROJECT_SQL = `multiIf(
    match(principal, '^(service-|bq-)?[0-9]+@') OR startsWith(sa_domain, 'gcp-sa-'), '',
    sa_domain != '' AND position(sa_domain, '.') > 0,
      concat(substring(sa_domain, position(sa_domain, '.') + 1), ':', substring(sa_domain, 1, position(sa_domain, '.') - 1)),
    sa_domain != '', sa_domain,
    match(principal, '^[a-z][a-z0-9-]+@appspot[.]gserviceaccount[.]com$'), extract(principal, '^([^@]+)@'),
    '')`;
