import { z } from 'zod';
import type { Detector, DetectorContext, Finding, Severity } from './detector.ts';

export const Settings = z
  .object({
    /** Length of the sliding window, in minutes. */
    windowMinutes: z.number().int().min(1).max(1440).default(10),
    /** Fewest failures of one category in a window. */
    minFailures: z.number().int().positive().default(20),
    /**
     * Fewest failed HSM logins (CloudHSM, Luna: a wrong PIN or password) in a window, counted as
     * access_denied. HSMs lock a user out after a few bad attempts (CloudHSM after five, AWS CloudHSM
     * User Guide, loginHSM; Luna after its partition policy's maximum of failed logins), so a PIN
     * guess never reaches minFailures.
     */
    minLoginFailures: z.number().int().positive().default(5),
    /** Smallest share of the principal's calls on the key in the window that failed that way. */
    minRatio: z.number().gt(0).max(1).default(0.5),
    /**
     * The second rule: a window with `minFailures` failures and a failure ratio of at least
     * `baselineMinRatio` also fires when that ratio is `baselineFactor` times the principal's own
     * ratio on the key over the previous `baselineDays` days (with at least `baselineMinCalls`
     * calls). 0 turns the rule off.
     */
    baselineFactor: z.number().min(0).default(5),
    baselineMinRatio: z.number().gt(0).max(1).default(0.2),
    baselineDays: z.number().int().min(1).max(90).default(7),
    baselineMinCalls: z.number().int().positive().default(100),
  })
  .strict();
export type Settings = z.infer<typeof Settings>;

export type FailureCategory = 'access_denied' | 'invalid_state';

/**
 * Error codes by category, matched case-insensitively as parts of `error_code`, from what each
 * collector writes there (ingest/<source>/README.md and fixtures): AWS KMS `errorCode`, the
 * google.rpc.Code name for GCP, Key Vault's `resultSignature` or HTTP reason phrase, Vault's
 * first error, the CloudHSM and Luna response names, and PKCS#11 CKR_ names from probes.
 */
export const FAILURE_CODE_PATTERNS: Record<FailureCategory, readonly string[]> = {
  // The key exists but is not usable: disabled, pending deletion, unavailable, sealed.
  invalid_state: [
    'invalidstate', // AWS KMSInvalidStateException, CustomKeyStoreInvalidStateException
    'invalid_state',
    'disabled', // AWS DisabledException, Key Vault KeyDisabled
    'failed_precondition', // GCP 9: version disabled, destroyed or scheduled for destruction
    'keyunavailable', // AWS KeyUnavailableException
    'key_unavailable',
    'pendingdeletion',
    'deletedbutrecoverable', // Key Vault ObjectIsDeletedButRecoverable
    'sealed', // Vault answers every request with "sealed" until it is unsealed
    'key_function_not_permitted', // PKCS#11: the key's attributes forbid the operation
  ],
  // The caller is not allowed, or could not authenticate.
  access_denied: [
    'accessdenied', // AWS AccessDeniedException
    'access_denied',
    'permission_denied', // GCP 7, Vault permission_denied
    'permissiondenied',
    'unauthenticated', // GCP 16
    'unauthorized', // Key Vault 401
    'forbidden', // Key Vault 403
    'notauthorized',
    'not_authorized',
    'invalid_credentials', // Vault login
    'invalidclienttokenid',
    'unrecognizedclient',
    'login_failure', // CloudHSM RET_USER_LOGIN_FAILURE
    'login_failed',
    'pin_incorrect', // Luna RC_PIN_INCORRECT, PKCS#11 CKR_PIN_INCORRECT
    'pin_invalid',
    'pin_locked',
    'pin_expired',
    'user_not_logged_in',
  ],
};

const SEVERITY: Record<FailureCategory, Severity> = { access_denied: 'high', invalid_state: 'medium' };
const CATEGORIES = ['access_denied', 'invalid_state'] as const;

/**
 * The failure category of a `key_events` row, '' when it is neither. Key Vault refuses a disabled
 * key with 403 Forbidden and says so only in the description. An HSM login that failed is a
 * refused credential whatever the firmware's code (CloudHSM writes some as bare numbers, `157`).
 */
