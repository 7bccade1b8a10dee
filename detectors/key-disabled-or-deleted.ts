import type { Detector, Finding, Severity } from './detector.ts';

// Severity by what happened: a disabled key can be enabled again; a scheduled deletion can be
// cancelled within its waiting period; a destroyed or purged version is gone.
const SEVERITY: Record<string, Severity> = { disable_key: 'medium', schedule_deletion: 'high', destroy_version: 'critical' };
const SCORE: Record<string, number> = { disable_key: 50, schedule_deletion: 75, destroy_version: 95 };

export const keyDisabledOrDeleted: Detector = {
  id: 'key-disabled-or-deleted',
  title: 'Key disabled, scheduled for deletion, or destroyed',
  severity: 'high',
  description:
    'A key or key version was disabled, scheduled for deletion (AWS ScheduleKeyDeletion, GCP DestroyCryptoKeyVersion, Azure KeyDelete) or destroyed or purged (Azure KeyPurge, CloudHSM and Luna object destruction). Every service that depends on the key fails once it is gone: this is the ransomware-by-key-deletion path and the most common self-inflicted outage.',
  runbook:
    'Confirm with the key owner that the change was planned (change ticket, maintenance window). If not: cancel the deletion at once (AWS CancelKeyDeletion, GCP RestoreCryptoKeyVersion, Azure KeyRecover) or re-enable the key, then review what else the principal did in the same session (keywatch sql "SELECT * FROM key_events WHERE principal = \'<principal>\' ORDER BY event_time DESC LIMIT 100") and revoke its credentials if they may be stolen. A purged or destroyed version cannot be recovered: restore from backup (Azure KeyRestore) or the HSM.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html',
    'https://cloud.google.com/kms/docs/destroy-restore',
    'https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview',
    'Sigma: aws_kms_key_disabled_or_scheduled_for_deletion',
  ],
  falsePositives: ['HSM object destruction (CloudHSM CN_DESTROY_OBJECT, Luna object destroy) is routine and not reported here', 'Planned decommissioning of a key (declare a maintenance window)', 'Test keys deleted by automation (allow-list the automation principal for test tenants)'],
  dedupeMinutes: 60,
  async run(ctx) {
    const rows = await ctx.store.query<{ tenant: string; key_id: string; principal: string; operation: string; first: string; last: string; n: string; ids: string[]; vendor_ops: string[]; sources: string[]; key_versions: string[] }>(
      `SELECT tenant, key_id, principal, operation, toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              arraySlice(groupArray(event_id), 1, 20) AS ids, groupUniqArray(vendor_operation) AS vendor_ops, groupUniqArray(source) AS sources,
              arrayFilter(v -> v != '', groupUniqArray(key_version)) AS key_versions
       FROM key_events
       WHERE (${ctx.scope.sql}) AND operation IN ('disable_key', 'schedule_deletion', 'destroy_version') AND outcome = 'success' AND (${ctx.notInternal})
         -- HSMs destroy objects all day (session keys, superseded wrapped keys); one destroyed
         -- object there is routine and left to the volume detectors.
         AND NOT (operation = 'destroy_version' AND source IN ('aws-cloudhsm', 'luna-hsm'))
       GROUP BY tenant, key_id, principal, operation
       ORDER BY first`,
      ctx.scope.params,
    );
    return rows.map(
      (r): Finding => ({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: SCORE[r.operation] ?? 75,
        severity: SEVERITY[r.operation] ?? 'high',
        event_count: Number(r.n),
        event_ids: r.ids,
        evidence: { operation: r.operation, vendor_operations: r.vendor_ops.join(','), sources: r.sources.join(','), key_versions: r.key_versions.join(',') },
        title: `${r.operation === 'disable_key' ? 'Key disabled' : r.operation === 'schedule_deletion' ? 'Key scheduled for deletion' : 'Key version destroyed or purged'}: ${r.key_id}`,
        group: r.operation,
      }),
    );
  },
};
