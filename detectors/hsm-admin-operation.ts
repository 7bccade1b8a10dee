import type { Detector, Finding, Severity } from './detector.ts';

interface AdminGroup {
  tenant: string;
  source: string;
  key_id: string;
  principal: string;
  operation: string;
  vendor_operation: string;
  place: string;
  target: string;
  audit_change: string;
  auth_change: string;
  mount_change: string;
  vault_type: string;
  critical: number | string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  hsms: string[];
  target_roles: string[];
}

interface Verdict {
  severity: Severity;
  score: number;
  what: string;
}

const SCORE: Record<Severity, number> = { info: 10, low: 25, medium: 50, high: 75, critical: 95 };
const verdict = (severity: Severity, what: string): Verdict => ({ severity, score: SCORE[severity], what });

/**
 * What an admin operation is and how bad: wiping an HSM or silencing its audit trail is critical,
 * changing who can log in (users, roles, auth methods) high, the rest medium.
 */
function judge(g: AdminGroup): Verdict {
  const op = g.vendor_operation;
  if (/ZEROI[SZ]E/.test(op)) return verdict('critical', 'HSM zeroized');
  if (op === 'CN_INIT_TOKEN' || op === 'LUNA_INIT_TOKEN') return verdict('critical', 'HSM token initialised (its contents wiped)');
  // CloudHSM marks the opcodes that wipe or replace what the HSM holds (README: `critical`).
  if (Number(g.critical) === 1) return verdict('critical', `HSM contents wiped or replaced (${op})`);
  if (g.audit_change === 'disable') return verdict('critical', 'Audit device disabled');
  if (g.operation === 'create_user') return verdict('high', 'HSM user or role created');
  if (op.startsWith('LUNA_CLONE')) return verdict('high', 'Key objects cloned by the HSM security officer');
  if (g.operation === 'delete_user') return verdict('high', 'HSM user or role deleted');
  if (g.operation === 'update_user') {
    return /ROLE/.test(op) ? verdict('high', 'HSM user role changed') : verdict('medium', 'HSM user password or PIN changed');
  }
  if (g.auth_change === 'enable' || g.auth_change === 'disable') return verdict('high', `Vault auth method ${g.auth_change}d`);
  // Disabling a secrets engine deletes everything in it: for a transit mount, every key.
  if (g.mount_change === 'disable') return verdict('high', 'Vault secrets engine disabled');
  if (/^LUNA_(LOG(?!IN|OUT)|AUDIT)/.test(op)) return verdict('high', 'HSM audit configuration changed');
  // The security domain is a Managed HSM's root of trust: downloading it allows restoring the HSM elsewhere.
  if (op.startsWith('SecurityDomain')) return verdict('high', `Managed HSM security domain operation (${op})`);
  if (g.audit_change) return verdict('medium', `Audit device ${g.audit_change === 'enable' ? 'enabled' : 'changed'}`);
  if (g.auth_change) return verdict('medium', 'Vault auth method tuned');
  if (g.mount_change) return verdict('medium', `Vault secrets engine ${g.mount_change === 'enable' ? 'enabled' : 'changed'}`);
  return verdict('medium', `Admin operation ${op}`);
}

function placeLabel(g: AdminGroup): string {
  if (!g.place) return g.source;
  if (g.source === 'aws-cloudhsm') {
    const hsms = g.hsms.filter((h) => h !== g.place);
    return `CloudHSM ${g.place}${hsms.length > 0 ? ` (${hsms.join(', ')})` : ''}`;
  }
  if (g.source === 'luna-hsm') return `Luna HSM ${g.place}`;
  if (g.source === 'vault') return `Vault namespace ${g.place}`;
  if (g.source === 'azure-key-vault') return `${g.vault_type === 'managed_hsm' ? 'Managed HSM' : 'Key Vault'} ${g.place}`;
  return g.place;
}

