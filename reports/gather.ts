import type { DetectConfig } from '../core/config.ts';
import { cryptoperiodDays, daysBetween, keyRotations } from '../detectors/rotation-evidence.ts';
import { verifyChain, type ChainReport } from '../storage/ledger.ts';
import type { Store } from '../storage/store.ts';
import { chTime, type ReportPeriod } from './period.ts';

/**
 * Data gathering for the quarterly compliance report: one function per section, each a set of
 * parameterized queries over the store. Every section reads the events, alerts, SLO evaluations
 * and attestations of the quarter, of one tenant when `tenant` is set.
 */
export interface ReportInput {
  store: Store;
  period: ReportPeriod;
  /** Only this tenant; empty for all. */
  tenant: string;
  /** The moment the report is taken: rotation age is measured at min(now, end of quarter). */
  now: Date;
  detect: Pick<DetectConfig, 'cryptoperiodDays'>;
}

const EVENTS_IN = `event_time >= {r_from:DateTime64(3)} AND event_time < {r_to:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String})`;

function params(input: ReportInput): Record<string, unknown> {
  return { r_from: chTime(input.period.from), r_to: chTime(input.period.to), r_tenant: input.tenant };
}

const num = (v: unknown): number => Number(v ?? 0);

// Sources whose keys live in an HSM the customer operates.
const HSM_SOURCES = ['aws-cloudhsm', 'luna-hsm', 'pkcs11-probe'];

// ---------------------------------------------------------------------------------------------
// Scope and data completeness

export type SourceRow = { source: string; tenants: number; accounts: number; keys: number; events: number; first_event: string; last_event: string };
export type CoverageGapRow = { tenant: string; source: string; account: string; key_id: string; reason: string; admin_events: number; data_events: number; window_start: string; window_end: string; hint: string };
export type AuditGapRow = { tenant: string; source: string; stream: string; kind: string; from_position: number; to_position: number; missing: number; before_time: string; after_time: string; detail: string };
export interface ScopeSection {
  sources: SourceRow[];
  coverage_gaps: CoverageGapRow[];
  audit_gaps: AuditGapRow[];
  quarantined: number;
  chain: Pick<ChainReport, 'ok' | 'batches' | 'head'> & { findings: { code: string; message: string }[] };
}

/** Which sources fed the quarter, known blind spots (coverage gaps, sequence gaps) and the ingest hash chain. */
export async function gatherScope(input: ReportInput): Promise<ScopeSection> {
  const p = params(input);
  const sources = await input.store.query<Record<keyof SourceRow, string>>(
    `SELECT source, uniqExact(tenant) AS tenants, uniqExact(account) AS accounts, uniqExact(tenant, key_id) AS keys, count() AS events,
       toString(min(event_time)) AS first_event, toString(max(event_time)) AS last_event
     FROM key_events FINAL WHERE ${EVENTS_IN} GROUP BY source ORDER BY source`,
    p,
  );
  const gaps = await input.store.query<Record<keyof CoverageGapRow, string>>(
    `SELECT tenant, source, account, key_id, reason, admin_events, data_events, window_start, window_end, hint
     FROM coverage_gaps FINAL
     WHERE window_end > {r_from:DateTime64(3)} AND window_start < {r_to:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String})
     ORDER BY tenant, source, key_id`,
    p,
  );
  const audit = await input.store.query<Record<keyof AuditGapRow, string>>(
    `SELECT tenant, source, stream, kind, from_position, to_position, missing, before_time, after_time, detail
     FROM audit_integrity FINAL
     WHERE after_time >= {r_from:DateTime64(3)} AND before_time < {r_to:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String})
     ORDER BY tenant, source, stream, from_position`,
    p,
  );
  const [q] = await input.store.query<{ n: string }>(
    `SELECT count() AS n FROM quarantine WHERE quarantine_time >= {r_from:DateTime64(3)} AND quarantine_time < {r_to:DateTime64(3)}`,
    p,
  );
  const chain = await verifyChain(input.store);
  return {
    sources: sources.map((r) => ({ ...r, tenants: num(r.tenants), accounts: num(r.accounts), keys: num(r.keys), events: num(r.events) })),
    coverage_gaps: gaps.map((r) => ({ ...r, admin_events: num(r.admin_events), data_events: num(r.data_events) })),
    audit_gaps: audit.map((r) => ({ ...r, from_position: num(r.from_position), to_position: num(r.to_position), missing: num(r.missing) })),
    quarantined: num(q?.n),
    chain: { ok: chain.ok, batches: chain.batches, head: chain.head, findings: chain.findings.map((f) => ({ code: f.code, message: f.message })) },
  };
}

