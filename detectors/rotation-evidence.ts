import type { DetectConfig } from '../core/config.ts';
import type { DetectorContext } from './detector.ts';

/*
 * Rotation evidence: what the stored log says about when each key's current material came to be,
 * and whether automatic rotation is on. Shared by the rotation drift detectors
 * (rotation-overdue, rotation-disabled, byok-material-not-reimported).
 *
 * What counts, per provider (operations as the collectors normalize them, see ingest/<source>/README.md):
 *
 * | provider | new material | automatic rotation on / off |
 * |---|---|---|
 * | aws-kms | RotateKey service events (principal `AWS Internal`, `rotation_type` AUTOMATIC or ON_DEMAND), RotateKeyOnDemand; CreateKey; ImportKeyMaterial unless `import_type` is EXISTING_KEY_MATERIAL (re-importing the same material after it expired is not a rotation) | EnableKeyRotation (`rotation_period_days`, AWS's default 365 when absent) / DisableKeyRotation |
 * | gcp-kms | UpdateCryptoKeyPrimaryVersion (`rotate_key`); CreateCryptoKey, CreateCryptoKeyVersion; ImportCryptoKeyVersion | UpdateCryptoKey with `rotation_period` / `next_rotation_time` set (`enable_rotation`) or cleared (`disable_rotation`); CreateCryptoKey with a `rotation_period` |
 * | azure-key-vault | KeyRotate, KeyRotateIfDue (Key Vault's own scheduled rotation, principal `Azure Key Vault`); KeyCreate and KeyImport (each makes a new version of the name) | KeyRotationPolicySet: the log has no policy body, so the state is `unknown` |
 * | vault | `transit/keys/<k>/rotate`; `keys/<k>` create; `keys/<k>/import`, `import_version` | `keys/<k>/config` with `auto_rotate_period` (0 → `disable_rotation`; HMAC'd → `update_rotation_policy`, state `unknown`) |
 * | aws-cloudhsm, luna-hsm | key generation (`create_key`) only: an HSM key never rotates, a new key is a new handle | none |
 *
 * Provider-internal events are included on purpose (`ctx.notInternal` is not applied): AWS and
 * Azure log their scheduled rotations as the provider. Cloud KMS and Vault do not log the versions
 * their schedulers create (gcp-kms README, "Known gaps"; Vault audits requests only), so for them an
 * enabled schedule stands in for rotation evidence: the latest scheduled time at or before the
 * evaluation time (`kind: 'scheduled'`).
 *
 * AWS ReplicateKey is normalized to `create_key` on the primary key, but copies material rather
 * than making new material, so it is not creation evidence.
 */

/** One key as the rotation evidence query sees it at the evaluation time. Times are ClickHouse text. */
export interface KeyRotationRow {
  tenant: string;
  key_id: string;
  source: string;
  account: string;
  region: string;
  first_seen: string;
  first_event_id: string;
  last_seen: string;
  last_event_id: string;
  /** Events of the key inside the run's scope. */
  scope_events: string;
  scope_event_ids: string[];
  creates: string;
  created: string;
  created_event_id: string;
  materials: string;
  material_time: string;
  material_event_id: string;
  material_operation: string;
  material_vendor_operation: string;
  material_version: string;
  material_principal: string;
  imports: string;
  import_time: string;
  import_event_id: string;
  import_principal: string;
  import_type: string;
  import_version: string;
  /** Successful imports of any kind. */
  all_imports: string;
  /** Re-imports of material the key already had (AWS EXISTING_KEY_MATERIAL): not a rotation. */
  existing_reimports: string;
  existing_reimport_time: string;
  external_origin: string;
  states: string;
  state_time: string;
  state_event_id: string;
  /** 1 when the latest schedule change is itself in the run's scope. */
  state_in_scope: number | string;
  state_operation: string;
  state_vendor_operation: string;
  state_principal: string;
  state_period_days: string;
  state_next_rotation: string;
  state_auto_rotate_period: string;
  deletion_operation: string;
}

export type EvidenceKind = 'rotated' | 'new_version' | 'imported' | 'created' | 'scheduled' | 'first_seen';
export type RotationState = 'enabled' | 'disabled' | 'unknown' | 'none';

