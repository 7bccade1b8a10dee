import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

// Keys of the collectors' golden fixtures (ingest/<source>/fixtures), all from March 2026.
const AWS_CREATED = 'arn:aws:kms:eu-central-1:111122223333:key/2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5e68';
const AWS_ROTATED = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const AWS_IMPORTED = 'arn:aws:kms:us-east-1:111122223333:key/e7b1d3f5-9a2c-4e6b-8d0f-3a5c7e9b1d24';
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
const AZURE_KEY = 'https://acme-byok-kv.vault.azure.net/keys/storage-cmk';
const LUNA_KEY = '1520001/2044';

const use = (key_id: string, event_time: string, more: Partial<KeyEvent> = {}) => event({ ...more, key_id, event_time });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'an AWS key created (CreateKey) in March 2026 and still used in June 2027, never rotated: 456 days against 365',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/create-key.json' },
      events: [use(AWS_CREATED, '2027-06-01 11:00:00.000', { region: 'eu-central-1' })],
      expect: { alerts: 1, key_id: AWS_CREATED, severity: 'medium', evidenceIncludes: { last_evidence: 'created', cryptoperiod_days: 365, age_is_lower_bound: false } },
    },
    {
      name: 'an AWS key whose last automatic rotation (RotateKey service event by AWS Internal) is more than twice the cryptoperiod ago: high',
      now: '2028-04-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/rotate-key-service-event.json' },
      events: [use(AWS_ROTATED, '2028-04-01 10:00:00.000', { region: 'eu-central-1' })],
      expect: { alerts: 1, key_id: AWS_ROTATED, severity: 'high', evidenceIncludes: { last_evidence: 'rotated', last_evidence_operation: 'RotateKey' } },
    },
    {
      name: 'AWS rotation enabled (EnableKeyRotation, 180 days) but no RotateKey in the log for 15 months: the age from first sight is a lower bound',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/enable-key-rotation.json' },
      events: [use(AWS_ROTATED, '2027-06-01 09:00:00.000', { region: 'eu-central-1' })],
      expect: { alerts: 1, key_id: AWS_ROTATED, evidenceIncludes: { last_evidence: 'first_seen', age_is_lower_bound: true, rotation_state: 'enabled', rotation_period_days: 180 } },
    },
    {
      name: 'a GCP key whose primary version last changed (UpdateCryptoKeyPrimaryVersion) in March 2026, decrypted in June 2027',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/primary-version-change.json' },
      events: [use(GCP_KEY, '2027-06-01 08:00:00.000', { source: 'gcp-kms', account: 'acme-kms-prod', region: 'europe-west3', principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', principal_type: 'service_account' })],
      expect: { alerts: 1, key_id: GCP_KEY, evidenceIncludes: { last_evidence: 'rotated', key_version: '3' } },
    },
    {
      name: 'an Azure key last rotated by Key Vault itself (KeyRotateIfDue) in March 2026 and unwrapped in June 2027',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-rotate-if-due.json' },
      events: [use(AZURE_KEY, '2027-06-01 10:30:00.000', { source: 'azure-key-vault', operation: 'unwrap', vendor_operation: 'KeyUnwrap', account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0', region: '', principal: 'sql-tde-app', principal_type: 'application' })],
      expect: { alerts: 1, key_id: AZURE_KEY, evidenceIncludes: { last_evidence: 'rotated', last_evidence_operation: 'KeyRotateIfDue' } },
    },
    {
      name: 'a Vault transit key rotated by hand in March 2026 (transit/keys/orders/rotate) and still encrypting in June 2027',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/rotate.json' },
      events: [use('transit/orders', '2027-06-01 11:00:00.000', { source: 'vault', operation: 'encrypt', vendor_operation: 'update transit/encrypt', account: 'root', region: '', key_version: '5', principal: 'approle-orders-api', principal_type: 'application' })],
      expect: { alerts: 1, key_id: 'transit/orders', evidenceIncludes: { last_evidence: 'rotated', key_version: '5' } },
    },
    {
      name: 'a Luna HSM key generated in March 2026 (LUNA_GENERATE_KEY) and still signing in June 2027: HSM keys only age',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'luna-hsm', fixture: 'ingest/luna-hsm/fixtures/generate-key.log' },
      events: [use(LUNA_KEY, '2027-06-01 11:00:00.000', { source: 'luna-hsm', operation: 'sign', vendor_operation: 'LUNA_SIGN', account: '1520001', region: '', principal: 'CU', principal_type: 'hsm_user' })],
      expect: { alerts: 1, key_id: LUNA_KEY, evidenceIncludes: { last_evidence: 'created', source: 'luna-hsm' } },
    },
    {
      name: 'a key with no creation or rotation in the store, first seen 13 months ago and used today: age is a lower bound',
      now: '2027-06-01T12:00:00Z',
      events: [use(AWS_CREATED, '2026-05-01 00:00:00.000'), use(AWS_CREATED, '2027-06-01 11:59:00.000')],
      expect: { alerts: 1, evidenceIncludes: { last_evidence: 'first_seen', age_is_lower_bound: true } },
    },
  ],
  quiet: [
    {
      name: 'an AWS key rotated by AWS 363 days ago: just inside the cryptoperiod',
      now: '2027-03-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/rotate-key-service-event.json' },
      events: [use(AWS_ROTATED, '2027-03-01 11:00:00.000', { region: 'eu-central-1' })],
    },
    {
      name: 'an overdue key last used 47 days before the end of the examined range is retired, not overdue',
      now: '2027-06-01T00:00:00Z',
      range: { from: '2027-04-01T00:00:00Z', to: '2027-06-01T00:00:00Z' },
      events: [use(AWS_CREATED, '2025-01-01 00:00:00.000', { operation: 'create_key', vendor_operation: 'CreateKey' }), use(AWS_CREATED, '2027-04-15 00:00:00.000')],
    },
    {
      name: 'an overdue key scheduled for deletion (ScheduleKeyDeletion) is not evaluated',
      now: '2027-06-01T00:00:00Z',
      events: [
        use(AWS_CREATED, '2025-01-01 00:00:00.000', { operation: 'create_key', vendor_operation: 'CreateKey' }),
        use(AWS_CREATED, '2027-05-31 10:00:00.000'),
        use(AWS_CREATED, '2027-05-31 11:00:00.000', { operation: 'schedule_deletion', vendor_operation: 'ScheduleKeyDeletion', principal: 'arn:aws:iam::111122223333:user/secops', principal_type: 'user' }),
      ],
    },
    {
      name: 'imported AWS key material (ImportKeyMaterial, BYOK) is left to byok-material-not-reimported',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/import-key-material.json' },
      events: [use(AWS_IMPORTED, '2027-06-01 11:00:00.000', { region: 'us-east-1' })],
    },
    {
      name: 'a GCP key with a 90-day rotation schedule (UpdateCryptoKey rotationPeriod, nextRotationTime): Cloud KMS rotated it on schedule without a log entry',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/update-rotation-period.json' },
      events: [use(GCP_KEY, '2027-06-01 08:00:00.000', { source: 'gcp-kms', account: 'acme-kms-prod', region: 'europe-west3' })],
    },
    {
      name: 'a Vault key with auto_rotate_period 720h set through transit/keys/orders/config: Vault rotates it every 30 days',
      now: '2027-06-01T12:00:00Z',
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/keys-config-auto-rotate.jsonl' },
      events: [use('transit/orders', '2027-06-01 11:00:00.000', { source: 'vault', operation: 'encrypt', account: 'root', region: '' })],
    },
  ],
};
