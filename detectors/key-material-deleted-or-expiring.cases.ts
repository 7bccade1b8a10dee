import { event, type DetectorCases } from './cases.ts';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/7c1d2e3f-0000-4000-8000-00000000b0c1';
const CUSTODIAN = 'arn:aws:iam::111122223333:user/key-custodian';
const MATERIAL_A = '4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b';
const MATERIAL_B = '9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e';

/** A successful ImportKeyMaterial of KEY by the custodian, with the expiry CloudTrail records. */
const imported = (event_time: string, validTo: string, extra: Partial<Parameters<typeof event>[0]> = {}) =>
  event({
    event_time,
    key_id: KEY,
    operation: 'import_key_material',
    vendor_operation: 'ImportKeyMaterial',
    principal: CUSTODIAN,
    principal_type: 'user',
    attributes: { valid_to: validTo, expiration_model: 'KEY_MATERIAL_EXPIRES', import_type: 'NEW_KEY_MATERIAL' },
    ...extra,
  });

// AWS's own deletion of expired material, shaped like the CloudTrail example of
// DeleteExpiredKeyMaterial (a service event with no caller identity); ids are made up.
const DELETE_EXPIRED = JSON.stringify({
  eventVersion: '1.11',
  userIdentity: { accountId: '111122223333', invokedBy: 'AWS Internal' },
  eventTime: '2026-03-02T09:14:05Z',
  eventSource: 'kms.amazonaws.com',
  eventName: 'DeleteExpiredKeyMaterial',
  awsRegion: 'eu-west-1',
  sourceIPAddress: 'AWS Internal',
  userAgent: 'AWS Internal',
  requestParameters: null,
  responseElements: null,
  eventID: '5e0c7a1b-2d3f-4e5a-9b6c-7d8e9f0a1b2c',
  readOnly: false,
  resources: [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN: KEY }],
  eventType: 'AwsServiceEvent',
  recipientAccountId: '111122223333',
  serviceEventDetails: { keyId: '7c1d2e3f-0000-4000-8000-00000000b0c1', keyMaterialId: MATERIAL_A },
  eventCategory: 'Management',
});