export interface KeyRotation {
  row: KeyRotationRow;
  /** When the key's current material came to be, as far as the log shows. */
  materialSince: Date;
  kind: EvidenceKind;
  /** The event behind `materialSince` (the schedule's event for `scheduled`). */
  evidenceEventId: string;
  /** True when nothing but the key's first appearance in the store dates it: its age is at least this. */
  lowerBound: boolean;
  /** Key material that came from the customer (BYOK): its rotation is a new import, the provider cannot rotate it. */
  byok: boolean;
  state: RotationState;
  /** Rotation period of the latest enabled schedule, in days, when the log says. */
  periodDays: number | null;
  /** The key was scheduled for deletion or destroyed, and not restored since. */
  deleted: boolean;
}

export const DAY_MS = 86_400_000;

export const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
export const fromCh = (s: string): Date => new Date(`${s.replace(' ', 'T')}Z`);

/** The moment state detectors evaluate at: the run's clock, or the end of an explicit range before it. */
export function evaluationTime(ctx: Pick<DetectorContext, 'now' | 'scope'>): Date {
  return new Date(Math.min(ctx.now.getTime(), ctx.scope.to.getTime()));
}

/**
 * The cryptoperiod that applies to a key, in days: the key's own, else its tenant's, else the default.
 *
 * @example cryptoperiodDays(config, 'acme', 'transit/orders') // 365 with the default config
 */
export function cryptoperiodDays(config: Pick<DetectConfig, 'cryptoperiodDays'>, tenant: string, keyId: string): number {
  const c = config.cryptoperiodDays;
  return c.keys[keyId] ?? c.tenants[tenant] ?? c.default;
}

const GO_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * A Vault duration as `auto_rotate_period` is written (`720h`, `30d`, `1h30m`, or seconds), in days;
 * undefined for 0, an HMAC'd value or anything else.
 *
 * @example vaultPeriodDays('720h') // 30
 */
export function vaultPeriodDays(text: string): number | undefined {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s) > 0 ? Number(s) / 86400 : undefined;
  const parts = [...s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== s) return undefined;
  const seconds = parts.reduce((sum, p) => sum + Number(p[1]) * (GO_UNITS[p[2] ?? ''] ?? 0), 0);
  return seconds > 0 ? seconds / 86400 : undefined;
}

// Successful events that say something about the key's material, its schedule or its existence.
const OK = "outcome = 'success'";
const IS_CREATE = `${OK} AND operation = 'create_key' AND vendor_operation != 'ReplicateKey'`;
const IS_IMPORT = `${OK} AND operation = 'import_key_material' AND attributes['import_type'] != 'EXISTING_KEY_MATERIAL'`;
const IS_REIMPORT = `${OK} AND operation = 'import_key_material' AND attributes['import_type'] = 'EXISTING_KEY_MATERIAL'`;
const IS_MATERIAL = `((${IS_CREATE}) OR (${IS_IMPORT}) OR (${OK} AND operation = 'rotate_key'))`;
const IS_STATE = `(${OK} AND (operation IN ('enable_rotation', 'disable_rotation', 'update_rotation_policy') OR (operation = 'create_key' AND attributes['rotation_period'] != '')))`;
/**
 * Key-level deletion and its undoing (the latest of them says whether the key is gone); a
 * version-level one (GCP DestroyCryptoKeyVersion) or Vault's trim of old versions leaves the key in service.
 */
export const KEY_DELETION_SQL = `(${OK} AND key_version = '' AND operation IN ('schedule_deletion', 'destroy_version', 'cancel_deletion', 'restore_key') AND vendor_operation NOT LIKE '%/trim')`;
const ORDER = '(event_time, event_id)';

const lastIf = (col: string, cond: string, as: string) => `argMaxIf(${col}, ${ORDER}, ${cond}) AS ${as}`;

/** A key's history as `keyHistory` returns it: the rotation evidence, and what replication-drift reads. */
export interface KeyHistoryRow extends KeyRotationRow {
  /** Latest Azure vault name seen on the key's events. */
  vault: string;
  /** Successful ReplicateKey calls: [replica region, time, event id, principal]. */
  replications: [string, string, string, string][];
}

