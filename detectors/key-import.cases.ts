import { event, type DetectorCases } from './cases.ts';

const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';

/** A GCP ImportCryptoKeyVersion by `principal`, failed with FAILED_PRECONDITION unless `ok`. */
const gcpImport = (event_time: string, principal: string, ok = false) =>
  event({
    event_time,
    source: 'gcp-kms',
    account: 'acme-kms-prod',
    region: 'europe-west3',
    key_id: GCP_KEY,
    operation: 'import_key_material',
    vendor_operation: 'ImportCryptoKeyVersion',
    principal,
    principal_type: 'user',
    ...(ok ? {} : { outcome: 'failure' as const, error_code: 'FAILED_PRECONDITION' }),
    attributes: { import_job: 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/importJobs/byok-2026-03', log_type: 'activity' },
  });

/** One CloudHSM audit entry in the text layout of the User Guide, for a key opcode. */
function hsmKeyEntry(iso: string, seq: number, opcode: string, handle: number): string[] {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  const us = BigInt(d.getTime()) * 1000n + 1n;
  return [
    `Time: ${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.000001, usecs:${us}`,
    `Sequence No : 0x${seq.toString(16)}`,
    'Reboot counter : 0x107',
    'Command Type(hex) : CN_MGMT_CMD (0x0)',
    `Opcode : ${opcode}`,
    'Session Handle : 0xc008004',
    'Response : 0:HSM Return: SUCCESS',
    'Log type : MGMT_KEY_DETAILS_LOG (1)',
    `Priv/Secret Key Handle : ${handle}`,
    'Public Key Handle : 0',
    '',
  ];
}

export const cases: DetectorCases = {
  fires: [
    {
      name: 'AWS ImportKeyMaterial from a real-shaped CloudTrail record: low, with its validTo as evidence',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/import-key-material.json' },
      expect: { alerts: 1, principal: 'arn:aws:iam::111122223333:user/key-custodian', severity: 'low', evidenceIncludes: { outcome: 'success', valid_to: 'Mar 2, 2027, 12:00:00 AM', import_types: 'NEW_KEY_MATERIAL' } },
    },
    {
      name: 'GCP ImportCryptoKeyVersion from a real-shaped Admin Activity entry: low, naming the version and import job',
      now: '2026-03-09T00:00:00Z',
      range: { from: '2026-03-08T00:00:00Z', to: '2026-03-09T00:00:00Z' },
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/import-key-version.json' },
      expect: { alerts: 1, key_id: GCP_KEY, principal: 'alice@example.com', severity: 'low', evidenceIncludes: { key_versions: '4', import_jobs: 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/importJobs/byok-2026-03' } },
    },
    {
      name: 'Azure Key Vault KeyImport from a real-shaped AuditEvent record: low',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-import.json' },
      expect: { alerts: 1, key_id: 'https://acme-byok-kv.vault.azure.net/keys/hr-cmk', principal: 'kv-admin@example.com', severity: 'low' },
    },
    {
      name: 'a Vault transit key imported (keys/<k>/import) by a userpass custodian: low',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({
          event_time: '2026-03-02 10:15:00.000',
          source: 'vault',
          account: 'root',
          region: '',
          key_id: 'transit/payments',
          operation: 'import_key_material',
          vendor_operation: 'update transit/keys/import',
          principal: 'userpass-custodian',
          principal_type: 'user',
          attributes: { path: 'transit/keys/payments/import', mount_type: 'transit', auth_method: 'userpass' },
        }),
      ],
      expect: { alerts: 1, key_id: 'transit/payments', severity: 'low', evidenceIncludes: { vendor_operations: 'update transit/keys/import', sources: 'vault' } },
    },
    {
      name: 'a key object created in the clear in CloudHSM (CN_CREATE_OBJECT), from text audit entries: low',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmKeyEntry('2026-03-02T10:00:00Z', 0x40, 'CN_CREATE_OBJECT (0x13)', 262160) },
      expect: { alerts: 1, severity: 'low', evidenceIncludes: { vendor_operations: 'CN_CREATE_OBJECT', sources: 'aws-cloudhsm' } },
    },
    {
      name: 'one failed AWS import with an expired import token: medium',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 10:00:00.000', operation: 'import_key_material', vendor_operation: 'ImportKeyMaterial', outcome: 'failure', error_code: 'ExpiredImportTokenException' })],
      expect: { alerts: 1, severity: 'medium', evidenceIncludes: { outcome: 'failure', error_codes: 'ExpiredImportTokenException', failures_in_hour: 1 } },
    },
    {
      name: 'three failed GCP imports of one key by one principal within 40 minutes: high',
      now: '2026-03-02T12:00:00Z',
      events: [gcpImport('2026-03-02 10:05:00.000', 'mallory@example.com'), gcpImport('2026-03-02 10:20:00.000', 'mallory@example.com'), gcpImport('2026-03-02 10:45:00.000', 'mallory@example.com')],
      expect: { alerts: 1, principal: 'mallory@example.com', severity: 'high', evidenceIncludes: { failures_in_hour: 3, error_codes: 'FAILED_PRECONDITION' } },
    },
    {
      name: 'a burst that straddles the start of the scope counts the stored failures before it: one high alert for the failure in scope',
      now: '2026-03-02T12:00:00Z',
      events: [gcpImport('2026-03-01 11:40:00.000', 'mallory@example.com'), gcpImport('2026-03-01 11:50:00.000', 'mallory@example.com'), gcpImport('2026-03-01 12:05:00.000', 'mallory@example.com')],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { imports: 1, failures_in_hour: 3 } },
    },
    {
      name: 'failed imports spread over more than an hour (two in one hour, one 70 minutes after the first) stay medium',
      now: '2026-03-02T12:00:00Z',
      events: [gcpImport('2026-03-02 10:00:00.000', 'mallory@example.com'), gcpImport('2026-03-02 10:30:00.000', 'mallory@example.com'), gcpImport('2026-03-02 11:10:00.000', 'mallory@example.com')],
      expect: { alerts: 2, severity: 'medium', evidenceIncludes: { failures_in_hour: 2 } },
    },
  ],
  quiet: [
    {
      name: "CloudHSM's own copy of a new key to the cluster's other HSMs (CN_INSERT_MASKED_OBJECT_USER) is not an import",
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmKeyEntry('2026-03-02T10:00:00Z', 0x41, 'CN_INSERT_MASKED_OBJECT_USER (0xf1)', 262152) },
    },
    {
      name: 'a GCP import job created (preparation, no material imported yet), from a real-shaped entry',
      now: '2026-03-09T00:00:00Z',
      range: { from: '2026-03-08T00:00:00Z', to: '2026-03-09T00:00:00Z' },
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/create-import-job.json' },
    },
    {
      name: 'AWS GetParametersForImport (fetching the wrapping key and import token) is not an import',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 10:00:00.000', operation: 'other', operation_class: 'lifecycle', vendor_operation: 'GetParametersForImport', principal: 'arn:aws:iam::111122223333:user/key-custodian', principal_type: 'user' })],
    },
    {
      name: 'a Vault transit key exported (byok-export: material leaving, not arriving) is not an import',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({
          event_time: '2026-03-02 10:15:00.000',
          source: 'vault',
          account: 'root',
          region: '',
          key_id: 'transit/payments',
          operation: 'export_key',
          vendor_operation: 'update transit/byok-export',
          principal: 'userpass-custodian',
          principal_type: 'user',
        }),
      ],
    },
    {
      name: 'an import that happened before the explicit range',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      events: [gcpImport('2026-03-01 23:59:59.000', 'alice@example.com', true)],
    },
  ],
};
