import { event, type DetectorCases } from './cases.ts';

// Keys and principals of the collectors' golden fixtures, so that synthetic history joins them.
const AWS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const ORDERS_API = 'arn:aws:iam::111122223333:role/orders-api';
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
const GCP_ORDERS_API = 'orders-api@acme-kms-prod.iam.gserviceaccount.com';
const AZURE_KEY = 'https://acme-byok-kv.vault.azure.net/keys/sql-tde';
const AZURE_SQL_MI = '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d';
const AZURE_SUB = '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0';
const DPOD_SERVICE = '7d2f4b91-0c3e-4a58-b6d7-e18f2a4c6b03';
const DPOD_KEY = `${DPOD_SERVICE}/33010000410000008b6e0400`;

const awsHistory = (principal: string, ...times: string[]) => times.map((t) => event({ event_time: t, key_id: AWS_KEY, region: 'eu-central-1', principal }));
const gcpHistory = (principal: string, ...times: string[]) =>
  times.map((t) => event({ event_time: t, source: 'gcp-kms', account: 'acme-kms-prod', region: 'europe-west3', key_id: GCP_KEY, vendor_operation: 'Decrypt', principal, principal_type: 'service_account', source_ip: '10.20.3.14' }));

export const cases: DetectorCases = {
  fires: [
    {
      name: 'a role of a partner AWS account decrypts with an established key (CloudTrail cross-account record): high, outside the organization',
      now: '2026-03-02T12:00:00Z',
      events: awsHistory(ORDERS_API, '2026-01-20 09:00:00.000', '2026-02-27 09:00:00.000'),
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/cross-account-decrypt.json' },
      expect: { alerts: 1, key_id: AWS_KEY, principal: 'arn:aws:iam::444455556666:role/partner-etl', severity: 'high', evidenceIncludes: { outside_organization: true, key_first_seen: '2026-01-20 09:00:00.000' } },
    },
    {
      name: 'an unknown user is refused Encrypt on a GCP key its service account uses daily (Data Access entry): the failure is in the evidence',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-01-10 09:00:00.000', source: 'gcp-kms', account: 'acme-kms-prod', key_id: GCP_KEY, operation: 'create_key', vendor_operation: 'CreateCryptoKey', principal: 'terraform@acme-kms-ops.iam.gserviceaccount.com', principal_type: 'service_account' }),
        ...gcpHistory(GCP_ORDERS_API, '2026-02-25 08:00:00.000', '2026-03-01 08:00:00.000'),
      ],
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/encrypt-permission-denied.json' },
      expect: { alerts: 1, key_id: GCP_KEY, principal: 'mallory@example.net', severity: 'medium', evidenceIncludes: { failures: 1, error_codes: 'PERMISSION_DENIED', outside_organization: false } },
    },
    {
      name: 'a service account of another GCP project decrypts: high, outside the organization',
      now: '2026-03-02T12:00:00Z',
      events: [
        ...gcpHistory(GCP_ORDERS_API, '2026-01-12 08:00:00.000', '2026-03-01 08:00:00.000'),
        ...gcpHistory('exporter@partner-analytics-7.iam.gserviceaccount.com', '2026-03-02 03:10:00.000', '2026-03-02 03:10:05.000'),
      ],
      expect: { alerts: 1, principal: 'exporter@partner-analytics-7.iam.gserviceaccount.com', severity: 'high', evidenceIncludes: { outside_organization: true } },
    },
    {
      name: 'an Azure managed identity unwraps again after seven weeks without use (AuditEvent record): the previous use is in the evidence',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-01-12 10:00:00.000', source: 'azure-key-vault', account: AZURE_SUB, region: '', key_id: AZURE_KEY, operation: 'unwrap', vendor_operation: 'KeyUnwrap', principal: AZURE_SQL_MI, principal_type: 'application', source_ip: '10.20.4.17' }),
        event({ event_time: '2026-02-28 10:00:00.000', source: 'azure-key-vault', account: AZURE_SUB, region: '', key_id: AZURE_KEY, operation: 'wrap', vendor_operation: 'KeyWrap', principal: 'b1c2d3e4-0000-4000-8000-00000000000b', principal_type: 'application', source_ip: '10.20.4.30' }),
      ],
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/unwrap-sql-tde.json' },
      expect: { alerts: 1, key_id: AZURE_KEY, principal: AZURE_SQL_MI, severity: 'medium', evidenceIncludes: { previous_use: '2026-01-12 10:00:00.000' } },
    },
    {
      name: 'a new AppRole decrypts with a Vault transit key other applications use (audit device response entry)',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-01-05 09:00:00.000', source: 'vault', account: 'root', region: '', key_id: 'transit/orders', operation: 'create_key', vendor_operation: 'update transit/keys', principal: 'userpass-alice', principal_type: 'user' }),
        event({ event_time: '2026-02-26 09:00:00.000', source: 'vault', account: 'root', region: '', key_id: 'transit/orders', operation: 'encrypt', vendor_operation: 'update transit/encrypt', principal: 'approle-billing', principal_type: 'application' }),
      ],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/decrypt-pair.jsonl' },
      expect: { alerts: 1, key_id: 'transit/orders', principal: 'approle-orders-api', severity: 'medium' },
    },
    {
      name: 'an unknown DPoD client fails to verify with a Luna Cloud HSM key (Audit Query API export)',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-01-20 09:00:00.000', source: 'luna-hsm', account: DPOD_SERVICE, region: '', key_id: DPOD_KEY, operation: 'sign', vendor_operation: 'LUNA_SIGN', principal: 'c3e8a1f4-6b2d-4e97-a05c-7d9f1b3e5a68', principal_type: 'application' })],
      records: { format: 'luna-hsm', fixture: 'ingest/luna-hsm/fixtures/dpod-failure.json' },
      expect: { alerts: 1, key_id: DPOD_KEY, principal: '0f6a2d8c-4e1b-4c39-9a75-3b5d7f9e1c24', evidenceIncludes: { failures: 1, error_codes: 'LUNA_RET_BAD_PARAMETER' } },
    },
  ],
  quiet: [
    {
      name: 'the role that decrypted five days ago decrypts again (CloudTrail assumed-role record)',
      now: '2026-03-02T12:00:00Z',
      events: awsHistory(ORDERS_API, '2026-01-20 09:00:00.000', '2026-02-25 09:00:00.000'),
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'a principal last seen 13 days ago, just inside the 14-day window, is not new',
      now: '2026-03-02T12:00:00Z',
      events: [...awsHistory(ORDERS_API, '2026-01-20 09:00:00.000'), ...awsHistory('arn:aws:iam::111122223333:role/reporting', '2026-02-17 09:00:00.000', '2026-03-02 09:00:00.000')],
    },
    {
      name: 'the first users of a key created four days ago are expected (the key has no history before the window)',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-01-02 09:00:00.000', key_id: 'arn:aws:kms:eu-central-1:111122223333:key/00000000-0000-4000-8000-0000000000aa', principal: ORDERS_API }),
        event({ event_time: '2026-02-26 09:00:00.000', key_id: AWS_KEY, operation: 'create_key', principal: 'arn:aws:iam::111122223333:role/platform-admin' }),
      ],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/cross-account-decrypt.json' },
    },
    {
      name: 'a new deployment whose store holds less than 14 days of events waits for history',
      now: '2026-03-02T12:00:00Z',
      events: awsHistory(ORDERS_API, '2026-02-20 09:00:00.000'),
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/cross-account-decrypt.json' },
    },
    {
      name: 'an AWS service decrypting for the customer (s3.amazonaws.com) is a provider caller, not a new principal',
      now: '2026-03-02T12:00:00Z',
      events: awsHistory(ORDERS_API, '2026-01-20 09:00:00.000', '2026-03-01 09:00:00.000'),
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/aws-service-caller.json' },
    },
    {
      name: 'a GCP Decrypt whose caller was redacted (no principal) is not a principal to track',
      now: '2026-03-02T14:00:00Z',
      events: gcpHistory(GCP_ORDERS_API, '2026-01-12 08:00:00.000', '2026-03-01 08:00:00.000'),
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/missing-principal.json' },
    },
    {
      name: 'a new principal that only reads the key (describe, list) has not used it',
      now: '2026-03-02T12:00:00Z',
      events: [
        ...awsHistory(ORDERS_API, '2026-01-20 09:00:00.000'),
        event({ event_time: '2026-03-02 09:00:00.000', key_id: AWS_KEY, operation: 'describe', principal: 'arn:aws:iam::111122223333:user/auditor', principal_type: 'user' }),
      ],
    },
  ],
};