// Rows the conditional aggregates below can count: successful lifecycle changes, and the rows that
// carry the attributes they read. A small share of a key's events, picked out by cheap columns (the
// map's keys, not its values) before the aggregates run.
const NOTABLE = `((${OK} AND (operation IN ('create_key', 'import_key_material', 'rotate_key', 'enable_rotation', 'disable_rotation', 'update_rotation_policy', 'schedule_deletion', 'destroy_version', 'cancel_deletion', 'restore_key') OR vendor_operation = 'ReplicateKey')) OR has(attributes.keys, 'key_origin') OR has(attributes.keys, 'vault'))`;

type KeyColumn = 'tenant' | 'key_id' | 'source' | 'account' | 'region' | 'first_seen' | 'first_event_id' | 'last_seen' | 'last_event_id' | 'scope_events' | 'scope_event_ids';

// The aggregates of a key without notable events, as ClickHouse gives them for no matching row.
const NEVER = '1970-01-01 00:00:00.000';
const NO_NOTABLE_EVENTS: Omit<KeyHistoryRow, KeyColumn> = {
  creates: '0', created: NEVER, created_event_id: '', materials: '0', material_time: NEVER, material_event_id: '', material_operation: '',
  material_vendor_operation: '', material_version: '', material_principal: '', imports: '0', import_time: NEVER, import_event_id: '',
  import_principal: '', import_type: '', import_version: '', all_imports: '0', existing_reimports: '0', existing_reimport_time: NEVER,
  external_origin: '0', states: '0', state_time: NEVER, state_event_id: '', state_in_scope: 0, state_operation: '', state_vendor_operation: '',
  state_principal: '', state_period_days: '', state_next_rotation: '', state_auto_rotate_period: '', deletion_operation: '', vault: '', replications: [],
};

/**
 * The stored history of every key that has an event in the run's scope, at `asOf` (events after it
 * are ignored): when it was first and last seen, its events in scope, and its latest material,
 * rotation schedule, deletion state and replications. Shared by the rotation detectors and
 * replication-drift, and computed once per run (`ctx.shared`).
 *
 * Two aggregations, merged by key: one over all its events for the few cheap columns every event
 * has, one over its notable events (NOTABLE) for the rest.
 *
 * @example const rows = await keyHistory(ctx, evaluationTime(ctx))
 */