// ---------------------------------------------------------------------------------------------
// Key inventory

export type KeyOrigin = 'byok' | 'provider' | 'hsm';
export type KeyRow = { tenant: string; key_id: string; source: string; account: string; regions: string; origin: KeyOrigin; events: number; first_event: string; last_event: string };
export interface InventorySection { keys: KeyRow[]; by_origin: Record<KeyOrigin, number>; regions: { region: string; keys: number }[] }

/**
 * Every key with an event in the quarter. Origin: `hsm` for HSM sources, `byok` when the key's
 * material was ever imported (or AWS reports origin EXTERNAL), else `provider`.
 */
export async function gatherInventory(input: ReportInput): Promise<InventorySection> {
  const rows = await input.store.query<Record<keyof KeyRow, string> & { imported: string }>(
    `SELECT q.tenant AS tenant, q.key_id AS key_id, q.source AS source, q.account AS account, q.regions AS regions, q.events AS events,
       q.first_event AS first_event, q.last_event AS last_event, ifNull(h.imported, 0) AS imported
     FROM
     (
       SELECT tenant, key_id, any(source) AS source, any(account) AS account, arrayStringConcat(arraySort(groupUniqArrayIf(region, region != '')), ',') AS regions,
         count() AS events, toString(min(event_time)) AS first_event, toString(max(event_time)) AS last_event
       FROM key_events FINAL WHERE ${EVENTS_IN} AND key_id != '' GROUP BY tenant, key_id
     ) AS q
     LEFT JOIN
     (
       SELECT tenant, key_id, countIf(operation = 'import_key_material' OR attributes['key_origin'] = 'EXTERNAL') AS imported
       FROM key_events WHERE event_time < {r_to:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String}) AND key_id != ''
       GROUP BY tenant, key_id
     ) AS h ON h.tenant = q.tenant AND h.key_id = q.key_id
     ORDER BY tenant, key_id
     SETTINGS join_use_nulls = 1`,
    params(input),
  );
  const keys: KeyRow[] = rows.map((r) => ({
    tenant: r.tenant,
    key_id: r.key_id,
    source: r.source,
    account: r.account,
    regions: r.regions,
    origin: HSM_SOURCES.includes(r.source) ? 'hsm' : num(r.imported) > 0 ? 'byok' : 'provider',
    events: num(r.events),
    first_event: r.first_event,
    last_event: r.last_event,
  }));
  const by_origin: Record<KeyOrigin, number> = { byok: 0, provider: 0, hsm: 0 };
  const regionKeys = new Map<string, number>();
  for (const k of keys) {
    by_origin[k.origin]++;
    for (const region of k.regions ? k.regions.split(',') : ['(none)']) regionKeys.set(region, (regionKeys.get(region) ?? 0) + 1);
  }
  const regions = [...regionKeys].map(([region, n]) => ({ region, keys: n })).sort((a, b) => a.region.localeCompare(b.region));
  return { keys, by_origin, regions };
}

// ---------------------------------------------------------------------------------------------
// Rotation adherence

export type RotationRow = {
  tenant: string; key_id: string; source: string; cryptoperiod_days: number; material_since: string; age_days: number;
  evidence: string; evidence_event_id: string; age_is_lower_bound: boolean; byok: boolean; schedule: string; schedule_period_days: number | null; deleted: boolean; overdue: boolean;
};
export interface RotationSection { as_of: string; evaluated: number; within_period: number; overdue: number; deleted: number; keys: RotationRow[] }

/**
 * Age of every key's current material at the end of the quarter (or now, if earlier) against its
 * cryptoperiod (`detect.cryptoperiodDays`), from the same rotation evidence the rotation detectors
 * use. A key scheduled for deletion or destroyed is listed but is neither compliant nor overdue.
 */
