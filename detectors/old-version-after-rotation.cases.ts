import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
const AWS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const AWS_PREVIOUS = '3f1d9b7c5a3e1f0d8b6c4a2e0f9d7b5c3a1e8f6d4b2c0a9e7f5d3b1c9a8e6f40';
const AZURE_KEY = 'https://acme-byok-kv.vault.azure.net/keys/storage-cmk';
const AZURE_OLD = '0f9e8d7c6b5a49382716a5b4c3d2e1f0';

/**
 * A Vault transit response entry laid out like ingest/vault/fixtures/datakey.json and rotate.json
 * (the response entry is the event; request and response data values are HMAC'd, numbers are not).
 */
function vault(time: string, id: string, endpoint: 'rotate' | 'datakey' | 'decrypt', data: Record<string, unknown>): string {
  const admin = endpoint === 'rotate';
  const path = endpoint === 'rotate' ? 'transit/keys/orders/rotate' : endpoint === 'datakey' ? 'transit/datakey/wrapped/orders' : 'transit/decrypt/orders';
  return JSON.stringify({
    time,
    type: 'response',
    auth: {
      client_token: 'hmac-sha256:a189ce5c7bcb19f8e04714aa04fdd5feedb6f5ddec0a035171ed09ba61ba3fb4',
      accessor: 'hmac-sha256:d40e1af0f373a6ee38aad246dcac7dca8393b9efd41709ea1558ae6f3264bdfb',
      display_name: admin ? 'userpass-alice' : 'approle',
      policies: ['default', admin ? 'transit-admin' : 'orders-transit'],
      token_policies: ['default', admin ? 'transit-admin' : 'orders-transit'],
      metadata: admin ? { username: 'alice' } : { role_name: 'orders-api' },
      entity_id: admin ? '4b8f2a61-0c3d-4e7a-9f15-6a2c8e0d3b77' : '7d2e9c41-5b3a-4f8e-a1c6-0e4b9d2f7a13',
      token_type: 'service',
      token_ttl: 3600,
      token_issue_time: '2026-03-02T07:58:11Z',
      policy_results: { allowed: true, granting_policies: [{ name: admin ? 'transit-admin' : 'orders-transit', namespace_id: 'root', type: 'acl' }] },
    },
    request: {
      id,
      operation: 'update',
      mount_point: 'transit/',
      mount_type: 'transit',
      mount_accessor: 'transit_5e2c1a9b',
      mount_running_version: 'v1.19.3+builtin',
      mount_class: 'secret',
      namespace: { id: 'root' },
      path,
      ...(endpoint === 'rotate' ? {} : { data: { context: 'hmac-sha256:7a1483d115736f337deba8a52df4dd63b185bc570fad5c9c077bd12c4d2da305' } }),
      remote_address: admin ? '192.0.2.10' : '10.40.2.10',
      remote_port: 53990,
    },
    response: { mount_point: 'transit/', mount_type: 'transit', mount_accessor: 'transit_5e2c1a9b', mount_class: 'secret', data },
  });
}

const ROTATE_TO_5 = vault('2026-03-02T09:00:00.123456Z', 'df50f89a-09b4-48cf-a4ed-7b4f1ba3b497', 'rotate', { type: 'aes256-gcm96', name: 'orders', latest_version: 5, min_decryption_version: 1, min_encryption_version: 0 });
const datakey = (time: string, id: string, version: number) => vault(time, id, 'datakey', { ciphertext: 'hmac-sha256:954c6ed1c5acdbc9db8d442ab6a69b359ce0e6115300569ca528f9e1a550b5d8', key_version: version });

