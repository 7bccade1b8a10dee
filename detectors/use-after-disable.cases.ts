import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

// Keys of the collectors' golden fixtures, so that synthetic events join them.
const AWS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const AWS_DELETED_KEY = 'arn:aws:kms:us-east-1:111122223333:key/0b9d7f5e-3c1a-4b8d-9f6e-4c2a0e8d6b57';
const ORDERS_API = 'arn:aws:iam::111122223333:role/orders-api';
const KMS_ADMIN = 'arn:aws:iam::111122223333:user/kms-admin';
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
const AZURE_KEY = 'https://acme-byok-kv.vault.azure.net/keys/hr-cmk';
const DPOD_SERVICE = '7d2f4b91-0c3e-4a58-b6d7-e18f2a4c6b03';
const DPOD_KEY = `${DPOD_SERVICE}/33010000410000008b6e0400`;

const aws = (e: Partial<KeyEvent> & { event_time: string }) => event({ key_id: AWS_KEY, region: 'eu-central-1', principal: ORDERS_API, ...e });
const awsAdmin = (operation: KeyEvent['operation'], event_time: string) => aws({ event_time, operation, vendor_operation: operation, principal: KMS_ADMIN, principal_type: 'user' });
const gcp = (e: Partial<KeyEvent> & { event_time: string }) =>
  event({ source: 'gcp-kms', account: 'acme-kms-prod', region: 'europe-west3', key_id: GCP_KEY, vendor_operation: 'Decrypt', principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', principal_type: 'service_account', ...e });
const azure = (e: Partial<KeyEvent> & { event_time: string }) =>
  event({ source: 'azure-key-vault', account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0', region: '', key_id: AZURE_KEY, operation: 'unwrap', vendor_operation: 'KeyUnwrap', principal: '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f', principal_type: 'application', ...e });

// CloudTrail records in the layout of the AWS KMS developer guide's ct-disablekey and ct-decrypt
// examples: a key disabled from the console, then the application's Decrypt refused.
const DISABLE_KEY_RECORD = JSON.stringify({
  eventVersion: '1.11',
  userIdentity: { type: 'IAMUser', principalId: 'AIDAZ4EXAMPLE7K2M4N6', arn: KMS_ADMIN, accountId: '111122223333', accessKeyId: 'ASIAZ4EXAMPLE5P7Q9R1', userName: 'kms-admin', sessionContext: { attributes: { creationDate: '2026-03-02T08:51:12Z', mfaAuthenticated: 'true' } } },
  eventTime: '2026-03-02T09:00:00Z',
  eventSource: 'kms.amazonaws.com',
  eventName: 'DisableKey',
  awsRegion: 'eu-central-1',
  sourceIPAddress: '203.0.113.12',
  userAgent: 'AWS Internal',
  requestParameters: { keyId: '5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13' },
  responseElements: null,
  requestID: '1f3a5c7e-9b0d-4e2f-8a6c-4e6a8c0e2b40',
  eventID: '7c9e1a3b-5d7f-4b0d-9e2a-6c8e0a2c4e61',
  readOnly: false,
  resources: [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN: AWS_KEY }],
  eventType: 'AwsApiCall',
  managementEvent: true,
  recipientAccountId: '111122223333',
  eventCategory: 'Management',
  sessionCredentialFromConsole: 'true',
});
const refusedDecrypt = (time: string, eventID: string) =>
  JSON.stringify({
    eventVersion: '1.11',
    userIdentity: {
      type: 'AssumedRole',
      principalId: 'AROAZ4EXAMPLE8L3N5P7:orders-api-7f9c',
      arn: 'arn:aws:sts::111122223333:assumed-role/orders-api/orders-api-7f9c',
      accountId: '111122223333',
      accessKeyId: 'ASIAZ4EXAMPLE1C3E5G7',
      sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROAZ4EXAMPLE8L3N5P7', arn: ORDERS_API, accountId: '111122223333', userName: 'orders-api' }, attributes: { creationDate: '2026-03-02T08:00:00Z', mfaAuthenticated: 'false' } },
    },
    eventTime: time,
    eventSource: 'kms.amazonaws.com',
    eventName: 'Decrypt',
    awsRegion: 'eu-central-1',
    sourceIPAddress: '198.51.100.23',
    userAgent: 'aws-sdk-java/2.25.11 Linux/6.1 OpenJDK_64-Bit_Server_VM/21.0.2',
    errorCode: 'DisabledException',
    errorMessage: `${AWS_KEY} is disabled.`,
    requestParameters: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: { service: 'orders' } },
    responseElements: null,
    requestID: `${eventID.slice(0, 8)}-0000-4000-8000-000000000000`,
    eventID,
    readOnly: true,
    resources: [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN: AWS_KEY }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
  });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'an application keeps calling Decrypt after DisableKey and is refused with DisabledException (CloudTrail records)',
      now: '2026-03-02T12:00:00Z',
      records: {
        format: 'aws-cloudtrail',
        lines: [DISABLE_KEY_RECORD, refusedDecrypt('2026-03-02T09:05:00Z', '2b4d6f80-1a3c-4e5f-9b7d-0f2e4a6c8e01'), refusedDecrypt('2026-03-02T09:06:30Z', '2b4d6f80-1a3c-4e5f-9b7d-0f2e4a6c8e02')],
      },
      expect: { alerts: 1, key_id: AWS_KEY, principal: ORDERS_API, severity: 'high', evidenceIncludes: { state_change: 'disable_key', state_changed_by: KMS_ADMIN, failures: 2, error_codes: 'DisabledException' } },
    },
    {
      name: 'the CloudTrail Decrypt fixture succeeds on a key disabled ten days earlier (the disable took no effect, or an event is missing)',
      now: '2026-03-02T12:00:00Z',
      events: [awsAdmin('disable_key', '2026-02-20 17:00:00.000')],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
      expect: { alerts: 1, principal: ORDERS_API, evidenceIncludes: { state_change: 'disable_key', successes: 1, days_since_change: 9 } },
    },
    {
      name: 'S3 still decrypts for a bucket with a key scheduled for deletion (ScheduleKeyDeletion record, KMSInvalidStateException)',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-03-02 10:00:00.000', key_id: AWS_DELETED_KEY, region: 'us-east-1', principal: 's3.amazonaws.com', principal_type: 'service', source_ip: '', outcome: 'failure', error_code: 'KMSInvalidStateException' }),
      ],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/schedule-key-deletion.json' },
      expect: { alerts: 1, key_id: AWS_DELETED_KEY, principal: 's3.amazonaws.com', evidenceIncludes: { state_change: 'schedule_deletion', error_codes: 'KMSInvalidStateException' } },
    },
    {
      name: 'AWS CancelKeyDeletion leaves the key disabled: a Decrypt after it is still refused',
      now: '2026-03-02T12:00:00Z',
      events: [
        awsAdmin('schedule_deletion', '2026-02-25 09:00:00.000'),
        awsAdmin('cancel_deletion', '2026-02-26 09:00:00.000'),
        aws({ event_time: '2026-03-02 10:00:00.000', outcome: 'failure', error_code: 'DisabledException' }),
      ],
      expect: { alerts: 1, evidenceIncludes: { state_change: 'cancel_deletion' } },
    },
    {
      name: 'a GCP Decrypt fails with FAILED_PRECONDITION after the version was disabled (UpdateCryptoKeyVersion audit entry)',
      now: '2026-03-06T20:00:00Z',
      events: [gcp({ event_time: '2026-03-06 17:00:00.000', operation: 'decrypt', outcome: 'failure', error_code: 'FAILED_PRECONDITION', source_ip: '10.20.3.14' })],
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/version-disabled.json' },
      expect: { alerts: 1, key_id: GCP_KEY, evidenceIncludes: { state_change: 'disable_key', state_change_version: '1', state_changed_by: 'alice@example.com' } },
    },
    {
      name: 'SQL Server keeps unwrapping with an Azure key after KeyDelete (AuditEvent record)',
      now: '2026-03-03T18:00:00Z',
      events: [azure({ event_time: '2026-03-03 14:30:00.000', outcome: 'failure', error_code: 'NotFound', source_ip: '10.20.4.17' })],
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-delete.json' },
      expect: { alerts: 1, key_id: AZURE_KEY, evidenceIncludes: { state_change: 'schedule_deletion', state_change_vendor_operation: 'KeyDelete' } },
    },
    {
      name: 'a Vault transit decrypt fails after the key was deleted (audit device response entry)',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 08:30:00.000', source: 'vault', account: 'root', region: '', key_id: 'transit/orders', operation: 'destroy_version', vendor_operation: 'delete transit/keys', principal: 'userpass-alice', principal_type: 'user' })],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/error-only-in-response.jsonl' },
      expect: { alerts: 1, key_id: 'transit/orders', principal: 'approle-orders-api', evidenceIncludes: { state_change: 'destroy_version' } },
    },
    {
      name: 'a DPoD client uses a Luna Cloud HSM object destroyed a week earlier (object named by OUID; DPoD export)',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-02-23 09:00:00.000', source: 'luna-hsm', account: DPOD_SERVICE, region: '', key_id: DPOD_KEY, operation: 'destroy_version', vendor_operation: 'LUNA_DESTROY_OBJECT', principal: 'c3e8a1f4-6b2d-4e97-a05c-7d9f1b3e5a68', principal_type: 'application', attributes: { layout: 'dpod-json', ouid: '33010000410000008b6e0400' } }),
      ],
      records: { format: 'luna-hsm', fixture: 'ingest/luna-hsm/fixtures/dpod-failure.json' },
      expect: { alerts: 1, key_id: DPOD_KEY, evidenceIncludes: { state_change: 'destroy_version' } },
    },
    {
      name: 'a key disabled ten months ago is still looked back to',
      now: '2026-03-02T12:00:00Z',
      events: [awsAdmin('disable_key', '2025-05-04 09:00:00.000'), aws({ event_time: '2026-03-02 10:00:00.000', outcome: 'failure', error_code: 'DisabledException' })],
      expect: { alerts: 1, evidenceIncludes: { state_change_time: '2025-05-04 09:00:00.000' } },
    },
  ],
  quiet: [
    {
      name: 'a key disabled and enabled again, then used (CloudTrail Decrypt fixture)',
      now: '2026-03-02T12:00:00Z',
      events: [awsAdmin('disable_key', '2026-02-20 17:00:00.000'), awsAdmin('enable_key', '2026-02-21 09:00:00.000')],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'uses before the key was disabled',
      now: '2026-03-02T12:00:00Z',
      events: [awsAdmin('disable_key', '2026-03-02 09:00:00.000')],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'a refused DisableKey (AccessDeniedException) does not change the state',
      now: '2026-03-02T12:00:00Z',
      events: [aws({ event_time: '2026-02-20 17:00:00.000', operation: 'disable_key', vendor_operation: 'DisableKey', principal: KMS_ADMIN, principal_type: 'user', outcome: 'failure', error_code: 'AccessDeniedException' })],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'a GCP key whose version 1 was disabled keeps encrypting with version 2, and decrypts (no version named) succeed',
      now: '2026-03-06T20:00:00Z',
      events: [
        gcp({ event_time: '2026-03-06 17:00:00.000', operation: 'encrypt', vendor_operation: 'Encrypt', key_version: '2' }),
        gcp({ event_time: '2026-03-06 17:00:01.000', operation: 'decrypt' }),
      ],
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/version-disabled.json' },
    },
    {
      name: 'an Azure key deleted and recovered (KeyRecover) before it is used',
      now: '2026-03-03T18:00:00Z',
      events: [azure({ event_time: '2026-03-03 14:20:00.000', operation: 'cancel_deletion', vendor_operation: 'KeyRecover', principal: 'kv-admin@example.com', principal_type: 'user' }), azure({ event_time: '2026-03-03 14:30:00.000' })],
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-delete.json' },
    },
    {
      name: 'Vault trim removes old versions only; the key stays usable',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 08:00:00.000', source: 'vault', account: 'root', region: '', key_id: 'transit/orders', operation: 'destroy_version', vendor_operation: 'update transit/keys/trim', principal: 'userpass-alice', principal_type: 'user' })],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/decrypt-pair.jsonl' },
    },
    {
      name: 'a Luna HSM handle used after an audit line destroyed its object: handles are reused, so that is no state change',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 09:00:00.000', source: 'luna-hsm', account: '1520001', region: '', key_id: '1520001/2044', operation: 'sign', vendor_operation: 'LUNA_SIGN', principal: 'CU', principal_type: 'hsm_user', source_ip: '' })],
      records: { format: 'luna-hsm', fixture: 'ingest/luna-hsm/fixtures/destroy-object.log' },
    },
    {
      name: 'AWS itself touching a disabled key (AWS Internal) is not a dependent workload',
      now: '2026-03-02T12:00:00Z',
      events: [awsAdmin('disable_key', '2026-03-01 09:00:00.000'), aws({ event_time: '2026-03-02 10:00:00.000', principal: 'AWS Internal', principal_type: 'internal', source_ip: '' })],
    },
    {
      name: 'a disable older than the 400-day look-back is not found',
      now: '2026-03-02T12:00:00Z',
      events: [awsAdmin('disable_key', '2025-01-20 09:00:00.000'), aws({ event_time: '2026-03-02 10:00:00.000', outcome: 'failure', error_code: 'DisabledException' })],
    },
  ],
};