export async function gatherRotation(input: ReportInput): Promise<RotationSection> {
  const asOf = new Date(Math.min(input.now.getTime(), input.period.to.getTime() - 1));
  const scope = { sql: EVENTS_IN, params: params(input), from: input.period.from, to: input.period.to };
  const rotations = await keyRotations({ store: input.store, scope }, asOf);
  const keys = rotations
    .map((k): RotationRow => {
      const period = cryptoperiodDays(input.detect, k.row.tenant, k.row.key_id);
      const age = daysBetween(k.materialSince, asOf);
      return {
        tenant: k.row.tenant,
        key_id: k.row.key_id,
        source: k.row.source,
        cryptoperiod_days: period,
        material_since: k.materialSince.toISOString(),
        age_days: age,
        evidence: k.kind,
        evidence_event_id: k.evidenceEventId,
        age_is_lower_bound: k.lowerBound,
        byok: k.byok,
        schedule: k.state,
        schedule_period_days: k.periodDays,
        deleted: k.deleted,
        overdue: !k.deleted && age > period,
      };
    })
    .sort((a, b) => a.tenant.localeCompare(b.tenant) || a.key_id.localeCompare(b.key_id));
  const overdue = keys.filter((k) => k.overdue).length;
  const deleted = keys.filter((k) => k.deleted).length;
  return { as_of: asOf.toISOString(), evaluated: keys.length, within_period: keys.length - overdue - deleted, overdue, deleted, keys };
}

// ---------------------------------------------------------------------------------------------
// Access review

export type AccessRow = { tenant: string; key_id: string; principal: string; principal_type: string; events: number; failures: number; operations: string; new_in_quarter: boolean; cross_account: boolean; caller_accounts: string };
export interface AccessSection { principals: number; key_principal_pairs: number; new_pairs: number; cross_account_pairs: number; rows: AccessRow[] }

/**
 * Who used each key in the quarter: one row per key and principal, marked new when the principal
 * had no event on that key before the quarter, and cross-account when the caller's account (as
 * the source reports it in `caller_account`) differs from the key's account.
 */
export async function gatherAccess(input: ReportInput): Promise<AccessSection> {
  const rows = await input.store.query<Record<keyof AccessRow, string>>(
    `SELECT q.tenant AS tenant, q.key_id AS key_id, q.principal AS principal, q.principal_type AS principal_type, q.events AS events, q.failures AS failures,
       q.operations AS operations, q.caller_accounts AS caller_accounts, q.cross AS cross_account,
       (q.principal, q.tenant, q.key_id) NOT IN (
         SELECT principal, tenant, key_id FROM key_events WHERE event_time < {r_from:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String})
       ) AS new_in_quarter
     FROM
     (
       SELECT tenant, key_id, principal, any(principal_type) AS principal_type, count() AS events, countIf(outcome = 'failure') AS failures,
         arrayStringConcat(arraySort(groupUniqArray(operation)), ',') AS operations,
         arrayStringConcat(arraySort(groupUniqArrayIf(attributes['caller_account'], attributes['caller_account'] != '')), ',') AS caller_accounts,
         countIf(attributes['caller_account'] != '' AND lower(attributes['caller_account']) != lower(account)) > 0 AS cross
       FROM key_events FINAL WHERE ${EVENTS_IN} AND key_id != '' AND principal != '' GROUP BY tenant, key_id, principal
     ) AS q
     ORDER BY tenant, key_id, principal`,
    params(input),
  );
  const out: AccessRow[] = rows.map((r) => ({
    tenant: r.tenant,
    key_id: r.key_id,
    principal: r.principal,
    principal_type: r.principal_type,
    events: num(r.events),
    failures: num(r.failures),
    operations: r.operations,
    new_in_quarter: num(r.new_in_quarter) === 1,
    cross_account: num(r.cross_account) === 1,
    caller_accounts: r.caller_accounts,
  }));
  return {
    principals: new Set(out.map((r) => r.principal)).size,
    key_principal_pairs: out.length,
    new_pairs: out.filter((r) => r.new_in_quarter).length,
    cross_account_pairs: out.filter((r) => r.cross_account).length,
    rows: out,
  };
}

// ---------------------------------------------------------------------------------------------
// Destructive and administrative operations

/** Operations that take a key or its material out of use, or let it leave the provider. */
export const DESTRUCTIVE_OPERATIONS = ['disable_key', 'schedule_deletion', 'destroy_version', 'delete_key_material', 'export_key', 'disable_rotation', 'delete_user'] as const;