const CATEGORY_SQL = `multiIf(
  outcome != 'failure', '',
  lower(error_code) = 'forbidden' AND positionCaseInsensitive(attributes['result_description'], 'disabled') > 0, 'invalid_state',
  arrayExists(p -> positionCaseInsensitive(error_code, p) > 0, {fs_invalid_state:Array(String)}), 'invalid_state',
  error_code IN ('401', '403') OR arrayExists(p -> positionCaseInsensitive(error_code, p) > 0, {fs_access_denied:Array(String)}), 'access_denied',
  operation = 'login' AND source IN ('aws-cloudhsm', 'luna-hsm'), 'access_denied',
  '')`;
const CATEGORY_PARAMS = { fs_invalid_state: FAILURE_CODE_PATTERNS.invalid_state, fs_access_denied: FAILURE_CODE_PATTERNS.access_denied };
const HSM_LOGIN_SQL = "operation = 'login' AND source IN ('aws-cloudhsm', 'luna-hsm')";

const chTime = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const MINUTE = 60_000;

interface WindowRow {
  tenant: string;
  key_id: string;
  principal: string;
  m: string;
  w_total: string;
  w_hsm_login_denied: string;
  w_access_denied: string;
  w_invalid_state: string;
  w_access_denied_scoped: string;
  w_invalid_state_scoped: string;
}

interface Window {
  m: number;
  failures: number;
  total: number;
  ratio: number;
  rule: 'ratio' | 'baseline';
  baselineRatio: number | null;
}

interface CodeRow {
  error_code: string;
  n: string;
  scoped: string;
  first: string;
  last: string;
  ids: string[];
  operations: string[];
  sources: string[];
  source_ips: string[];
}

/** 40 for a window at the thresholds, more with the share that failed and the number of failures. */
const scoreOf = (w: Window, s: Settings) => Math.min(100, Math.max(0, 40 * w.ratio + 40 + 20 * Math.min(1, Math.log2(w.failures / s.minFailures) / 3)));

/** The principal's own failure ratio of one category on the key, over the days before `beforeMs`. */
async function baselineRatio(ctx: DetectorContext, s: Settings, g: { tenant: string; key_id: string; principal: string }, category: FailureCategory, beforeMs: number): Promise<number | null> {
  const [row] = await ctx.store.query<{ total: string; failures: string }>(
    `SELECT count() AS total, countIf(${CATEGORY_SQL} = {category:String}) AS failures
     FROM key_events
     WHERE tenant = {tenant:String} AND key_id = {key_id:String} AND principal = {principal:String} AND (${ctx.notInternal})
       AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}`,
    { ...CATEGORY_PARAMS, ...g, category, from: chTime(beforeMs - s.baselineDays * 86_400_000), to: chTime(beforeMs) },
  );
  const total = Number(row?.total ?? 0);
  return total >= s.baselineMinCalls ? Number(row?.failures ?? 0) / total : null;
}

