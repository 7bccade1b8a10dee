import { controlMapping, type ControlRow } from './controls.ts';
import {
  gatherAccess, gatherAdminOps, gatherAlerts, gatherAttestations, gatherInventory, gatherRotation, gatherScope, gatherSlos,
  type AccessSection, type RotationRow, type AdminOpsSection, type AlertsSection, type AttestationSection, type InventorySection, type ReportInput, type RotationSection, type ScopeSection, type SloSection,
} from './gather.ts';

/** The whole evidence of one quarterly report, as written to `report.json`. */
export interface ComplianceReport {
  report: 'keywatch-quarterly-compliance';
  version: 1;
  quarter: string;
  period: { from: string; to: string };
  tenant: string;
  generated_at: string;
  store: { backend: string; database: string };
  scope: ScopeSection;
  inventory: InventorySection;
  rotation: RotationSection;
  access: AccessSection;
  admin_operations: AdminOpsSection;
  attestations: AttestationSection;
  slos: SloSection;
  alerts: AlertsSection;
  controls: ControlRow[];
}

/**
 * Gathers every section of the quarterly report from the store.
 *
 * @example const report = await buildReport({ store, period: parseQuarter('2026Q3')!, tenant: '', now: new Date(), detect: config.detect })
 */
export async function buildReport(input: ReportInput): Promise<ComplianceReport> {
  // One section at a time: the embedded store runs one query at a time anyway.
  const scope = await gatherScope(input);
  const inventory = await gatherInventory(input);
  const rotation = await gatherRotation(input);
  const access = await gatherAccess(input);
  const admin_operations = await gatherAdminOps(input);
  const attestations = await gatherAttestations(input);
  const slos = await gatherSlos(input);
  const alerts = await gatherAlerts(input);
  return {
    report: 'keywatch-quarterly-compliance',
    version: 1,
    quarter: input.period.label,
    period: { from: input.period.from.toISOString(), to: input.period.to.toISOString() },
    tenant: input.tenant,
    generated_at: input.now.toISOString(),
    store: { backend: input.store.backend, database: input.store.database },
    scope,
    inventory,
    rotation,
    access,
    admin_operations,
    attestations,
    slos,
    alerts,
    controls: controlMapping({ scope, inventory, rotation, access, admin_operations, attestations, alerts }),
  };
}

type Cell = string | number | boolean | null;

/** One CSV table: its rows and its columns, in order (an empty table still gets its header). */
export interface ReportTable { rows: readonly Record<string, Cell>[]; columns: readonly string[] }

function tbl<T extends Record<string, Cell>>(rows: readonly T[], columns: readonly (keyof T & string)[]): ReportTable {
  return { rows, columns };
}

/** The report's tables, each written as one CSV file `<name>.csv`. */
export function reportTables(r: ComplianceReport): Record<string, ReportTable> {
  return {
    sources: tbl(r.scope.sources, ['source', 'tenants', 'accounts', 'keys', 'events', 'first_event', 'last_event']),
    coverage_gaps: tbl(r.scope.coverage_gaps, ['tenant', 'source', 'account', 'key_id', 'reason', 'admin_events', 'data_events', 'window_start', 'window_end', 'hint']),
    audit_gaps: tbl(r.scope.audit_gaps, ['tenant', 'source', 'stream', 'kind', 'from_position', 'to_position', 'missing', 'before_time', 'after_time', 'detail']),
    key_inventory: tbl(r.inventory.keys, ['tenant', 'key_id', 'source', 'account', 'regions', 'origin', 'events', 'first_event', 'last_event']),
    rotation: tbl(r.rotation.keys, ROTATION_COLUMNS),
    rotation_overdue: tbl(r.rotation.keys.filter((k) => k.overdue), ROTATION_COLUMNS),
    access_review: tbl(r.access.rows, ['tenant', 'key_id', 'principal', 'principal_type', 'events', 'failures', 'operations', 'new_in_quarter', 'cross_account', 'caller_accounts']),
    admin_operations: tbl(r.admin_operations.events, ['event_time', 'tenant', 'source', 'key_id', 'operation', 'operation_class', 'destructive', 'principal', 'outcome', 'source_ip', 'event_id']),
    attestations: tbl(r.attestations.rows, ['verified_at', 'tenant', 'key_id', 'format', 'verdict', 'policy', 'failed_checks', 'input_sha256']),
    slo_attainment: tbl(r.slos.slos, ['slo', 'display_name', 'period', 'objective', 'tenant', 'evaluations', 'firing_evaluations', 'last_state', 'last_budget_remaining', 'min_budget_remaining', 'last_evaluated']),
    alerts_by_severity: tbl(r.alerts.by_severity, ['severity', 'alerts', 'open', 'resolved', 'suppressed', 'mttr_hours']),
    alerts_by_detector: tbl(r.alerts.by_detector, ['detector', 'alerts']),
    incidents: tbl(r.alerts.incidents, ['alert_id', 'detector', 'severity', 'tenant', 'key_id', 'principal', 'first_time', 'status', 'resolved_time', 'hours_to_resolve']),
    controls: tbl(r.controls, ['framework', 'control', 'requirement', 'sections', 'status', 'note']),
  };
}

const ROTATION_COLUMNS = [
  'tenant', 'key_id', 'source', 'cryptoperiod_days', 'material_since', 'age_days', 'evidence', 'evidence_event_id', 'age_is_lower_bound', 'byok', 'schedule', 'schedule_period_days', 'deleted', 'overdue',
] as const satisfies readonly (keyof RotationRow)[];