export async function keyHistory(ctx: Pick<DetectorContext, 'store' | 'scope' | 'shared'>, asOf: Date): Promise<KeyHistoryRow[]> {
  const params = { ...ctx.scope.params, rot_as_of: chTime(asOf) };
  const load = async (): Promise<KeyHistoryRow[]> => {
    // A key is examined when it has an event in scope (at any time); what is counted is up to asOf.
    const spans = await ctx.store.query<{ tenant: string; key_id: string; first_ms: string; last_ms: string } & Pick<KeyHistoryRow, 'first_seen' | 'last_seen' | 'scope_events' | 'scope_event_ids'>>(
      `SELECT tenant, key_id,
         toString(minIf(event_time, upto)) AS first_seen, toUnixTimestamp64Milli(minIf(event_time, upto)) AS first_ms,
         toString(maxIf(event_time, upto)) AS last_seen, toUnixTimestamp64Milli(maxIf(event_time, upto)) AS last_ms,
         countIf(in_scope AND upto) AS scope_events, groupArrayIf(10)(event_id, in_scope AND upto) AS scope_event_ids
       FROM
       (
         SELECT tenant, key_id, event_time, event_id, (${ctx.scope.sql}) AS in_scope, event_time <= {rot_as_of:DateTime64(3)} AS upto
         FROM key_events
         WHERE key_id != '' AND (event_time <= {rot_as_of:DateTime64(3)} OR (${ctx.scope.sql}))
       )
       GROUP BY tenant, key_id
       HAVING countIf(in_scope) > 0 AND countIf(upto) > 0
       ORDER BY tenant, key_id`,
      params,
    );
    if (spans.length === 0) return [];
    // Each key's first and last events: the rows at its first and last instant (ties are broken by
    // event id, as ORDER does), and the source, account and region of the last one. Reading them
    // back by time is much cheaper than argMin/argMax over a (time, id) tuple on every row.
    const edges = await ctx.store.query<{ tenant: string; key_id: string; ms: string; event_id: string; source: string; account: string; region: string }>(
      `SELECT tenant, key_id, toUnixTimestamp64Milli(event_time) AS ms, event_id, source, account, region
       FROM key_events
       WHERE key_id IN {rot_keys:Array(String)} AND toUnixTimestamp64Milli(event_time) IN {rot_ms:Array(Int64)}`,
      { rot_keys: [...new Set(spans.map((k) => k.key_id))], rot_ms: [...new Set(spans.flatMap((k) => [Number(k.first_ms), Number(k.last_ms)]))] },
    );
    const atMs = new Map<string, typeof edges>();
    for (const e of edges) {
      const k = `${e.tenant}\u0000${e.key_id}\u0000${e.ms}`;
      atMs.set(k, [...(atMs.get(k) ?? []), e]);
    }
    const byId = (a: { event_id: string }, b: { event_id: string }) => Buffer.compare(Buffer.from(a.event_id), Buffer.from(b.event_id));
    const keys = spans.map(({ first_ms, last_ms, ...k }): Pick<KeyHistoryRow, KeyColumn> => {
      const first = [...(atMs.get(`${k.tenant}\u0000${k.key_id}\u0000${first_ms}`) ?? [])].sort(byId)[0];
      const last = [...(atMs.get(`${k.tenant}\u0000${k.key_id}\u0000${last_ms}`) ?? [])].sort(byId).at(-1);
      return { ...k, first_event_id: first?.event_id ?? '', last_event_id: last?.event_id ?? '', source: last?.source ?? '', account: last?.account ?? '', region: last?.region ?? '' };
    });
    const notable = await ctx.store.query<Omit<KeyHistoryRow, KeyColumn> & { tenant: string; key_id: string }>(
      `SELECT tenant, key_id,
         countIf(${IS_CREATE}) AS creates, toString(minIf(event_time, ${IS_CREATE})) AS created,
         argMinIf(event_id, ${ORDER}, ${IS_CREATE}) AS created_event_id,
         countIf(${IS_MATERIAL}) AS materials, toString(maxIf(event_time, ${IS_MATERIAL})) AS material_time,
         ${lastIf('event_id', IS_MATERIAL, 'material_event_id')}, ${lastIf('operation', IS_MATERIAL, 'material_operation')},
         ${lastIf('vendor_operation', IS_MATERIAL, 'material_vendor_operation')}, ${lastIf('key_version', IS_MATERIAL, 'material_version')},
         ${lastIf('principal', IS_MATERIAL, 'material_principal')},
         countIf(${IS_IMPORT}) AS imports, toString(maxIf(event_time, ${IS_IMPORT})) AS import_time,
         ${lastIf('event_id', IS_IMPORT, 'import_event_id')}, ${lastIf('principal', IS_IMPORT, 'import_principal')},
         ${lastIf("attributes['import_type']", IS_IMPORT, 'import_type')}, ${lastIf('key_version', IS_IMPORT, 'import_version')},
         countIf(${OK} AND operation = 'import_key_material') AS all_imports,
         countIf(${IS_REIMPORT}) AS existing_reimports, toString(maxIf(event_time, ${IS_REIMPORT})) AS existing_reimport_time,
         countIf(attributes['key_origin'] = 'EXTERNAL') AS external_origin,
         countIf(${IS_STATE}) AS states, toString(maxIf(event_time, ${IS_STATE})) AS state_time,
         ${lastIf('event_id', IS_STATE, 'state_event_id')}, ${lastIf('in_scope', IS_STATE, 'state_in_scope')}, ${lastIf('operation', IS_STATE, 'state_operation')},
         ${lastIf('vendor_operation', IS_STATE, 'state_vendor_operation')}, ${lastIf('principal', IS_STATE, 'state_principal')},
         ${lastIf("attributes['rotation_period_days']", IS_STATE, 'state_period_days')},
         ${lastIf("attributes['next_rotation_time']", IS_STATE, 'state_next_rotation')},
         ${lastIf("attributes['auto_rotate_period']", IS_STATE, 'state_auto_rotate_period')},
         ${lastIf('operation', KEY_DELETION_SQL, 'deletion_operation')},
         argMaxIf(attributes['vault'], ${ORDER}, attributes['vault'] != '') AS vault,
         groupArrayIf((attributes['replica_region'], toString(event_time), event_id, principal),
                      vendor_operation = 'ReplicateKey' AND ${OK} AND attributes['replica_region'] != '') AS replications
       FROM
       (
         SELECT tenant, key_id, event_time, event_id, operation, vendor_operation, key_version, principal, outcome, attributes, (${ctx.scope.sql}) AS in_scope
         FROM key_events
         WHERE key_id != '' AND event_time <= {rot_as_of:DateTime64(3)} AND ${NOTABLE}
       )
       GROUP BY tenant, key_id`,
      params,
    );
    const byKey = new Map(notable.map((n) => [`${n.tenant}\u0000${n.key_id}`, n]));
    return keys.map((k) => ({ ...NO_NOTABLE_EVENTS, ...byKey.get(`${k.tenant}\u0000${k.key_id}`), ...k }));
  };
  const key = `key-history\u0000${ctx.scope.sql}\u0000${JSON.stringify(ctx.scope.params)}\u0000${asOf.toISOString()}`;
  return ctx.shared ? ctx.shared(key, load) : load();
}