export type AdminOpRow = { event_time: string; tenant: string; source: string; key_id: string; operation: string; operation_class: string; destructive: boolean; principal: string; outcome: string; source_ip: string; event_id: string };
export interface AdminOpsSection { total: number; destructive: number; failed: number; by_operation: { operation: string; events: number }[]; events: AdminOpRow[] }

/** Every lifecycle, policy and administrative event of the quarter, in time order, destructive ones flagged. */
export async function gatherAdminOps(input: ReportInput): Promise<AdminOpsSection> {
  const rows = await input.store.query<Record<keyof AdminOpRow, string>>(
    `SELECT event_time, tenant, source, key_id, operation, operation_class, operation IN {r_destructive:Array(String)} AS destructive,
       principal, outcome, source_ip, event_id
     FROM key_events FINAL WHERE ${EVENTS_IN} AND operation_class IN ('lifecycle', 'policy', 'admin')
     ORDER BY event_time, event_id`,
    { ...params(input), r_destructive: [...DESTRUCTIVE_OPERATIONS] },
  );
  const events: AdminOpRow[] = rows.map((r) => ({ ...r, destructive: num(r.destructive) === 1 }));
  const byOp = new Map<string, number>();
  for (const e of events) byOp.set(e.operation, (byOp.get(e.operation) ?? 0) + 1);
  return {
    total: events.length,
    destructive: events.filter((e) => e.destructive).length,
    failed: events.filter((e) => e.outcome === 'failure').length,
    by_operation: [...byOp].map(([operation, n]) => ({ operation, events: n })).sort((a, b) => b.events - a.events || a.operation.localeCompare(b.operation)),
    events,
  };
}

// ---------------------------------------------------------------------------------------------
// Attestation evidence

export type AttestationRow = { verified_at: string; tenant: string; key_id: string; format: string; verdict: string; policy: string; failed_checks: string; input_sha256: string };
export interface AttestationSection { total: number; by_verdict: { verdict: string; count: number }[]; rows: AttestationRow[] }

/** Key attestations verified in the quarter, with their verdicts. */
export async function gatherAttestations(input: ReportInput): Promise<AttestationSection> {
  const rows = await input.store.query<Record<keyof AttestationRow, string>>(
    `SELECT verified_at, tenant, key_id, format, verdict, policy, arrayStringConcat(failed_checks, ',') AS failed_checks, input_sha256
     FROM attestations FINAL
     WHERE verified_at >= {r_from:DateTime64(3)} AND verified_at < {r_to:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String})
     ORDER BY verified_at, tenant, key_id`,
    params(input),
  );
  const byVerdict = new Map<string, number>();
  for (const r of rows) byVerdict.set(r.verdict, (byVerdict.get(r.verdict) ?? 0) + 1);
  return { total: rows.length, by_verdict: [...byVerdict].map(([verdict, count]) => ({ verdict, count })).sort((a, b) => a.verdict.localeCompare(b.verdict)), rows };
}

// ---------------------------------------------------------------------------------------------
// SLO attainment and budgets

export type SloRow = { slo: string; display_name: string; period: string; objective: number; tenant: string; evaluations: number; firing_evaluations: number; last_state: string; last_budget_remaining: number | null; min_budget_remaining: number | null; last_evaluated: string };
export interface SloSection { slos: SloRow[] }

/**
 * Per SLO and tenant: how many evaluations fell in the quarter, how many were firing, and the
 * error budget left at the last evaluation and at its lowest.
 */
