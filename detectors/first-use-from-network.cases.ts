import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

// Keys of the collectors' golden fixtures, so that synthetic history joins them.
const AWS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const GCP_SIGN_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/payments-sign';
const AZURE_KEY = 'https://acme-byok-kv.vault.azure.net/keys/sql-tde';
const DPOD_SERVICE = '7d2f4b91-0c3e-4a58-b6d7-e18f2a4c6b03';

const aws = (source_ip: string, ...times: string[]) =>
  times.map((t) => event({ event_time: t, key_id: AWS_KEY, region: 'eu-central-1', principal: 'arn:aws:iam::111122223333:role/orders-api', source_ip }));
const at = (base: Partial<KeyEvent>, source_ip: string, ...times: string[]) => times.map((t) => event({ ...base, event_time: t, source_ip }));

const GCP = { source: 'gcp-kms', account: 'acme-kms-prod', region: 'europe-west3', key_id: GCP_SIGN_KEY, operation: 'sign', vendor_operation: 'AsymmetricSign', principal: 'payments-signer@acme-kms-prod.iam.gserviceaccount.com', principal_type: 'service_account' } as const;
const VAULT = { source: 'vault', account: 'root', region: '', key_id: 'crypto/payments/card-pan', operation: 'decrypt', vendor_operation: 'update transit/decrypt', principal: 'approle-card-tokenizer', principal_type: 'application' } as const;
const AZURE = { source: 'azure-key-vault', account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0', region: '', key_id: AZURE_KEY, operation: 'unwrap', vendor_operation: 'KeyUnwrap', principal: '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d', principal_type: 'application' } as const;
const DPOD = { source: 'luna-hsm', account: DPOD_SERVICE, region: '', key_id: `${DPOD_SERVICE}/33010000410000008b6e0400`, operation: 'verify', vendor_operation: 'LUNA_VERIFY', principal: '0f6a2d8c-4e1b-4c39-9a75-3b5d7f9e1c24', principal_type: 'application' } as const;

export const cases: DetectorCases = {
  fires: [
    {
      name: 'an AWS key used from private addresses for weeks is called from a public /24 (CloudTrail assumed-role record)',
      now: '2026-03-02T12:00:00Z',
      events: aws('10.20.7.88', '2026-01-15 09:00:00.000', '2026-02-28 09:00:00.000'),
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
      expect: { alerts: 1, key_id: AWS_KEY, principal: 'arn:aws:iam::111122223333:role/orders-api', severity: 'medium', evidenceIncludes: { network: '198.51.100.0/24', private_network: false } },
    },
    {
      name: 'a GCP signing key is used from another IPv6 /48 (Data Access AsymmetricSign entry)',
      now: '2026-03-02T12:00:00Z',
      events: at(GCP, '2001:db8:4b::10', '2026-01-10 09:00:00.000', '2026-03-01 09:00:00.000'),
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/asymmetric-sign-version.json' },
      expect: { alerts: 1, key_id: GCP_SIGN_KEY, evidenceIncludes: { network: '2001:db8:4a::/48', source_ips: '2001:db8:4a::17' } },
    },
    {
      name: 'a Vault transit key is used from a new private subnet (audit device record): low severity',
      now: '2026-03-02T12:00:00Z',
      events: at(VAULT, '10.40.2.9', '2026-01-20 09:00:00.000', '2026-03-01 09:00:00.000'),
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/custom-transit-mount.json' },
      expect: { alerts: 1, key_id: 'crypto/payments/card-pan', severity: 'low', evidenceIncludes: { network: '10.40.5.0/24', private_network: true } },
    },
    {
      name: 'a refused KeyUnwrap on an Azure key from a public address it was never used from (AuditEvent record)',
      now: '2026-03-02T12:00:00Z',
      events: at(AZURE, '10.20.4.17', '2026-01-20 09:00:00.000', '2026-03-01 09:00:00.000'),
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/unwrap-forbidden.json' },
      expect: { alerts: 1, key_id: AZURE_KEY, severity: 'medium', evidenceIncludes: { network: '203.0.113.0/24', failures: 1 } },
    },
    {
      name: 'a Luna Cloud HSM key is used from a new client network (DPoD audit export)',
      now: '2026-03-02T12:00:00Z',
      events: at(DPOD, '198.51.100.23', '2026-01-20 09:00:00.000', '2026-02-27 09:00:00.000'),
      records: { format: 'luna-hsm', fixture: 'ingest/luna-hsm/fixtures/dpod-failure.json' },
      expect: { alerts: 1, evidenceIncludes: { network: '203.0.113.0/24' } },
    },
    {
      name: 'a network last used three weeks ago, before the window, counts as new again; the earlier use is in the evidence',
      now: '2026-03-02T12:00:00Z',
      events: [...aws('10.20.7.88', '2026-01-15 09:00:00.000', '2026-03-01 09:00:00.000'), ...aws('198.51.100.77', '2026-02-09 09:00:00.000')],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
      expect: { alerts: 1, evidenceIncludes: { network: '198.51.100.0/24', previous_use_from_network: '2026-02-09 09:00:00.000' } },
    },
  ],
  quiet: [
    {
      name: 'another host of a /24 the key was used from five days ago',
      now: '2026-03-02T12:00:00Z',
      events: [...aws('10.20.7.88', '2026-01-15 09:00:00.000'), ...aws('198.51.100.200', '2026-02-25 09:00:00.000')],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'another IPv6 address in the same /48',
      now: '2026-03-02T12:00:00Z',
      events: at(GCP, '2001:db8:4a:ff::1', '2026-01-10 09:00:00.000', '2026-03-01 09:00:00.000'),
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/asymmetric-sign-version.json' },
    },
    {
      name: 'an IPv4-mapped IPv6 address is the same network as its IPv4 address',
      now: '2026-03-02T12:00:00Z',
      events: [...aws('10.20.7.88', '2026-01-15 09:00:00.000'), ...aws('::ffff:198.51.100.40', '2026-02-28 09:00:00.000')],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'an AWS service calling for the customer has no caller address',
      now: '2026-03-02T12:00:00Z',
      events: aws('10.20.7.88', '2026-01-15 09:00:00.000', '2026-03-01 09:00:00.000'),
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/aws-service-caller.json' },
    },
    {
      name: 'a key whose crypto use from known addresses began inside the window has no usual network yet (its creation weeks earlier does not count)',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-01-10 09:00:00.000', key_id: AWS_KEY, region: 'eu-central-1', operation: 'create_key', principal: 'arn:aws:iam::111122223333:role/platform-admin', source_ip: '203.0.113.12' }),
        ...aws('10.20.7.88', '2026-02-25 09:00:00.000'),
      ],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/decrypt-assumed-role.json' },
    },
    {
      name: 'a CloudHSM wrap has no caller address in the HSM audit log',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-01-15 09:00:00.000', source: 'aws-cloudhsm', account: '', region: '', key_id: 'cluster-a1b2c3d4e5f/7', operation: 'wrap', vendor_operation: 'CN_WRAP_KEY', principal: '', principal_type: 'unknown', source_ip: '' })],
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/wrap-key.json' },
    },
  ],
};
