import type { Detector, Finding } from './detector.ts';

const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
const DAY_MS = 86_400_000;

// How far back the state change before a use is looked for. AWS allows a key to stay disabled
// indefinitely, but a key disabled for longer than a year without a later enable or deletion is
// outside what this detector reports.
const LOOKBACK_DAYS = 400;

// Operations that change whether a key (or version) can be used. cancel_deletion is "off" where
// the vendor leaves the key disabled after cancelling: AWS (CancelKeyDeletion leaves the key
// Disabled, developer guide "Deleting AWS KMS keys") and GCP (RestoreCryptoKeyVersion leaves the
// version DISABLED, "Destroy and restore key versions"); Azure's KeyRecover brings the key back
// usable. A new key or version (create_key, e.g. a Vault key re-created under its name) and a
// restored backup are "on".
const OFF_OPS = ['disable_key', 'schedule_deletion', 'destroy_version'] as const;
const ON_OPS = ['enable_key', 'cancel_deletion', 'restore_key', 'create_key'] as const;
const CANCEL_LEAVES_DISABLED = ['aws-kms', 'gcp-kms'] as const;

/** Successful state changes of a key or version (with params ud_off, ud_on, ud_from). */
const CHANGE_SQL = `((operation IN {ud_off:Array(String)} OR operation IN {ud_on:Array(String)}) AND outcome = 'success' AND key_id != ''
           AND event_time >= {ud_from:DateTime64(3)}
           -- Vault's trim removes old versions; the key stays usable.
           AND NOT (source = 'vault' AND endsWith(vendor_operation, '/trim'))
           -- HSM handles are reused after destruction; only objects named by OUID keep their id.
           AND NOT (operation = 'destroy_version' AND source IN ('aws-cloudhsm', 'luna-hsm') AND attributes['ouid'] = ''))`;

// Sources whose versions have a state of their own (GCP: each CryptoKeyVersion is enabled,
// disabled or destroyed). Elsewhere a state change applies to the whole key even when the event
// names a version (Azure's KeyDelete logs the current version's URI).
const VERSIONED_STATE = ['gcp-kms'] as const;

// Errors that say the key's state refused the call. A use that names no version (a GCP Decrypt:
// the ciphertext picks the version) is matched to a disabled version only when it failed with one.
const STATE_ERROR_CODES = ['FAILED_PRECONDITION', 'KMSInvalidStateException', 'DisabledException'] as const;

const CHANGE_LABEL: Record<string, string> = {
  disable_key: 'it was disabled',
  schedule_deletion: 'it was scheduled for deletion',
  destroy_version: 'it was destroyed',
  cancel_deletion: 'its deletion was cancelled (the key stays disabled)',
};

interface Row {
  tenant: string;
  key_id: string;
  principal: string;
  change_id: string;
  change_op: string;
  change_vendor_op: string;
  change_time: string;
  change_principal: string;
  change_version: string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  failures: string;
  errors: string[];
  operations: string[];
  sources: string[];
}