const gcp = (e: Partial<KeyEvent> & { event_time: string }) => event({ source: 'gcp-kms', key_id: GCP_KEY, account: 'acme-kms-prod', region: 'europe-west3', principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', principal_type: 'service_account', ...e });
const azureWrap = (event_time: string, key_version: string, operation: 'wrap' | 'unwrap' = 'wrap') =>
  event({ event_time, source: 'azure-key-vault', key_id: AZURE_KEY, key_version, account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0', region: '', operation, vendor_operation: operation === 'wrap' ? 'KeyWrap' : 'KeyUnwrap', principal: 'storage-account-acme', principal_type: 'application' });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'a Vault client still generating data keys with version 4 six hours after transit/keys/orders/rotate made version 5 current',
      now: '2026-03-02T18:00:00Z',
      records: { format: 'vault', lines: [ROTATE_TO_5, datakey('2026-03-02T15:30:12.5Z', '0b6e4c1a-7d35-4f2e-9a81-5c3d7e9f1b24', 4)] },
      expect: { alerts: 1, key_id: 'transit/orders', principal: 'approle-orders-api', severity: 'low', evidenceIncludes: { old_version: '4', current_version: '5', rotation_operation: 'update transit/keys/rotate' } },
    },
    {
      name: 'a GCP client encrypting with cryptoKeyVersions/2 a day after UpdateCryptoKeyPrimaryVersion made version 3 primary',
      now: '2026-03-06T12:00:00Z',
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/primary-version-change.json' },
      events: [gcp({ event_time: '2026-03-06 09:00:00.000', operation: 'encrypt', vendor_operation: 'Encrypt', key_version: '2' })],
      expect: { alerts: 1, key_id: GCP_KEY, evidenceIncludes: { old_version: '2', current_version: '3' } },
    },
    {
      name: 'an AWS key material id that the RotateKey service event named as previous, still generating data keys a week later: medium',
      now: '2026-03-11T12:00:00Z',
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/rotate-key-service-event.json' },
      events: [event({ event_time: '2026-03-11 08:00:00.000', key_id: AWS_KEY, region: 'eu-central-1', operation: 'generate_data_key', vendor_operation: 'GenerateDataKey', key_version: AWS_PREVIOUS })],
      expect: { alerts: 1, key_id: AWS_KEY, severity: 'medium', evidenceIncludes: { old_version: AWS_PREVIOUS } },
    },
    {
      name: 'an Azure client wrapping with a versioned key URI that Key Vault\'s scheduled rotation (KeyRotateIfDue) replaced',
      now: '2026-03-03T18:00:00Z',
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-rotate-if-due.json' },
      events: [azureWrap('2026-03-02 10:00:00.000', AZURE_OLD), azureWrap('2026-03-03 12:00:00.000', AZURE_OLD)],
      expect: { alerts: 1, key_id: AZURE_KEY, principal: 'storage-account-acme', evidenceIncludes: { old_version: AZURE_OLD, current_version: '1a2b3c4d5e6f708192a3b4c5d6e7f809' } },
    },
  ],
  quiet: [
    {
      name: 'decrypting with version 4 after the rotation to 5 is expected',
      now: '2026-03-02T18:00:00Z',
      records: { format: 'vault', lines: [ROTATE_TO_5, vault('2026-03-02T15:30:12.5Z', '5d1f3b7e-2a4c-4e6f-8b0d-9c1e3f5a7b92', 'decrypt', { plaintext: 'hmac-sha256:0c4e', key_version: 4 })] },
    },
    {
      name: 'a data key under version 4 an hour after the rotation: inside the propagation grace',
      now: '2026-03-02T18:00:00Z',
      records: { format: 'vault', lines: [ROTATE_TO_5, datakey('2026-03-02T10:00:12.5Z', '0b6e4c1a-7d35-4f2e-9a81-5c3d7e9f1b24', 4)] },
    },
    {
      name: 'data keys under the current version 5, and under version 6 from a rotation the log did not record',
      now: '2026-03-02T18:00:00Z',
      records: { format: 'vault', lines: [ROTATE_TO_5, datakey('2026-03-02T15:30:12.5Z', '0b6e4c1a-7d35-4f2e-9a81-5c3d7e9f1b24', 5), datakey('2026-03-02T16:30:12.5Z', '6a8c0e2f-4b6d-4f8a-9c1e-3d5f7b9a1c35', 6)] },
    },
    {
      name: 'the fixtures as logged: a data key under version 4 half an hour before the rotation to 5',
      now: '2026-03-02T18:00:00Z',
      records: { format: 'vault', lines: [datakey('2026-03-02T08:30:12.5Z', 'f31da2ce-88b1-479a-a0b1-39b6312b8b3d', 4), ROTATE_TO_5] },
    },
    {
      name: 'an Azure version id first seen after the logged rotation is a newer version, not an old one',
      now: '2026-03-03T18:00:00Z',
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-rotate-if-due.json' },
      events: [azureWrap('2026-03-03 12:00:00.000', '9a8b7c6d5e4f30211203f4e5d6c7b8a9'), azureWrap('2026-03-03 12:05:00.000', AZURE_OLD, 'unwrap')],
    },
  ],
};