export const cases: DetectorCases = {
  fires: [
    {
      name: 'AWS DeleteImportedKeyMaterial by a user, from a real-shaped CloudTrail record: high',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/delete-imported-key-material.json' },
      expect: { alerts: 1, principal: 'arn:aws:iam::111122223333:user/key-custodian', severity: 'high', evidenceIncludes: { state: 'deleted', vendor_operation: 'DeleteImportedKeyMaterial' } },
    },
    {
      name: 'AWS deleting expired material itself (DeleteExpiredKeyMaterial by AWS Internal) fires, although provider-internal callers are otherwise left out',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudtrail', lines: [DELETE_EXPIRED] },
      expect: { alerts: 1, key_id: KEY, principal: 'AWS Internal', severity: 'high', evidenceIncludes: { state: 'expired', vendor_operation: 'DeleteExpiredKeyMaterial' } },
    },
    {
      name: 'the material of a real-shaped ImportKeyMaterial record (validTo "Mar 2, 2027, 12:00:00 AM") five days before it expires: high, although the import is a year old',
      now: '2027-02-25T00:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/import-key-material.json' },
      expect: {
        alerts: 1,
        key_id: 'arn:aws:kms:us-east-1:111122223333:key/e7b1d3f5-9a2c-4e6b-8d0f-3a5c7e9b1d24',
        principal: 'arn:aws:iam::111122223333:user/key-custodian',
        severity: 'high',
        evidenceIncludes: { state: 'expiring', valid_to_utc: '2027-03-02T00:00:00.000Z', days_left: 5 },
      },
    },
    {
      name: 'imported material expiring in about 20 days (ISO validTo, imported three weeks ago): medium',
      now: '2026-03-02T12:00:00Z',
      events: [imported('2026-02-09 10:00:00.000', '2026-03-22T00:00:00Z', { key_version: MATERIAL_A })],
      expect: { alerts: 1, key_id: KEY, principal: CUSTODIAN, severity: 'medium', evidenceIncludes: { state: 'expiring', key_material_id: MATERIAL_A } },
    },
    {
      name: 'material that expired two days ago with no re-import and no recorded deletion: high',
      now: '2026-03-02T12:00:00Z',
      events: [imported('2025-12-01 10:00:00.000', 'Feb 28, 2026, 12:00:00 PM')],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { state: 'expired', valid_to_utc: '2026-02-28T12:00:00.000Z' } },
    },
    {
      name: 'an older material of a multi-material key still expires after new material without expiry was imported into the key',
      now: '2026-03-02T12:00:00Z',
      events: [
        imported('2025-06-01 10:00:00.000', '2026-03-12T00:00:00Z', { key_version: MATERIAL_A }),
        imported('2026-02-01 10:00:00.000', '', { key_version: MATERIAL_B, attributes: { expiration_model: 'KEY_MATERIAL_DOES_NOT_EXPIRE', import_type: 'NEW_KEY_MATERIAL' } }),
      ],
      expect: { alerts: 1, severity: 'medium', evidenceIncludes: { key_material_id: MATERIAL_A } },
    },
    {
      name: "Azure Key Vault's own near-expiry notification for a key: medium",
      now: '2026-03-02T12:00:00Z',
      events: [
        event({
          event_time: '2026-03-02 06:00:00.000',
          source: 'azure-key-vault',
          account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0',
          region: '',
          key_id: 'https://acme-byok-kv.vault.azure.net/keys/hr-cmk',
          operation: 'other',
          operation_class: 'lifecycle',
          vendor_operation: 'KeyNearExpiryEventGridNotification',
          principal: 'Azure Key Vault',
          principal_type: 'internal',
          source_ip: '',
          attributes: { vault: 'acme-byok-kv', vault_type: 'vault' },
        }),
      ],
      expect: { alerts: 1, key_id: 'https://acme-byok-kv.vault.azure.net/keys/hr-cmk', severity: 'medium', evidenceIncludes: { state: 'expiring' } },
    },
  ],
  quiet: [
    {
      name: 'imported material that expires in 90 days',
      now: '2026-03-02T12:00:00Z',
      events: [imported('2026-03-02 08:00:00.000', '2026-05-31T12:00:00Z')],
    },
    {
      name: 'material expiring in three days that was re-imported since with an expiry a year out',
      now: '2026-03-02T12:00:00Z',
      events: [imported('2025-03-05 10:00:00.000', 'Mar 5, 2026, 12:00:00 AM'), imported('2026-02-20 10:00:00.000', 'Feb 20, 2027, 12:00:00 AM')],
    },
    {
      name: 'material imported with KEY_MATERIAL_DOES_NOT_EXPIRE',
      now: '2026-03-02T12:00:00Z',
      events: [imported('2026-03-02 08:00:00.000', '', { attributes: { expiration_model: 'KEY_MATERIAL_DOES_NOT_EXPIRE', import_type: 'NEW_KEY_MATERIAL' } })],
    },
    {
      name: 'a failed import with an expiry in three days (the material was never imported)',
      now: '2026-03-02T12:00:00Z',
      events: [imported('2026-03-02 08:00:00.000', '2026-03-05T00:00:00Z', { outcome: 'failure', error_code: 'ExpiredImportTokenException' })],
    },
    {
      name: 'a failed DeleteImportedKeyMaterial (AccessDeniedException)',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 08:00:00.000', key_id: KEY, operation: 'delete_key_material', vendor_operation: 'DeleteImportedKeyMaterial', outcome: 'failure', error_code: 'AccessDeniedException' })],
    },
    {
      name: 'expiring material that was already deleted three days ago (that deletion was alerted by an earlier run)',
      now: '2026-03-02T12:00:00Z',
      events: [
        imported('2025-12-01 10:00:00.000', '2026-03-05T00:00:00Z'),
        event({ event_time: '2026-02-27 09:00:00.000', key_id: KEY, operation: 'delete_key_material', vendor_operation: 'DeleteImportedKeyMaterial', principal: CUSTODIAN, principal_type: 'user' }),
      ],
    },
    {
      name: 'material that expired two months ago on an abandoned key',
      now: '2026-03-02T12:00:00Z',
      events: [imported('2025-06-01 10:00:00.000', '2026-01-01T00:00:00Z')],
    },
  ],
};