export const failureSpike: Detector = {
  id: 'failure-spike',
  title: 'Spike of access-denied or invalid-state errors on a key',
  severity: 'high',
  description:
    'Many calls by one principal on one key failed within a sliding window (windowMinutes, 10 by default): at least minFailures (20) failures of one category making up at least minRatio (half) of its calls (for failed HSM logins, CloudHSM and Luna, minLoginFailures (5): HSMs lock a user out after a few wrong PINs, so guessing never gets to 20), or a failure ratio far above the principal\'s own over the previous week. Error codes of every source are put in two categories: access_denied (AWS AccessDeniedException, GCP PERMISSION_DENIED / UNAUTHENTICATED, Key Vault 403 Forbidden / 401 Unauthorized, Vault permission_denied / invalid_credentials, CloudHSM RET_USER_LOGIN_FAILURE and other failed HSM logins, Luna RC_PIN_INCORRECT, PKCS#11 CKR_PIN_*) is high: someone probing a key with credentials that are not allowed, guessing HSM PINs, or a policy change that locked out a service; invalid_state (AWS KMSInvalidStateException / DisabledException / KeyUnavailableException, GCP FAILED_PRECONDITION, Key Vault 403 on a disabled key, Vault sealed) is medium: a key disabled, pending deletion or unreachable, with its callers failing — an outage in the making.',
  runbook:
    "Read the category and top_error_codes in the evidence. access_denied: find who the principal is and whether it should use this key at all (keywatch sql \"SELECT event_time, operation, error_code, source_ip, user_agent FROM key_events WHERE principal = '<principal>' AND key_id = '<key_id>' ORDER BY event_time DESC LIMIT 100\"); an unknown principal, an outside IP or HSM PIN guessing means stolen or leaked credentials: disable them, and for an HSM check whether the role is now locked out. A known service that was just denied usually follows a key policy, IAM or access-policy change: look for update_policy events on the key and roll back. invalid_state: check the key's state (disabled, pending deletion, version destroyed, custom key store disconnected, Vault sealed) and whether that was planned; if not, re-enable the key or cancel the deletion before its callers' data becomes unreadable.",
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html',
    'https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html',
    'https://cloud.google.com/apis/design/errors#handling_errors',
    'https://learn.microsoft.com/azure/key-vault/general/rest-error-codes',
    'https://developer.hashicorp.com/vault/docs/concepts/seal',
    'https://docs.aws.amazon.com/cloudhsm/latest/userguide/interpreting-audit-logs.html',
    'Panther: AWS.CloudTrail.UnauthorizedAPICall (Monitor Unauthorized API Calls), Standard.BruteForceByIP',
    'MITRE ATT&CK T1110 (brute force, HSM PINs), T1078 (valid accounts probing)',
  ],
  falsePositives: [
    'A deployment that rolled out a new role or service account before its key permission (fixed by granting it; allow-list for the rollout)',
    'A key disabled on purpose while callers still use it (declare a maintenance window for the key)',
    'Clients retrying a refused call in a tight loop make one refusal look like many: the ratio stays 1 while the cause is a single misconfiguration',
    'An HSM application started with a wrong or expired PIN retries its login: five failed logins in a window are enough to fire (the application is locked out too, which is worth knowing)',
    'Provider-internal callers (AWS services acting for the customer) are left out unless detect.includeInternalCallers is set, so an S3 or RDS outage caused by a disabled key shows only through the customer\'s own callers',
  ],
  dedupeMinutes: 60,
  settings: Settings,
  async run(ctx) {
    const s = Settings.parse(ctx.settings);
    const w = s.windowMinutes;
    const loosest = s.baselineFactor > 0 ? Math.min(s.minRatio, s.baselineMinRatio) : s.minRatio;
    // A window ending at any minute with at least minFailures failures of a category (or
    // minLoginFailures failed HSM logins) holds no more failures than the window ending at its last
    // failure, so only keys and principals whose failures alone make such a window can fire. They are found from the failures (a small share
    // of the calls), and the windows over all calls are counted for them only.
    const [span] = await ctx.store.query<{ lo: string; hi: string; n: string }>(
      `SELECT toString(min(event_time)) AS lo, toString(max(event_time)) AS hi, count() AS n
       FROM key_events WHERE (${ctx.scope.sql}) AND outcome = 'failure'`,
      ctx.scope.params,
    );
    if (!span || Number(span.n) === 0) return [];
    const spiky = await ctx.store.query<{ g: string; key_id: string }>(
      `SELECT DISTINCT toString(g) AS g, k AS key_id
       FROM
       (
         SELECT g, k, cat, sum(f) OVER (PARTITION BY g, cat ORDER BY m RANGE BETWEEN ${w - 1} PRECEDING AND CURRENT ROW) AS wf,
                sum(fl) OVER (PARTITION BY g, cat ORDER BY m RANGE BETWEEN ${w - 1} PRECEDING AND CURRENT ROW) AS wfl,
                max(scoped) OVER (PARTITION BY g) AS g_scoped
         FROM
         (
           SELECT cityHash64(tenant, key_id, principal) AS g, any(key_id) AS k, cat, m, count() AS f, countIf(hsm_login) AS fl, countIf(in_scope) AS scoped
           FROM
           (
             SELECT tenant, key_id, principal, ${CATEGORY_SQL} AS cat, intDiv(toUnixTimestamp(event_time), 60) AS m, (${ctx.scope.sql}) AS in_scope,
                    ${HSM_LOGIN_SQL} AS hsm_login
             FROM key_events
             WHERE outcome = 'failure' AND (${ctx.notInternal})
               AND event_time >= {fs_lo:DateTime64(3)} - toIntervalMinute(${w}) AND event_time < {fs_hi:DateTime64(3)} + toIntervalMinute(${w})
           )
           WHERE cat != ''
           GROUP BY g, cat, m
         )
       )
       WHERE (wf >= {min_failures:UInt32} OR (cat = 'access_denied' AND wfl >= {min_login_failures:UInt32})) AND g_scoped > 0`,
      { ...ctx.scope.params, ...CATEGORY_PARAMS, fs_lo: span.lo, fs_hi: span.hi, min_failures: s.minFailures, min_login_failures: s.minLoginFailures },
    );
    if (spiky.length === 0) return [];
    const only = { fs_groups: [...new Set(spiky.map((r) => r.g))], fs_keys: [...new Set(spiky.map((r) => r.key_id))] };
    // Sliding windows, one ending at each minute with calls, of those principals that failed in scope;
    // stored calls before and after the scope count too, so a spike split by an incremental run's
    // watermark is still seen whole. Only windows holding a failure in scope are kept.
    const rows = await ctx.store.query<WindowRow>(
      `WITH
         cand AS (
           SELECT tenant, key_id, principal, min(event_time) AS lo, max(event_time) AS hi
           FROM key_events
           WHERE (${ctx.scope.sql}) AND outcome = 'failure' AND (${ctx.notInternal}) AND ${CATEGORY_SQL} != ''
             AND key_id IN {fs_keys:Array(String)} AND toString(cityHash64(tenant, key_id, principal)) IN {fs_groups:Array(String)}
           GROUP BY tenant, key_id, principal
         ),
         minutes AS (
           SELECT tenant, key_id, principal, m, count() AS total,
                  countIf(cat = 'access_denied') AS access_denied, countIf(cat = 'invalid_state') AS invalid_state,
                  countIf(cat = 'access_denied' AND hsm_login) AS hsm_login_denied,
                  countIf(cat = 'access_denied' AND in_scope) AS access_denied_scoped, countIf(cat = 'invalid_state' AND in_scope) AS invalid_state_scoped
           FROM
           (
             SELECT tenant, key_id, principal, intDiv(toUnixTimestamp(event_time), 60) AS m, ${CATEGORY_SQL} AS cat, (${ctx.scope.sql}) AS in_scope,
                    ${HSM_LOGIN_SQL} AS hsm_login
             FROM key_events
             WHERE (${ctx.notInternal}) AND key_id IN {fs_keys:Array(String)} AND (tenant, key_id, principal) IN (SELECT tenant, key_id, principal FROM cand)
               AND event_time >= (SELECT min(lo) FROM cand) - toIntervalMinute(${w})
               AND event_time < (SELECT max(hi) FROM cand) + toIntervalMinute(${w})
           )
           GROUP BY tenant, key_id, principal, m
         )
       SELECT * FROM
       (
         SELECT tenant, key_id, principal, m,
                sum(total) OVER win AS w_total, sum(hsm_login_denied) OVER win AS w_hsm_login_denied,
                sum(access_denied) OVER win AS w_access_denied, sum(invalid_state) OVER win AS w_invalid_state,
                sum(access_denied_scoped) OVER win AS w_access_denied_scoped, sum(invalid_state_scoped) OVER win AS w_invalid_state_scoped
         FROM minutes
         WINDOW win AS (PARTITION BY tenant, key_id, principal ORDER BY m RANGE BETWEEN ${w - 1} PRECEDING AND CURRENT ROW)
       )
       WHERE ((w_access_denied >= {min_failures:UInt32} OR w_hsm_login_denied >= {min_login_failures:UInt32}) AND w_access_denied_scoped > 0 AND w_access_denied >= {loosest:Float64} * w_total)
          OR (w_invalid_state >= {min_failures:UInt32} AND w_invalid_state_scoped > 0 AND w_invalid_state >= {loosest:Float64} * w_total)
       ORDER BY tenant, key_id, principal, m`,
      { ...ctx.scope.params, ...CATEGORY_PARAMS, ...only, min_failures: s.minFailures, min_login_failures: s.minLoginFailures, loosest },
    );

    // Windows that fire, per key, principal and category.
    const firing = new Map<string, { g: { tenant: string; key_id: string; principal: string }; category: FailureCategory; windows: Window[] }>();
    const baselines = new Map<string, number | null>();
    for (const r of rows) {
      const g = { tenant: r.tenant, key_id: r.key_id, principal: r.principal };
      const total = Number(r.w_total);
      for (const category of CATEGORIES) {
        const failures = Number(category === 'access_denied' ? r.w_access_denied : r.w_invalid_state);
        const scoped = Number(category === 'access_denied' ? r.w_access_denied_scoped : r.w_invalid_state_scoped);
        const hsmLogins = category === 'access_denied' && Number(r.w_hsm_login_denied) >= s.minLoginFailures;
        if ((failures < s.minFailures && !hsmLogins) || scoped === 0) continue;
        const ratio = failures / total;
        const m = Number(r.m);
        let win: Window | undefined;
        if (ratio >= s.minRatio) win = { m, failures, total, ratio, rule: 'ratio', baselineRatio: null };
        else if (s.baselineFactor > 0 && ratio >= s.baselineMinRatio) {
          const key = [r.tenant, r.key_id, r.principal, category].join('\u0000');
          // One baseline per principal, key and category: the days before its first candidate window.
          if (!baselines.has(key)) baselines.set(key, await baselineRatio(ctx, s, g, category, (m - w + 1) * MINUTE));
          const base = baselines.get(key) ?? null;
          if (base !== null && ratio >= s.baselineFactor * base) win = { m, failures, total, ratio, rule: 'baseline', baselineRatio: base };
        }
        if (!win) continue;
        const id = [r.tenant, r.key_id, r.principal, category].join('\u0000');
        const f = firing.get(id) ?? { g, category, windows: [] };
        f.windows.push(win);
        firing.set(id, f);
      }
    }

    const findings: Finding[] = [];
    for (const { g, category, windows } of firing.values()) {
      // Overlapping or touching windows are one spike.
      const spikes: Window[][] = [];
      for (const win of windows) {
        const cur = spikes.at(-1);
        const last = cur?.at(-1);
        if (cur && last && win.m - last.m <= w) cur.push(win);
        else spikes.push([win]);
      }
      for (const spike of spikes) {
        const first = spike[0] as Window;
        const last = spike.at(-1) as Window;
        const peak = spike.reduce((a, b) => (b.failures > a.failures || (b.failures === a.failures && b.ratio > a.ratio) ? b : a));
        const codes = await ctx.store.query<CodeRow>(
          `SELECT error_code, count() AS n, countIf(in_scope) AS scoped, toString(min(event_time)) AS first, toString(max(event_time)) AS last,
                  arraySlice(groupArray(event_id), 1, 20) AS ids, groupUniqArray(operation) AS operations, groupUniqArray(source) AS sources,
                  arraySlice(groupUniqArray(source_ip), 1, 5) AS source_ips
           FROM
           (
             SELECT error_code, event_time, event_id, operation, source, source_ip, ${CATEGORY_SQL} AS cat, (${ctx.scope.sql}) AS in_scope
             FROM key_events
             WHERE tenant = {tenant:String} AND key_id = {key_id:String} AND principal = {principal:String} AND (${ctx.notInternal})
               AND event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
           )
           WHERE cat = {category:String}
           GROUP BY error_code
           ORDER BY n DESC, error_code`,
          { ...ctx.scope.params, ...CATEGORY_PARAMS, ...g, category, from: chTime((first.m - w + 1) * MINUTE), to: chTime((last.m + 1) * MINUTE) },
        );
        if (codes.length === 0) continue;
        const failures = codes.reduce((n, c) => n + Number(c.n), 0);
        const union = (pick: (c: CodeRow) => string[]) => [...new Set(codes.flatMap(pick))].filter((v) => v !== '').sort().join(',');
        const label = category === 'access_denied' ? 'access-denied' : 'invalid-state';
        findings.push({
          tenant: g.tenant,
          key_id: g.key_id,
          principal: g.principal,
          first_time: codes.map((c) => c.first).reduce((a, b) => (a < b ? a : b)),
          last_time: codes.map((c) => c.last).reduce((a, b) => (a > b ? a : b)),
          score: scoreOf(peak, s),
          severity: SEVERITY[category],
          event_count: codes.reduce((n, c) => n + Number(c.scoped), 0),
          event_ids: codes.flatMap((c) => c.ids).slice(0, 20),
          evidence: {
            category,
            rule: peak.rule,
            failures,
            window_minutes: w,
            peak_window_failures: peak.failures,
            peak_window_calls: peak.total,
            failure_ratio: Math.round(peak.ratio * 1000) / 1000,
            baseline_ratio: peak.baselineRatio === null ? null : Math.round(peak.baselineRatio * 10000) / 10000,
            top_error_codes: codes.slice(0, 5).map((c) => `${c.error_code}:${c.n}`).join(','),
            operations: union((c) => c.operations),
            sources: union((c) => c.sources),
            source_ips: union((c) => c.source_ips),
          },
          title: `${peak.failures} ${label} failures in ${w} minutes on ${g.key_id || '(no key)'} by ${g.principal || '(unknown principal)'}`,
          group: category,
        });
      }
    }
    return findings;
  },
};