export const useAfterDisable: Detector = {
  id: 'use-after-disable',
  title: 'Key used after it was disabled or scheduled for deletion',
  severity: 'high',
  description:
    'A key (or key version) was used, successfully or not, while its latest state change was a disable, a scheduled deletion or a destruction (AWS DisableKey, ScheduleKeyDeletion, DeleteKey; GCP UpdateCryptoKeyVersion to DISABLED, DestroyCryptoKeyVersion; Azure KeyDelete, KeyPurge; Vault key deletion; Luna Cloud HSM object destruction), with no enable, cancelled deletion (Azure) or re-creation after it. A refused call (AWS DisabledException / KMSInvalidStateException, GCP FAILED_PRECONDITION) still shows that a workload depends on the key, or that someone probes it: this is the outage (or ransom) in progress before anybody notices it, and the last chance to cancel a deletion. A successful use after the change means the state did not take effect or the log misses an event. State changes are looked for up to 400 days back; a change of one GCP key version counts only for uses of that version, or for uses that name no version and failed with FAILED_PRECONDITION.',
  runbook:
    'Find who disabled or scheduled the deletion (evidence: state_changed_by, state_change_time) and whether it was planned. If the workload in the evidence still needs the key: re-enable it or cancel the deletion now (AWS EnableKey / CancelKeyDeletion then EnableKey, GCP RestoreCryptoKeyVersion then enable, Azure KeyRecover) before the waiting period ends. If the key is meant to be retired: tell the owner of the principal to move to the replacement key and re-encrypt its data. A successful use after the change is an anomaly in itself: check the key state with the provider (aws kms describe-key, gcloud kms keys versions describe, az keyvault key show) and look for gaps in the audit log.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-determining-usage.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html',
    'https://cloud.google.com/kms/docs/destroy-restore',
    'https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview',
    'Panther: AWS.KMS.CustomerManagedKeyLoss (the disable or deletion itself)',
    'CIS AWS Foundations Benchmark: alarm on disabling or scheduled deletion of customer-created CMKs',
  ],
  falsePositives: [
    'A key disabled on purpose to find its remaining users before deletion (AWS recommends it): the alerts are the answer; declare a maintenance window to keep them out of paging',
    'A key re-enabled by a path that leaves no audit event in keywatch (another trail, an unmonitored project): the key looks still disabled',
    'HSM key handles (CloudHSM, Luna audit lines) are reused after an object is destroyed, so destruction there is not treated as a state change; DPoD objects named by OUID are',
  ],
  dedupeMinutes: 1440,
  async run(ctx) {
    const params = {
      ...ctx.scope.params,
      ud_off: [...OFF_OPS],
      ud_on: [...ON_OPS],
      ud_cancel_off: [...CANCEL_LEAVES_DISABLED],
      ud_state_errors: [...STATE_ERROR_CODES],
      ud_versioned: [...VERSIONED_STATE],
      ud_from: chTime(new Date(ctx.scope.from.getTime() - LOOKBACK_DAYS * DAY_MS)),
    };
    // Only keys with a change that turned them (or a version) off can have a use after it; those
    // changes are rare, so they are looked up first and the uses read for their keys only.
    const offKeys = await ctx.store.query<{ key_id: string }>(
      `SELECT DISTINCT key_id FROM key_events WHERE ${CHANGE_SQL}
         AND (operation IN {ud_off:Array(String)} OR (operation = 'cancel_deletion' AND source IN {ud_cancel_off:Array(String)}))`,
      params,
    );
    if (offKeys.length === 0) return [];
    const rows = await ctx.store.query<Row>(
      `WITH uses AS (
         SELECT event_id, event_time, tenant, key_id, principal, outcome, error_code, operation, source,
                if(key_version != '', key_version, '*') AS vkey
         FROM key_events
         -- AWS services acting for a workload (S3, EBS ...) show a dependent workload: kept.
         WHERE (${ctx.scope.sql}) AND operation_class = 'crypto' AND key_id != '' AND ((${ctx.notInternal}) OR principal_type = 'service')
           AND key_id IN {ud_keys:Array(String)}
       ),
       changes AS (
         SELECT tenant, key_id, if(source IN {ud_versioned:Array(String)}, key_version, '') AS state_version, event_time AS change_time, event_id AS change_id, operation AS change_op,
                vendor_operation AS change_vendor_op, principal AS change_principal,
                operation IN {ud_off:Array(String)} OR (operation = 'cancel_deletion' AND source IN {ud_cancel_off:Array(String)}) AS off
         FROM key_events
         WHERE ${CHANGE_SQL} AND key_id IN {ud_keys:Array(String)} AND (tenant, key_id) IN (SELECT tenant, key_id FROM uses)
       ),
       key_level AS (SELECT * FROM changes WHERE state_version = ''),
       -- A version's change applies to uses of that version ('v') and to uses that name none ('*').
       version_level AS (SELECT *, arrayJoin([state_version, '*']) AS vkey FROM changes WHERE state_version != ''),
       by_key AS (
         SELECT u.*, k.change_time AS k_time, k.change_id AS k_id, k.change_op AS k_op, k.change_vendor_op AS k_vop,
                k.change_principal AS k_principal, k.off AS k_off
         FROM uses AS u
         ASOF LEFT JOIN key_level AS k ON u.tenant = k.tenant AND u.key_id = k.key_id AND u.event_time >= k.change_time
       ),
       by_both AS (
         SELECT b.*, v.change_time AS v_time, v.change_id AS v_id, v.change_op AS v_op, v.change_vendor_op AS v_vop,
                v.change_principal AS v_principal, v.off AS v_off, v.state_version AS v_version
         FROM by_key AS b
         ASOF LEFT JOIN version_level AS v ON b.tenant = v.tenant AND b.key_id = v.key_id AND b.vkey = v.vkey AND b.event_time >= v.change_time
       ),
       decided AS (
         SELECT *, v_id != '' AND (k_id = '' OR v_time > k_time) AS by_version
         FROM by_both
         WHERE if(by_version,
                  v_off AND (vkey != '*' OR (outcome = 'failure' AND error_code IN {ud_state_errors:Array(String)})),
                  k_id != '' AND k_off)
       )
       SELECT tenant, key_id, principal,
              if(by_version, v_id, k_id) AS change_id, any(if(by_version, v_op, k_op)) AS change_op,
              any(if(by_version, v_vop, k_vop)) AS change_vendor_op, toString(any(if(by_version, v_time, k_time))) AS change_time,
              any(if(by_version, v_principal, k_principal)) AS change_principal, any(if(by_version, v_version, '')) AS change_version,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              arraySlice(groupArray(event_id), 1, 20) AS ids, countIf(outcome = 'failure') AS failures,
              groupUniqArrayIf(error_code, error_code != '') AS errors, groupUniqArray(operation) AS operations, groupUniqArray(source) AS sources
       FROM decided
       GROUP BY tenant, key_id, principal, change_id
       ORDER BY first`,
      { ...params, ud_keys: offKeys.map((k) => k.key_id) },
    );
    return rows.map((r): Finding => {
      const failures = Number(r.failures);
      const n = Number(r.n);
      const days = Math.floor((new Date(`${r.first.replace(' ', 'T')}Z`).getTime() - new Date(`${r.change_time.replace(' ', 'T')}Z`).getTime()) / DAY_MS);
      return {
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        // A use that succeeded although the key was off is the stranger finding.
        score: failures < n ? 90 : 75,
        event_count: n,
        event_ids: r.ids,
        evidence: {
          state_change: r.change_op,
          state_change_vendor_operation: r.change_vendor_op,
          state_change_time: r.change_time,
          state_changed_by: r.change_principal,
          state_change_event_id: r.change_id,
          state_change_version: r.change_version === '' ? null : r.change_version,
          days_since_change: days,
          failures,
          successes: n - failures,
          error_codes: [...r.errors].sort().join(','),
          operations: [...r.operations].sort().join(','),
          sources: [...r.sources].sort().join(','),
        },
        title: `${r.key_id} used after ${CHANGE_LABEL[r.change_op] ?? r.change_op}`,
        group: r.change_id,
      };
    });
  },
};
