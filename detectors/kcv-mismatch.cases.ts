import type { DetectorCases } from './cases.ts';

const AWS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/e7b1d3f5-9a2c-4e6b-8d0f-3a5c7e9b1d24';
const AWS_MATERIAL = '2e4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f47';
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';

/** One comparison as the attestation module writes it (keywatch-json; the contract is in kcv-mismatch.ts). */
function comparison(o: { time: string; kcv?: string; provider_kcv?: string; source?: string; operation?: 'describe' | 'other'; vendor_operation?: string; key_id?: string; key_version?: string; outcome?: 'success' | 'failure' }): string {
  const attributes: Record<string, string> = { kcv_method: 'AES-CMAC', hsm_key: '1520001/2044' };
  if (o.kcv !== undefined) attributes.kcv = o.kcv;
  if (o.provider_kcv !== undefined) attributes.provider_kcv = o.provider_kcv;
  const operation = o.operation ?? 'other';
  return JSON.stringify({
    source: o.source ?? 'attestation',
    event_time: o.time,
    account: '111122223333',
    region: 'us-east-1',
    key_id: o.key_id ?? AWS_KEY,
    key_version: o.key_version ?? AWS_MATERIAL,
    operation,
    ...(operation === 'other' ? { operation_class: 'read' } : {}),
    vendor_operation: o.vendor_operation ?? 'KeyCheckValue',
    outcome: o.outcome ?? 'success',
    ...(o.outcome === 'failure' ? { error_code: 'CKR_KEY_HANDLE_INVALID' } : {}),
    principal: 'keywatch-attestation',
    principal_type: 'service_account',
    attributes,
  });
}

export const cases: DetectorCases = {
  fires: [
    {
      name: 'the attestation module finds the AWS imported material\'s KCV differs from the HSM\'s: critical',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T06:00:00Z', kcv: 'A1B2C3', provider_kcv: 'D4E5F6' })] },
      expect: { alerts: 1, key_id: AWS_KEY, principal: 'keywatch-attestation', severity: 'critical', evidenceIncludes: { kcv: 'A1B2C3', provider_kcv: 'D4E5F6', key_version: AWS_MATERIAL } },
    },
    {
      name: 'a PKCS#11 probe\'s KeyCheckValue describe record for a GCP version, values written with separators and in lower case',
      now: '2026-03-03T12:00:00Z',
      records: {
        format: 'keywatch-json',
        lines: [comparison({ time: '2026-03-03T07:00:00Z', source: 'pkcs11-probe', operation: 'describe', key_id: GCP_KEY, key_version: '4', kcv: '0a:1b:2c', provider_kcv: '0A1B2D' })],
      },
      expect: { alerts: 1, key_id: GCP_KEY, severity: 'critical', evidenceIncludes: { key_version: '4' } },
    },
    {
      name: 'a 3-byte KCV against a longer provider check value that starts differently',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T08:00:00Z', vendor_operation: 'CompareKeyCheckValue', kcv: 'A1B2C3', provider_kcv: 'A1B2C4D5E6F70819' })] },
      expect: { alerts: 1, severity: 'critical' },
    },
  ],
  quiet: [
    {
      name: 'matching values',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T06:00:00Z', kcv: 'A1B2C3', provider_kcv: 'A1B2C3' })] },
    },
    {
      name: 'matching values written differently (case, separators)',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T06:00:00Z', kcv: 'a1 b2 c3', provider_kcv: 'A1:B2:C3' })] },
    },
    {
      name: 'a 3-byte KCV that is the start of the provider\'s longer check value',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T06:00:00Z', kcv: 'A1B2C3', provider_kcv: 'A1B2C3D4E5F60718' })] },
    },
    {
      name: 'only the HSM side computed (no provider_kcv): not a comparison',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T06:00:00Z', kcv: 'A1B2C3' })] },
    },
    {
      name: 'a failed KCV computation (the HSM object was not found)',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T06:00:00Z', kcv: 'A1B2C3', provider_kcv: 'D4E5F6', outcome: 'failure' })] },
    },
    {
      name: 'differing values on a record outside the contract (a probe\'s sign-verify record, not a KeyCheckValue comparison)',
      now: '2026-03-03T12:00:00Z',
      records: { format: 'keywatch-json', lines: [comparison({ time: '2026-03-03T06:00:00Z', source: 'pkcs11-probe', vendor_operation: 'C_Sign', kcv: 'A1B2C3', provider_kcv: 'D4E5F6' })] },
    },
  ],
};