/**
 * Rotation evidence of every key that has an event in the run's scope, at `asOf` (events after it
 * are ignored), from `keyHistory`.
 *
 * @example const keys = await keyRotations(ctx, evaluationTime(ctx))
 */
export async function keyRotations(ctx: Pick<DetectorContext, 'store' | 'scope' | 'shared'>, asOf: Date): Promise<KeyRotation[]> {
  return (await keyHistory(ctx, asOf)).map((r) => interpret(r, asOf));
}

// Providers whose scheduled rotations leave no audit entry (see the header).
const SCHEDULE_NOT_LOGGED = new Set(['gcp-kms', 'vault']);

function interpret(row: KeyRotationRow, asOf: Date): KeyRotation {
  let materialSince: Date;
  let kind: EvidenceKind;
  let evidenceEventId: string;
  let lowerBound = false;
  if (Number(row.materials) > 0) {
    materialSince = fromCh(row.material_time);
    evidenceEventId = row.material_event_id;
    if (row.material_operation === 'rotate_key') kind = 'rotated';
    else if (row.material_operation === 'import_key_material') kind = 'imported';
    else kind = row.material_time === row.created ? 'created' : 'new_version';
  } else {
    materialSince = fromCh(row.first_seen);
    evidenceEventId = row.first_event_id;
    kind = 'first_seen';
    lowerBound = true;
  }

  // AWS keys of origin EXTERNAL only ever get material by import; elsewhere a key is BYOK while its
  // newest material is an imported version.
  const byok = Number(row.external_origin) > 0 || (row.source === 'aws-kms' ? Number(row.all_imports) > 0 : kind === 'imported');

  const state: RotationState =
    Number(row.states) === 0 ? 'none' : row.state_operation === 'disable_rotation' ? 'disabled' : row.state_operation === 'update_rotation_policy' ? 'unknown' : 'enabled';
  let periodDays: number | null = null;
  if (state === 'enabled') {
    const p = Number(row.state_period_days);
    periodDays = Number.isFinite(p) && p > 0 ? p : (vaultPeriodDays(row.state_auto_rotate_period) ?? (row.source === 'aws-kms' ? 365 : null));
  }

  if (state === 'enabled' && periodDays !== null && SCHEDULE_NOT_LOGGED.has(row.source)) {
    const stateTime = fromCh(row.state_time).getTime();
    const period = periodDays * DAY_MS;
    const next = row.state_next_rotation ? new Date(row.state_next_rotation).getTime() : Number.NaN;
    // Vault rotates once the newest version is a period old (checked hourly), but not before the
    // schedule was set; Cloud KMS at next_rotation_time, then every period.
    const first = Number.isFinite(next) ? next : row.source === 'vault' ? Math.max(materialSince.getTime() + period, stateTime) : stateTime + period;
    if (first <= asOf.getTime()) {
      const inferred = first + Math.floor((asOf.getTime() - first) / period) * period;
      if (inferred > materialSince.getTime()) {
        materialSince = new Date(inferred);
        kind = 'scheduled';
        evidenceEventId = row.state_event_id;
        lowerBound = false;
      }
    }
  }

  const deleted = row.deletion_operation === 'schedule_deletion' || row.deletion_operation === 'destroy_version';
  return { row, materialSince, kind, evidenceEventId, lowerBound, byok, state, periodDays, deleted };
}

/** Whole days between two instants, to one decimal. */
export const daysBetween = (from: Date, to: Date): number => Math.round(((to.getTime() - from.getTime()) / DAY_MS) * 10) / 10;