export const hsmAdminOperation: Detector = {
  id: 'hsm-admin-operation',
  title: 'HSM or key-service administrative operation',
  severity: 'medium',
  description:
    'A successful administrative operation on an HSM or key service (operation class admin): CloudHSM user management (CN_CREATE_USER, CN_DELETE_USER, CN_CHANGE_PSWD, CN_CHANGE_USER_ROLE) and cluster-level commands (CN_ZEROIZE, CN_INIT_TOKEN, cloning), Luna role and PIN initialisation and changes, zeroisation, partition and audit configuration, objects cloned by the security officer (LUNA_CLONE_* by SO; the HA synchronisation and backups crypto officers run are key lifecycle and left out), Vault audit device, auth method and secrets engine changes (sys/audit, sys/auth, sys/mounts), Managed HSM security domain operations. Zeroisation, token initialisation and disabling an audit device are critical (they destroy keys or blind the audit trail); creating or deleting users and roles, changing roles, Luna objects cloned by the SO, enabling or disabling auth methods and disabling a secrets engine are high; the rest medium. The same command replicated to every HSM of a CloudHSM cluster is one alert. Failed attempts are left to the access-denied detectors.',
  runbook:
    'Match the operation with a change ticket or key ceremony record: HSM admin commands are rare and should always have one. Identify who ran it: CloudHSM user-management entries name the target user, not the caller, so look for the CN_LOGIN of a crypto officer just before it on the same HSM (keywatch sql "SELECT event_time, vendor_operation, principal, attributes FROM key_events WHERE source = \'aws-cloudhsm\' AND attributes[\'hsm_id\'] = \'<hsm>\' ORDER BY event_time DESC LIMIT 50"). If it was not planned: for a user or role created, delete it and rotate the crypto officer passwords; for an audit device disabled, re-enable it at once and treat the gap as an incident (revoke the root or admin token used); for a zeroize or token init, stop dependent services and restore from the latest backup. Then review everything the principal did in the same session.',
  references: [
    'https://docs.aws.amazon.com/cloudhsm/latest/userguide/interpreting-audit-logs.html',
    'https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm-audit-log-reference.html',
    'Thales Luna Network HSM 7 Administration Guide: "Audit Log Categories and HSM Events"',
    'https://developer.hashicorp.com/vault/api-docs/system/audit',
    'https://developer.hashicorp.com/vault/api-docs/system/auth',
    'https://learn.microsoft.com/azure/key-vault/managed-hsm/security-domain',
    'MITRE ATT&CK T1562.008 (Impair Defenses: Disable or Modify Cloud Logs)',
    'MITRE ATT&CK T1136 (Create Account), T1098 (Account Manipulation), T1485 (Data Destruction)',
  ],
  falsePositives: [
    'Adding an HSM to a CloudHSM cluster: AWS clones the cluster onto it (CN_CLONE_*, CN_SET_NODEID), logged on the new HSM with no user (declare a maintenance window for cluster scaling)',
    'Planned user and role administration during a key ceremony or onboarding (declare a maintenance window)',
    'Scheduled password or PIN rotation by a crypto officer (medium; allow-list the rotation automation)',
    'Vault audit devices re-created by configuration management (Terraform) when their options change: a disable immediately followed by an enable of the same path',
  ],
  dedupeMinutes: 60,
  async run(ctx) {
    // Provider-internal callers are not left out: none of them is expected to administer an HSM.
    // Luna cloning is key lifecycle (backup, HA synchronisation under the application's own
    // session); done by the security officer, whose role is the HSM and not its keys, it is
    // administration: copying key objects to another HSM.
    const groups = await ctx.store.query<AdminGroup>(
      `SELECT tenant, source, key_id, principal, operation, vendor_operation,
              multiIf(attributes['cluster_id'] != '', attributes['cluster_id'], attributes['hsm_serial'] != '', attributes['hsm_serial'],
                      attributes['vault'] != '', attributes['vault'], attributes['hsm_id'] != '', attributes['hsm_id'],
                      attributes['stream'] != '', attributes['stream'], account) AS place,
              multiIf(attributes['target_user'] != '', attributes['target_user'], attributes['audit_device'] != '', attributes['audit_device'],
                      attributes['auth_path'] != '', attributes['auth_path'], attributes['mount_path'] != '', attributes['mount_path'], '') AS target,
              attributes['audit_device_change'] AS audit_change, attributes['auth_change'] AS auth_change, attributes['mount_change'] AS mount_change,
              attributes['vault_type'] AS vault_type,
              max(attributes['critical'] = 'true') AS critical,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              arraySlice(groupArray(event_id), 1, 20) AS ids,
              arraySort(arrayFilter(v -> v != '', groupUniqArray(attributes['hsm_id']))) AS hsms,
              arraySort(arrayFilter(v -> v != '', groupUniqArray(attributes['target_user_role']))) AS target_roles
       FROM key_events
       WHERE (${ctx.scope.sql}) AND outcome = 'success'
         AND (operation_class = 'admin' OR (source = 'luna-hsm' AND principal = 'SO' AND startsWith(vendor_operation, 'LUNA_CLONE')))
       GROUP BY tenant, source, key_id, principal, operation, vendor_operation, place, target, audit_change, auth_change, mount_change, vault_type,
                toStartOfHour(event_time)
       ORDER BY first`,
      ctx.scope.params,
    );
    return groups.map((g): Finding => {
      const v = judge(g);
      const where = placeLabel(g);
      return {
        tenant: g.tenant,
        key_id: g.key_id,
        principal: g.principal,
        first_time: g.first,
        last_time: g.last,
        score: v.score,
        severity: v.severity,
        event_count: Number(g.n),
        event_ids: g.ids,
        evidence: {
          operation: g.operation,
          vendor_operation: g.vendor_operation,
          source: g.source,
          place: g.place,
          target: g.target,
          target_roles: g.target_roles.join(','),
          hsms: g.hsms.join(','),
          change: g.audit_change || g.auth_change || g.mount_change,
        },
        title: `${v.what} on ${where}${g.target ? `: ${g.target}` : ''}${g.principal ? ` (by ${g.principal})` : ''}`,
        group: [g.source, g.vendor_operation, g.place, g.target, g.audit_change, g.auth_change, g.mount_change].join('|'),
      };
    });
  },
};
