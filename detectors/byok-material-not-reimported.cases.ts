import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

// Keys of the collectors' golden import fixtures (March 2026).
const AWS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/e7b1d3f5-9a2c-4e6b-8d0f-3a5c7e9b1d24';
const AWS_CREATED = 'arn:aws:kms:eu-central-1:111122223333:key/2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5e68';
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
const AZURE_KEY = 'https://acme-byok-kv.vault.azure.net/keys/hr-cmk';
const CUSTODIAN = 'arn:aws:iam::111122223333:user/key-custodian';

const aws = (e: Partial<KeyEvent> & { event_time: string }) => event({ key_id: AWS_KEY, region: 'us-east-1', ...e });
const awsImport = (event_time: string, import_type: string, key_version: string) =>
  aws({ event_time, operation: 'import_key_material', vendor_operation: 'ImportKeyMaterial', principal: CUSTODIAN, principal_type: 'user', key_version, attributes: { import_type, expiration_model: 'KEY_MATERIAL_DOES_NOT_EXPIRE' } });
const gcp = (e: Partial<KeyEvent> & { event_time: string }) => event({ source: 'gcp-kms', key_id: GCP_KEY, account: 'acme-kms-prod', region: 'europe-west3', principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', principal_type: 'service_account', ...e });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'AWS material imported in March 2026 (ImportKeyMaterial, NEW_KEY_MATERIAL) and still in use in June 2027',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/import-key-material.json' },
      events: [aws({ event_time: '2027-06-01 11:00:00.000', operation: 'generate_data_key', vendor_operation: 'GenerateDataKey' })],
      expect: {
        alerts: 1,
        key_id: AWS_KEY,
        severity: 'medium',
        evidenceIncludes: { import_type: 'NEW_KEY_MATERIAL', imported_by: CUSTODIAN, key_material: '2e4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f47', material_evidence: 'imported' },
      },
    },
    {
      name: 'a GCP key whose newest version was imported (ImportCryptoKeyVersion, version 4) in March 2026',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/import-key-version.json' },
      events: [gcp({ event_time: '2027-06-01 08:00:00.000', operation: 'decrypt', vendor_operation: 'Decrypt' })],
      expect: { alerts: 1, key_id: GCP_KEY, evidenceIncludes: { key_material: '4', imported_by: 'alice@example.com' } },
    },
    {
      name: 'an Azure key imported (KeyImport, RSA-HSM) in March 2026 and unwrapping in June 2027',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-import.json' },
      events: [event({ event_time: '2027-06-01 09:00:00.000', source: 'azure-key-vault', key_id: AZURE_KEY, account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0', region: '', operation: 'unwrap', vendor_operation: 'KeyUnwrap', principal: 'hr-app', principal_type: 'application' })],
      expect: { alerts: 1, key_id: AZURE_KEY, evidenceIncludes: { imported_by: 'kv-admin@example.com' } },
    },
    {
      name: 'an AWS re-import of the same material (EXISTING_KEY_MATERIAL) after it expired does not count as new material',
      now: '2027-06-01T12:00:00Z',
      events: [
        awsImport('2026-01-10 10:00:00.000', 'NEW_KEY_MATERIAL', 'aa11'),
        awsImport('2027-01-10 10:00:00.000', 'EXISTING_KEY_MATERIAL', 'aa11'),
        aws({ event_time: '2027-06-01 11:00:00.000' }),
      ],
      expect: { alerts: 1, evidenceIncludes: { existing_reimports: 1, last_import_time: '2026-01-10 10:00:00.000', import_type: 'NEW_KEY_MATERIAL' } },
    },
    {
      name: 'a Vault transit key created from imported material (transit/keys/<k>/import) 17 months ago',
      now: '2027-06-01T12:00:00Z',
      events: [
        event({ event_time: '2026-01-05 10:00:00.000', source: 'vault', key_id: 'transit/hr', account: 'root', region: '', operation: 'import_key_material', vendor_operation: 'update transit/keys/import', principal: 'userpass-alice', principal_type: 'user' }),
        event({ event_time: '2027-06-01 11:00:00.000', source: 'vault', key_id: 'transit/hr', account: 'root', region: '', operation: 'encrypt', vendor_operation: 'update transit/encrypt', key_version: '1', principal: 'approle-hr', principal_type: 'application' }),
      ],
      expect: { alerts: 1, key_id: 'transit/hr' },
    },
  ],
  quiet: [
    {
      name: 'AWS new material imported three months ago after the March 2026 import',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/import-key-material.json' },
      events: [awsImport('2027-03-01 10:00:00.000', 'NEW_KEY_MATERIAL', 'bb22'), aws({ event_time: '2027-06-01 11:00:00.000' })],
    },
    {
      name: 'AWS material imported 360 days ago: inside the cryptoperiod',
      now: '2027-02-25T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/import-key-material.json' },
      events: [aws({ event_time: '2027-02-25 11:00:00.000' })],
    },
    {
      name: 'an old key with AWS-generated material (CreateKey origin AWS_KMS) is rotation-overdue\'s, not this detector\'s',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/create-key.json' },
      events: [event({ event_time: '2027-06-01 11:00:00.000', key_id: AWS_CREATED, region: 'eu-central-1' })],
    },
    {
      name: 'a GCP key that imported version 4 and later made a generated version 5 primary is no longer BYOK',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/import-key-version.json' },
      events: [
        gcp({ event_time: '2027-05-02 10:00:00.000', operation: 'rotate_key', vendor_operation: 'UpdateCryptoKeyPrimaryVersion', key_version: '5', principal: 'alice@example.com', principal_type: 'user' }),
        gcp({ event_time: '2027-06-01 08:00:00.000', operation: 'decrypt', vendor_operation: 'Decrypt' }),
      ],
    },
    {
      name: 'an overdue imported key being deleted (ScheduleKeyDeletion)',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/import-key-material.json' },
      events: [aws({ event_time: '2027-06-01 11:00:00.000', operation: 'schedule_deletion', vendor_operation: 'ScheduleKeyDeletion', principal: CUSTODIAN, principal_type: 'user' })],
    },
  ],
};
