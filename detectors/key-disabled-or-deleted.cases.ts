import { event, type DetectorCases } from './cases.ts';

const KEY = 'projects/acme-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';

export const cases: DetectorCases = {
  fires: [
    {
      name: 'an AWS key disabled and then scheduled for deletion by one user: two alerts, high for the deletion',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-03-02 08:00:00.000', operation: 'disable_key', principal: 'arn:aws:iam::111122223333:user/secops', principal_type: 'user' }),
        event({ event_time: '2026-03-02 08:01:00.000', operation: 'schedule_deletion', principal: 'arn:aws:iam::111122223333:user/secops', principal_type: 'user' }),
      ],
      expect: { alerts: 2, principal: 'arn:aws:iam::111122223333:user/secops' },
    },
    {
      name: 'a GCP version destruction scheduled (DestroyCryptoKeyVersion)',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 09:00:00.000', source: 'gcp-kms', key_id: KEY, key_version: '3', operation: 'schedule_deletion', vendor_operation: 'DestroyCryptoKeyVersion', principal: 'ops@acme.example.com', principal_type: 'user' })],
      expect: { alerts: 1, key_id: KEY, severity: 'high', evidenceIncludes: { vendor_operations: 'DestroyCryptoKeyVersion', key_versions: '3' } },
    },
    {
      name: 'an Azure key purged, from a real-shaped AuditEvent record',
      now: '2026-03-04T00:00:00Z',
      range: { from: '2026-03-03T00:00:00Z', to: '2026-03-04T00:00:00Z' },
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-purge.json' },
      expect: { alerts: 1, severity: 'critical' },
    },
  ],
  quiet: [
    {
      name: 'a failed deletion attempt (AccessDenied) does not fire this detector',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 08:00:00.000', operation: 'schedule_deletion', outcome: 'failure', error_code: 'AccessDeniedException' })],
    },
    {
      name: 'AWS deleting the key at the end of its waiting period (AWS Internal) is not alerted again',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 08:00:00.000', operation: 'destroy_version', vendor_operation: 'DeleteKey', principal: 'AWS Internal', principal_type: 'internal' })],
    },
    {
      name: 'enabling a key and ordinary use do not fire',
      now: '2026-03-02T12:00:00Z',
      events: [event({ event_time: '2026-03-02 08:00:00.000', operation: 'enable_key' }), event({ event_time: '2026-03-02 08:00:01.000' })],
    },
  ],
};
