import { event, type DetectorCases } from './cases.ts';

// Accounts as in the AWS fixtures: 111122223333 owns the keys, 444455556666 is a partner,
// 210987654321 an account nobody configured and whose log keywatch does not read.
const KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const OUTSIDER_ROLE = 'arn:aws:iam::210987654321:role/exfil';
const DAY = { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' };
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';

const outsider = (t: string, extra: Partial<Parameters<typeof event>[0]> = {}) =>
  event({
    event_time: t,
    region: 'eu-central-1',
    key_id: KEY,
    principal: OUTSIDER_ROLE,
    source_ip: '198.51.100.7',
    attributes: { caller_account: '210987654321', cross_account: 'true', recipient_account: '111122223333' },
    ...extra,
  });

// A Data Access Decrypt entry, shaped like ingest/gcp-kms/fixtures/decrypt-data-access.json, by a
// service account of a project outside the organization.
const gcpDecryptBy = (email: string, insertId: string) =>
  JSON.stringify({
    protoPayload: {
      '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
      status: {},
      authenticationInfo: { principalEmail: email },
      requestMetadata: { callerIp: '198.51.100.44', callerSuppliedUserAgent: 'grpc-go/1.64.0,gzip(gfe)', requestAttributes: { time: '2026-03-02T09:30:00.100Z', auth: {} }, destinationAttributes: {} },
      serviceName: 'cloudkms.googleapis.com',
      methodName: 'Decrypt',
      authorizationInfo: [{ resource: GCP_KEY, permission: 'cloudkms.cryptoKeyVersions.useToDecrypt', resourceAttributes: {}, permissionType: 'DATA_READ', granted: true }],
      resourceName: GCP_KEY,
      resourceLocation: { currentLocations: ['europe-west3'] },
      request: { '@type': 'type.googleapis.com/google.cloud.kms.v1.DecryptRequest', name: GCP_KEY },
    },
    insertId,
    resource: { type: 'cloudkms_cryptokey', labels: { project_id: 'acme-kms-prod', location: 'europe-west3', key_ring_id: 'byok', crypto_key_id: 'orders-cmek' } },
    timestamp: '2026-03-02T09:30:00.100Z',
    severity: 'INFO',
    logName: 'projects/acme-kms-prod/logs/cloudaudit.googleapis.com%2Fdata_access',
    receiveTimestamp: '2026-03-02T09:30:00.918273645Z',
  });

// Azure storage records shaped like ingest/azure-key-vault/fixtures/unwrap-sql-tde.json: the
// vault's own administrator (tenant 5f4e3d2c-…) creating a key, then an unwrap whose token was
// issued by another tenant.
const HOME_TID = '5f4e3d2c-1b0a-4987-8654-3210fedcba98';
const FOREIGN_TID = '0e9d8c7b-6a5f-4e4d-8c3b-2a1f0e9d8c7b';
const azureRecord = (o: { time: string; op: string; uri: string; id: string; tid: string; appid: string; ip: string; status: number; correlationId: string }) =>
  JSON.stringify({
    time: o.time,
    resourceId: '/SUBSCRIPTIONS/0B1C2D3E-4F50-4172-8394-A5B6C7D8E9F0/RESOURCEGROUPS/RG-KEYS/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-BYOK-KV',
    operationName: o.op,
    operationVersion: '7.5',
    category: 'AuditEvent',
    resultType: 'Success',
    resultSignature: 'OK',
    resultDescription: '',
    durationMs: '18',
    callerIpAddress: o.ip,
    correlationId: o.correlationId,
    identity: { claim: { 'http://schemas.microsoft.com/identity/claims/objectidentifier': '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9', appid: o.appid, 'http://schemas.microsoft.com/identity/claims/tenantid': o.tid } },
    properties: { clientInfo: 'azsdk-net-Security.KeyVault.Keys/4.6.0', requestUri: o.uri, id: o.id, httpStatusCode: o.status },
  });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'a partner role decrypting with a key of the organization, from the key owner\'s CloudTrail record (account not configured, its log not read)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/cross-account-decrypt.json', tenants: { '111122223333': 'acme' } },
      expect: { alerts: 1, key_id: KEY, principal: 'arn:aws:iam::444455556666:role/partner-etl', severity: 'high', evidenceIncludes: { caller_account: '444455556666', key_account: '111122223333', succeeded: 1 } },
    },
    {
      name: 'three calls of one outside role in a day are one alert with counts, both outcomes and both source IPs',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        outsider('2026-03-02 01:10:00.000'),
        outsider('2026-03-02 09:45:00.000', { operation: 'generate_data_key', vendor_operation: 'GenerateDataKey', source_ip: '198.51.100.8' }),
        outsider('2026-03-02 22:05:00.000', { outcome: 'failure', error_code: 'AccessDeniedException' }),
      ],
      expect: { alerts: 1, principal: OUTSIDER_ROLE, severity: 'high', evidenceIncludes: { caller_account: '210987654321', succeeded: 2, refused: 1, operations: 'decrypt,generate_data_key', source_ips: '198.51.100.7,198.51.100.8', error_codes: 'AccessDeniedException' } },
    },
    {
      name: 'only refused attempts from an outside account (probing) are medium',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        outsider('2026-03-02 03:00:00.000', { outcome: 'failure', error_code: 'AccessDeniedException' }),
        outsider('2026-03-02 03:00:05.000', { outcome: 'failure', error_code: 'AccessDeniedException' }),
      ],
      expect: { alerts: 1, severity: 'medium', evidenceIncludes: { succeeded: 0, refused: 2 } },
    },
    {
      name: 'use on two different days gives one alert per day',
      now: '2026-03-04T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-04T00:00:00Z' },
      events: [outsider('2026-03-02 12:00:00.000'), outsider('2026-03-03 12:00:00.000')],
      expect: { alerts: 2 },
    },
    {
      name: 'a GCP service account of another project decrypting with a key of acme-kms-prod (Data Access entry)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'gcp-audit-log', lines: [gcpDecryptBy('etl-runner@sandbox-4711.iam.gserviceaccount.com', '9f8e7d6c5b4a')], tenants: { 'acme-kms-prod': 'acme' } },
      expect: { alerts: 1, key_id: GCP_KEY, principal: 'etl-runner@sandbox-4711.iam.gserviceaccount.com', severity: 'high', evidenceIncludes: { caller_kind: 'project', caller_account: 'sandbox-4711', key_account: 'acme-kms-prod' } },
    },
    {
      name: 'an Azure unwrap whose token was issued by another Entra tenant than the vault\'s (storage records)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: {
        format: 'azure-key-vault',
        tenants: { '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0': 'acme' },
        lines: [
          azureRecord({ time: '2026-03-02T07:00:00.0000000Z', op: 'KeyCreate', uri: 'https://acme-byok-kv.vault.azure.net/keys/orders/create?api-version=7.5', id: 'https://acme-byok-kv.vault.azure.net/keys/orders/0c1d2e3f405162738495a6b7c8d9e0f1', tid: HOME_TID, appid: '8a9b0c1d-2e3f-4a4b-9c5d-6e7f8a9b0c1d', ip: '192.0.2.10', status: 200, correlationId: 'a0b1c2d3-0000-4000-8000-000000000001' }),
          azureRecord({ time: '2026-03-02T11:00:00.0000000Z', op: 'KeyUnwrap', uri: 'https://acme-byok-kv.vault.azure.net/keys/orders/0c1d2e3f405162738495a6b7c8d9e0f1/unwrapkey?api-version=7.5', id: 'https://acme-byok-kv.vault.azure.net/keys/orders/0c1d2e3f405162738495a6b7c8d9e0f1', tid: FOREIGN_TID, appid: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', ip: '203.0.113.61', status: 200, correlationId: 'a0b1c2d3-0000-4000-8000-000000000002' }),
        ],
      },
      expect: { alerts: 1, key_id: 'https://acme-byok-kv.vault.azure.net/keys/orders', principal: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', severity: 'high', evidenceIncludes: { caller_kind: 'tenant', caller_account: FOREIGN_TID, key_account: HOME_TID, source_ips: '203.0.113.61' } },
    },
  ],
  quiet: [
    {
      name: 'a role of the key owner\'s own account decrypting (CloudTrail record)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'the partner account is inside the organization once keywatch reads its own trail (multi-account estate)',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/cross-account-decrypt.json' },
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
      name: 'the caller-side copy of an organization role using a foreign key: the caller is inside',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [
        event({
          event_time: '2026-03-02 10:00:00.000',
          account: '210987654321',
          key_id: 'arn:aws:kms:eu-central-1:210987654321:key/0f0f0f0f-0000-4000-8000-000000000210',
          principal: 'arn:aws:iam::111122223333:role/app',
          attributes: { caller_account: '111122223333', cross_account: 'true', recipient_account: '111122223333' },
        }),
      ],
    },
    {
      name: 'an AWS service decrypting for the customer (invokedBy s3.amazonaws.com) is left out',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/aws-service-caller.json' },
    },
    {
      name: 'an outside account only describing the key is not key use',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [outsider('2026-03-02 10:00:00.000', { operation: 'describe', operation_class: 'read', vendor_operation: 'DescribeKey' })],
    },
    {
      name: 'a GCP Google-managed service agent (Cloud Storage CMEK) decrypting',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/service-agent-caller.json' },
    },
    {
      name: 'a GCP service account of the key\'s own project, and one of another project whose KMS log keywatch reads',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'gcp-audit-log', lines: [gcpDecryptBy('orders-api@acme-kms-prod.iam.gserviceaccount.com', '1a1a1a1a1a1a'), gcpDecryptBy('terraform@acme-kms-ops.iam.gserviceaccount.com', '2b2b2b2b2b2b')] },
      events: [
        event({ event_time: '2026-03-01 12:00:00.000', source: 'gcp-kms', account: 'acme-kms-ops', key_id: 'projects/acme-kms-ops/locations/global/keyRings/tf/cryptoKeys/state', principal: 'terraform@acme-kms-ops.iam.gserviceaccount.com', principal_type: 'service_account' }),
      ],
    },
    {
      name: 'a GCP user of another identity domain is not judged while no organization domains are configured',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      events: [event({ event_time: '2026-03-02 10:00:00.000', source: 'gcp-kms', account: 'acme-kms-prod', key_id: GCP_KEY, principal: 'dana@example.net', principal_type: 'user' })],
    },
    {
      name: 'an Azure SQL Server TDE unwrap with a token of the vault\'s own tenant',
      now: '2026-03-03T00:00:00Z',
      range: DAY,
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/unwrap-sql-tde.json' },
    },
  ],
};
