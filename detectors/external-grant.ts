import { insideAccounts } from './cross-account-use.ts';
import type { Detector, Finding } from './detector.ts';

/** The 12-digit AWS account of a principal ARN (`arn:aws:iam::<account>:…`, `arn:aws:sts::…`) or a bare account id; '' otherwise. */
export const AWS_ACCOUNT_OF = (col: string): string =>
  `if(match(${col}, '^[0-9]{12}$'), ${col}, extract(${col}, '^arn:[a-z-]+:(?:iam|sts)::([0-9]{12}):'))`;

// Grant operations that let the grantee read protected data or sign, or pass the key on
// (CreateGrant): the rest (Encrypt, Verify, DescribeKey, GetPublicKey, RetireGrant, ReEncryptTo)
// expose no plaintext. AWS KMS developer guide, "Grant operations".
const USE_OPERATIONS = new Set([
  'Decrypt',
  'ReEncryptFrom',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'Sign',
  'GenerateMac',
  'DeriveSharedSecret',
  'CreateGrant',
]);

interface Row {
  event_id: string;
  tenant: string;
  key_id: string;
  principal: string;
  key_account: string;
  t: string;
  source_ip: string;
  grantee: string;
  grantee_account: string;
  grantee_outside: boolean;
  retiring: string;
  retiring_account: string;
  retiring_outside: boolean;
  ops: string;
  constraints: string;
  grant_id: string;
}

export const externalGrant: Detector = {
  id: 'external-grant',
  title: 'Key grant to a principal outside the organization',
  severity: 'high',
  description:
    'An AWS KMS CreateGrant whose grantee principal (`grantee_principal`), or retiring principal (`retiring_principal`), belongs to an account other than the key\'s that is not inside the organization (configured accounts, the tenants map, and accounts whose own log keywatch reads). ' +
    'A grant is a second door next to the key policy: it does not show in GetKeyPolicy, it needs no policy change, and it lets the grantee use the key directly. ' +
    'High when the grant allows decryption, data keys, signing or re-granting (or its operations were not logged); medium when it allows only encrypt, verify or describe, or when only the retiring principal is outside. ' +
    'CloudHSM CN_SHARE_OBJECT also maps to create_grant, but it shares a key with another crypto user of the same HSM cluster, inside one account: it is not reported. ' +
    'Azure Key Vault, Managed HSM and GCP Cloud KMS have no grants (access is the vault\'s access policies or RBAC and the IAM policy, see policy-widened); Vault and Luna have none either.',
  runbook:
    'Look at the grant: aws kms list-grants --key-id <key> (the grant id is in the evidence) and ask the principal who created it why. ' +
    'If the grantee account is a known partner or your own, add it to detect.organization.accounts or the tenants map. ' +
    'If not: revoke the grant at once (aws kms revoke-grant --key-id <key> --grant-id <id>), then check whether the grantee already used it: ' +
    'keywatch sql "SELECT event_time, operation, principal, source_ip FROM key_events WHERE key_id = \'<key>\' AND attributes[\'caller_account\'] = \'<grantee account>\' ORDER BY event_time" (the cross-account-use detector reports that use too). ' +
    'Review what else the creating principal did in its session and rotate its credentials if the grant was not theirs to make.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/grants.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/ct-creategrant.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/grant-manage.html',
    'Panther: AWS.CloudTrail.ResourceMadePublic (watches key policies, not grants: the door this detector covers)',
  ],
  falsePositives: [
    'A partner or acquired account that is not configured in detect.organization.accounts or the tenants map',
    'Cross-account AWS service workflows that create grants for the destination account (EBS snapshot copy, RDS cross-account snapshot restore, AWS Backup vaults in a central backup account not yet configured)',
  ],
  dedupeMinutes: 60,
  async run(ctx) {
    const candidates = await ctx.store.query<Omit<Row, 'grantee_outside' | 'retiring_outside'>>(
      `SELECT event_id, tenant, key_id, principal, key_account, toString(event_time) AS t, source_ip, grantee, grantee_account, retiring, retiring_account,
              ops, constraints, grant_id
       FROM (
         SELECT event_id, tenant, key_id, principal, event_time, source_ip, lower(account) AS key_account,
                attributes['grantee_principal'] AS grantee, attributes['retiring_principal'] AS retiring,
                ${AWS_ACCOUNT_OF("attributes['grantee_principal']")} AS grantee_account,
                ${AWS_ACCOUNT_OF("attributes['retiring_principal']")} AS retiring_account,
                attributes['grant_operations'] AS ops, attributes['grant_constraints'] AS constraints, attributes['grant_id'] AS grant_id
         FROM key_events
         WHERE (${ctx.scope.sql}) AND operation = 'create_grant' AND outcome = 'success' AND attributes['grantee_principal'] != '' AND (${ctx.notInternal})
       )
       WHERE (grantee_account != '' AND grantee_account != key_account) OR (retiring_account != '' AND retiring_account != key_account)
       ORDER BY t, event_id`,
      ctx.scope.params,
    );
    if (candidates.length === 0) return [];
    // Only now the month-long lookup of the accounts whose own log keywatch reads.
    const inside = await insideAccounts(ctx);
    const isOutside = (account: string, key: string) => account !== '' && account !== key && !inside.has(account);
    const rows: Row[] = candidates
      .map((c) => ({ ...c, grantee_outside: isOutside(c.grantee_account, c.key_account), retiring_outside: isOutside(c.retiring_account, c.key_account) }))
      .filter((r) => r.grantee_outside || r.retiring_outside);
    return rows.map((r): Finding => {
      const ops = r.ops ? r.ops.split(',') : [];
      const grantsUse = ops.length === 0 || ops.some((o) => USE_OPERATIONS.has(o));
      const high = r.grantee_outside && grantsUse;
      const outsider = r.grantee_outside ? r.grantee_account : r.retiring_account;
      return {
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.t,
        last_time: r.t,
        score: high ? 80 : 55,
        severity: high ? 'high' : 'medium',
        event_count: 1,
        event_ids: [r.event_id],
        evidence: {
          grantee_principal: r.grantee,
          grantee_account: r.grantee_account,
          grantee_outside: r.grantee_outside,
          retiring_principal: r.retiring,
          retiring_account: r.retiring_account,
          retiring_outside: r.retiring_outside,
          key_account: r.key_account,
          grant_operations: r.ops,
          grant_constraints: r.constraints,
          grant_id: r.grant_id,
          source_ip: r.source_ip,
        },
        title: `Grant on ${r.key_id} to ${r.grantee_outside ? 'a grantee' : 'a retiring principal'} in outside account ${outsider}`,
        group: r.grant_id || r.event_id,
      };
    });
  },
};