export async function gatherSlos(input: ReportInput): Promise<SloSection> {
  const rows = await input.store.query<Record<keyof SloRow, string | null>>(
    `SELECT slo, any(display_name) AS display_name, any(period) AS period, any(objective) AS objective, tenant, count() AS evaluations,
       countIf(state = 'firing') AS firing_evaluations, argMax(state, evaluated_time) AS last_state,
       argMax(budget_remaining, evaluated_time) AS last_budget_remaining, min(budget_remaining) AS min_budget_remaining, toString(max(evaluated_time)) AS last_evaluated
     FROM slo_status FINAL
     WHERE evaluated_time >= {r_from:DateTime64(3)} AND evaluated_time < {r_to:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String})
     GROUP BY slo, tenant ORDER BY slo, tenant`,
    params(input),
  );
  const opt = (v: string | null): number | null => (v === null ? null : Number(v));
  return {
    slos: rows.map((r) => ({
      slo: String(r.slo),
      display_name: String(r.display_name),
      period: String(r.period),
      objective: num(r.objective),
      tenant: String(r.tenant),
      evaluations: num(r.evaluations),
      firing_evaluations: num(r.firing_evaluations),
      last_state: String(r.last_state),
      last_budget_remaining: opt(r.last_budget_remaining),
      min_budget_remaining: opt(r.min_budget_remaining),
      last_evaluated: String(r.last_evaluated),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Alerts and incidents

export type AlertSeverityRow = { severity: string; alerts: number; open: number; resolved: number; suppressed: number; mttr_hours: number | null };
export type IncidentRow = { alert_id: string; detector: string; severity: string; tenant: string; key_id: string; principal: string; first_time: string; status: string; resolved_time: string; hours_to_resolve: number | null };
export interface AlertsSection { total: number; resolved: number; mttr_hours: number | null; by_severity: AlertSeverityRow[]; by_detector: { detector: string; alerts: number }[]; incidents: IncidentRow[] }

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'];

/**
 * Alerts whose activity began in the quarter, by severity and detector, with the mean time to
 * resolve (first activity to `resolved_time`); the high and critical ones are listed as incidents.
 */
export async function gatherAlerts(input: ReportInput): Promise<AlertsSection> {
  const p = params(input);
  const where = `first_time >= {r_from:DateTime64(3)} AND first_time < {r_to:DateTime64(3)} AND ({r_tenant:String} = '' OR tenant = {r_tenant:String})`;
  const sev = await input.store.query<{ severity: string; alerts: string; open: string; resolved: string; suppressed: string; resolve_seconds: string }>(
    `SELECT severity, count() AS alerts, countIf(status = 'open') AS open, countIf(resolved_time IS NOT NULL) AS resolved, countIf(status = 'suppressed') AS suppressed,
       sumIf(dateDiff('millisecond', first_time, assumeNotNull(resolved_time)), resolved_time IS NOT NULL) / 1000 AS resolve_seconds
     FROM alerts FINAL WHERE ${where} GROUP BY severity`,
    p,
  );
  const det = await input.store.query<{ detector: string; alerts: string }>(
    `SELECT detector, count() AS alerts FROM alerts FINAL WHERE ${where} GROUP BY detector ORDER BY alerts DESC, detector`,
    p,
  );
  const inc = await input.store.query<Record<keyof IncidentRow, string | null>>(
    `SELECT alert_id, detector, severity, tenant, key_id, principal, first_time, status, resolved_time,
       if(resolved_time IS NULL, NULL, dateDiff('millisecond', first_time, assumeNotNull(resolved_time)) / 3600000) AS hours_to_resolve
     FROM alerts FINAL WHERE ${where} AND severity IN ('high', 'critical') ORDER BY first_time, alert_id`,
    p,
  );
  const hours = (seconds: number, n: number): number | null => (n > 0 ? Math.round((seconds / n / 3600) * 100) / 100 : null);
  const by_severity = sev
    .map((r) => ({ severity: r.severity, alerts: num(r.alerts), open: num(r.open), resolved: num(r.resolved), suppressed: num(r.suppressed), mttr_hours: hours(num(r.resolve_seconds), num(r.resolved)) }))
    .sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity));
  const resolved = by_severity.reduce((s, r) => s + r.resolved, 0);
  const resolveSeconds = sev.reduce((s, r) => s + num(r.resolve_seconds), 0);
  return {
    total: by_severity.reduce((s, r) => s + r.alerts, 0),
    resolved,
    mttr_hours: hours(resolveSeconds, resolved),
    by_severity,
    by_detector: det.map((r) => ({ detector: r.detector, alerts: num(r.alerts) })),
    incidents: inc.map((r) => ({
      alert_id: String(r.alert_id), detector: String(r.detector), severity: String(r.severity), tenant: String(r.tenant), key_id: String(r.key_id), principal: String(r.principal),
      first_time: String(r.first_time), status: String(r.status), resolved_time: String(r.resolved_time ?? ''), hours_to_resolve: r.hours_to_resolve === null ? null : Math.round(Number(r.hours_to_resolve) * 100) / 100,
    })),
  };
}
