import { event, type DetectorCases } from './cases.ts';

// Accounts as in the AWS fixtures: 111122223333 owns the keys, 444455556666 is a partner,
// 210987654321 an account nobody configured and whose log keywatch does not read.
const KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const DAY = { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' };
const ADMIN = 'arn:aws:iam::111122223333:role/platform-admin';

const grant = (t: string, attributes: Record<string, string>, extra: Partial<Parameters<typeof event>[0]> = {}) =>
  event({
    event_time: t,
    region: 'eu-central-1',
    key_id: KEY,
    operation: 'create_grant',
    vendor_operation: 'CreateGrant',
    principal: ADMIN,
    source_ip: '203.0.113.12',
    attributes: { caller_account: '111122223333', recipient_account: '111122223333', ...attributes },
    ...extra,
  });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'a Decrypt/Encrypt grant to a role of another account, from the CloudTrail CreateGrant record',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/create-grant-external.json', tenants: { '111122223333': 'acme' } },
      expect: {
        alerts: 1,
        key_id: KEY,
        principal: ADMIN,
        severity: 'high',
        evidenceIncludes: { grantee_account: '444455556666', grantee_outside: true, retiring_outside: false, grant_operations: 'Decrypt,Encrypt', grant_id: '5b7d9f1a3c5e7a9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e70' },
      },
    },
    {
      name: 'a grant that lets the outside account re-grant (CreateGrant) is high even without Decrypt',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [grant('2026-03-02 11:00:00.000', { grantee_principal: 'arn:aws:iam::210987654321:role/ops', grant_operations: 'Encrypt,CreateGrant', grant_id: 'g-2' })],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { grantee_account: '210987654321' } },
    },
    {
      name: 'a grant of only Encrypt and DescribeKey to an outside account root is medium',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [grant('2026-03-02 11:00:00.000', { grantee_principal: 'arn:aws:iam::210987654321:root', grant_operations: 'Encrypt,DescribeKey', grant_id: 'g-3' })],
      expect: { alerts: 1, severity: 'medium', evidenceIncludes: { grantee_account: '210987654321', grant_operations: 'Encrypt,DescribeKey' } },
    },
    {
      name: 'a grant to an own role whose retiring principal is in an outside account is medium',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [grant('2026-03-02 11:00:00.000', { grantee_principal: 'arn:aws:iam::111122223333:role/app', retiring_principal: 'arn:aws:iam::210987654321:role/cleanup', grant_operations: 'Decrypt', grant_id: 'g-4' })],
      expect: { alerts: 1, severity: 'medium', evidenceIncludes: { grantee_outside: false, retiring_outside: true, retiring_account: '210987654321' } },
    },
    {
      name: 'two grants to outside accounts by one principal in an hour are two alerts (one per grant)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        grant('2026-03-02 11:00:00.000', { grantee_principal: 'arn:aws:iam::210987654321:role/a', grant_operations: 'Decrypt', grant_id: 'g-5' }),
        grant('2026-03-02 11:10:00.000', { grantee_principal: 'arn:aws:iam::210987654321:role/b', grant_operations: 'Decrypt', grant_id: 'g-6' }),
      ],
      expect: { alerts: 2 },
    },
  ],
  quiet: [
    {
      name: 'a grant to a role of the key\'s own account',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [grant('2026-03-02 11:00:00.000', { grantee_principal: 'arn:aws:iam::111122223333:role/app', retiring_principal: ADMIN, grant_operations: 'Decrypt', grant_id: 'g-7' })],
    },
    {
      name: 'a grant to the partner account once keywatch reads the partner\'s own trail (inside the organization)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/create-grant-external.json' },
      events: [
        event({
          event_time: '2026-03-01 18:00:00.000',
          account: '444455556666',
          key_id: 'arn:aws:kms:eu-central-1:444455556666:key/7a7a7a7a-0000-4000-8000-000000000444',
          principal: 'arn:aws:iam::444455556666:role/partner-etl',
          attributes: { caller_account: '444455556666', recipient_account: '444455556666' },
        }),
      ],
    },
    {
      name: 'a refused CreateGrant to an outside account grants nothing',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [grant('2026-03-02 11:00:00.000', { grantee_principal: 'arn:aws:iam::210987654321:role/ops', grant_operations: 'Decrypt' }, { outcome: 'failure', error_code: 'AccessDeniedException' })],
    },
    {
      name: 'revoking a grant of an outside account narrows access',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [grant('2026-03-02 11:00:00.000', { grantee_principal: 'arn:aws:iam::210987654321:role/ops', grant_id: 'g-8' }, { operation: 'revoke_grant', vendor_operation: 'RevokeGrant' })],
    },
    {
      name: 'CloudHSM CN_SHARE_OBJECT shares a key with another crypto user of the same cluster, inside one account',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/share-object.json' },
    },
  ],
};
