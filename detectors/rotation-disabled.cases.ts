import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

const AWS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';

/** A CloudTrail record of a rotation call, laid out like ingest/aws-kms/fixtures/enable-key-rotation.json. */
function cloudTrail(eventName: 'DisableKeyRotation' | 'EnableKeyRotation', eventTime: string, eventID: string, more: Record<string, unknown> = {}): string {
  return JSON.stringify({
    eventVersion: '1.08',
    userIdentity: {
      type: 'AssumedRole',
      principalId: 'AROAZ4EXAMPLE3D5F7H9:jdoe',
      arn: 'arn:aws:sts::111122223333:assumed-role/platform-admin/jdoe',
      accountId: '111122223333',
      accessKeyId: 'ASIAZ4EXAMPLE5J7L9N1',
      sessionContext: {
        sessionIssuer: { type: 'Role', principalId: 'AROAZ4EXAMPLE3D5F7H9', arn: 'arn:aws:iam::111122223333:role/platform-admin', accountId: '111122223333', userName: 'platform-admin' },
        attributes: { creationDate: '2026-03-05T16:02:11Z', mfaAuthenticated: 'true' },
      },
    },
    eventTime,
    eventSource: 'kms.amazonaws.com',
    eventName,
    awsRegion: 'eu-central-1',
    sourceIPAddress: '203.0.113.12',
    userAgent: 'AWS Internal',
    requestParameters: { keyId: '5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13', ...(eventName === 'EnableKeyRotation' ? { rotationPeriodInDays: 365 } : {}) },
    responseElements: null,
    requestID: `req-${eventID}`,
    eventID,
    readOnly: false,
    resources: [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN: AWS_KEY }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
    ...more,
  });
}

const gcp = (e: Partial<KeyEvent> & { event_time: string }) => event({ source: 'gcp-kms', key_id: GCP_KEY, account: 'acme-kms-prod', region: 'europe-west3', vendor_operation: 'UpdateCryptoKey', principal: 'terraform@acme-kms-ops.iam.gserviceaccount.com', principal_type: 'service_account', ...e });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'AWS DisableKeyRotation by an admin role, from a CloudTrail record',
      now: '2026-03-05T18:00:00Z',
      records: { format: 'aws-cloudtrail', lines: [cloudTrail('DisableKeyRotation', '2026-03-05T16:20:03Z', '4c2e0a8f-6b1d-4f3a-9e7c-2d5b8f1a3c64')] },
      expect: { alerts: 1, key_id: AWS_KEY, principal: 'arn:aws:iam::111122223333:role/platform-admin', evidenceIncludes: { vendor_operation: 'DisableKeyRotation', change_in_scope: true } },
    },
    {
      name: 'GCP rotation schedule cleared by Terraform (UpdateCryptoKey with rotationPeriod and nextRotationTime in the mask, no values)',
      now: '2026-03-04T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/clear-rotation.json' },
      expect: { alerts: 1, key_id: GCP_KEY, principal: 'terraform@acme-kms-ops.iam.gserviceaccount.com', evidenceIncludes: { vendor_operation: 'UpdateCryptoKey' } },
    },
    {
      name: 'Vault auto_rotate_period set to 0 on transit/payments; the 720h period set on transit/orders and the HMAC\'d one on transit/warehouse do not fire',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/keys-config-auto-rotate.jsonl' },
      expect: { alerts: 1, key_id: 'transit/payments', principal: 'userpass-alice' },
    },
    {
      name: 'a GCP key whose schedule was cleared six months ago and is still decrypted today: the state, not the change, fires',
      now: '2026-09-01T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/clear-rotation.json' },
      events: [gcp({ event_time: '2026-09-01 11:00:00.000', operation: 'decrypt', vendor_operation: 'Decrypt', principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com' })],
      expect: { alerts: 1, key_id: GCP_KEY, evidenceIncludes: { change_in_scope: false, disabled_time: '2026-03-04 07:45:12.904' } },
    },
  ],
  quiet: [
    {
      name: 'AWS EnableKeyRotation with a 180-day period (the fixture record)',
      now: '2026-03-02T18:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/enable-key-rotation.json' },
    },
    {
      name: 'AWS rotation turned off and on again five minutes later',
      now: '2026-03-05T18:00:00Z',
      records: {
        format: 'aws-cloudtrail',
        lines: [cloudTrail('DisableKeyRotation', '2026-03-05T16:20:03Z', '4c2e0a8f-6b1d-4f3a-9e7c-2d5b8f1a3c64'), cloudTrail('EnableKeyRotation', '2026-03-05T16:25:41Z', '7a9c1e3f-5b7d-4f9a-8c2e-6d0f2b4d6e85')],
      },
    },
    {
      name: 'a DisableKeyRotation refused with AccessDeniedException',
      now: '2026-03-05T18:00:00Z',
      records: {
        format: 'aws-cloudtrail',
        lines: [cloudTrail('DisableKeyRotation', '2026-03-05T16:20:03Z', '4c2e0a8f-6b1d-4f3a-9e7c-2d5b8f1a3c64', { errorCode: 'AccessDeniedException', errorMessage: 'User: arn:aws:sts::111122223333:assumed-role/platform-admin/jdoe is not authorized to perform: kms:DisableKeyRotation' })],
      },
    },
    {
      name: 'a GCP schedule cleared, then set again the next day',
      now: '2026-03-05T12:00:00Z',
      events: [gcp({ event_time: '2026-03-04 07:45:12.904', operation: 'disable_rotation' }), gcp({ event_time: '2026-03-05 09:00:00.000', operation: 'enable_rotation', attributes: { rotation_period: '7776000s', rotation_period_days: '90' } })],
    },
    {
      name: 'a key whose rotation was turned off long ago and which is now being deleted',
      now: '2026-09-01T12:00:00Z',
      events: [
        gcp({ event_time: '2026-03-04 07:45:12.904', operation: 'disable_rotation' }),
        gcp({ event_time: '2026-09-01 10:00:00.000', operation: 'destroy_version', vendor_operation: 'DeleteCryptoKey', principal: 'ops@acme.example.com', principal_type: 'user' }),
      ],
    },
    {
      name: 'an Azure rotation policy change (KeyRotationPolicySet): the log does not say whether rotation was removed',
      now: '2026-03-02T18:00:00Z',
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-rotation-policy-set.json' },
    },
  ],
};
