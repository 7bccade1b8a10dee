import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

// Business hours in these cases are the defaults: 08:00-18:00 UTC, Monday to Friday.
// 2026-03-02 is a Monday, 2026-03-07 a Saturday.
const AWS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
// A store with weeks of history: the detector judges only events after its first baselineDays.
const HISTORY = event({ event_time: '2026-01-05 12:00:00.000', event_id: 'history-start' });
const ROTATOR = 'arn:aws:iam::111122223333:role/key-rotator';
const PLATFORM_ADMIN = 'arn:aws:iam::111122223333:role/platform-admin';
const admin = (operation: KeyEvent['operation'], event_time: string, e: Partial<KeyEvent> = {}) =>
  event({ event_time, key_id: AWS_KEY, region: 'eu-central-1', operation, vendor_operation: operation, principal: PLATFORM_ADMIN, source_ip: '203.0.113.12', ...e });

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
      name: 'a nightly automation doing something it never did at night before: a key disabled by the rotation role at 02:10',
      now: '2026-03-06T06:00:00Z',
      range: { from: '2026-03-05T00:00:00Z', to: '2026-03-06T00:00:00Z' },
      events: [
        HISTORY,
        admin('rotate_key', '2026-03-02 02:05:00.000', { principal: ROTATOR }),
        admin('rotate_key', '2026-03-03 02:05:00.000', { principal: ROTATOR }),
        admin('rotate_key', '2026-03-04 02:05:00.000', { principal: ROTATOR }),
        admin('disable_key', '2026-03-05 02:10:00.000', { principal: ROTATOR }),
      ],
      expect: { alerts: 1, principal: ROTATOR, severity: 'high', evidenceIncludes: { operations: 'disable_key' } },
    },
    {
      name: 'a GCP key made public with SetIamPolicy at 22:47 on a Monday (Admin Activity entry)',
      now: '2026-03-10T06:00:00Z',
      events: [HISTORY],
      records: { format: 'gcp-audit-log', fixture: 'ingest/gcp-kms/fixtures/set-iam-policy-all-users.json' },
      expect: { alerts: 1, principal: 'bob@example.com', severity: 'medium', evidenceIncludes: { operations: 'update_policy', vendor_operations: 'SetIamPolicy', first_local_time: '2026-03-09 22:47:09.381' } },
    },
    {
      name: 'a Vault ACL policy written at 02:41 (audit device response entry)',
      now: '2026-03-03T09:00:00Z',
      events: [HISTORY],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/policy-write.jsonl' },
      expect: { alerts: 1, principal: 'userpass-bob', severity: 'medium', evidenceIncludes: { operation_classes: 'policy' } },
    },
    {
      name: 'a Vault audit device disabled with the root token at 02:03: an administrative operation, high',
      now: '2026-03-03T09:00:00Z',
      events: [HISTORY],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/audit-disable.json' },
      expect: { alerts: 1, principal: 'root', severity: 'high', evidenceIncludes: { operation_classes: 'admin' } },
    },
    {
      name: 'a Vault transit key exported at 23:14: high',
      now: '2026-03-03T06:00:00Z',
      events: [HISTORY],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/export-key.json' },
      expect: { alerts: 1, principal: 'userpass-bob', severity: 'high', evidenceIncludes: { operations: 'export_key', keys: 'transit/orders' } },
    },
    {
      name: 'an Azure key backed up at 23:47 (AuditEvent KeyBackup)',
      now: '2026-03-05T06:00:00Z',
      events: [HISTORY],
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-backup.json' },
      expect: { alerts: 1, principal: 'j.doe@example.com', severity: 'medium', evidenceIncludes: { operations: 'backup_key' } },
    },
    {
      name: 'a CloudHSM user created at 02:41 (HSM audit log; the log names no principal)',
      now: '2026-03-02T09:00:00Z',
      events: [HISTORY],
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/create-user.json' },
      expect: { alerts: 1, principal: '', severity: 'high', evidenceIncludes: { vendor_operations: 'CN_CREATE_USER' } },
    },
    {
      name: 'a key policy change and a scheduled deletion by one role on a Saturday afternoon are one alert, high',
      now: '2026-03-07T18:00:00Z',
      events: [HISTORY, admin('update_policy', '2026-03-07 14:00:00.000', { vendor_operation: 'PutKeyPolicy' }), admin('schedule_deletion', '2026-03-07 14:05:00.000', { vendor_operation: 'ScheduleKeyDeletion' })],
      expect: { alerts: 1, principal: PLATFORM_ADMIN, severity: 'high', evidenceIncludes: { operations: 'schedule_deletion,update_policy', key_count: 1 } },
    },
    {
      name: 'a refused key deletion at 18:00 sharp, the end of business hours, still counts',
      now: '2026-03-02T20:00:00Z',
      events: [HISTORY, admin('schedule_deletion', '2026-03-02 18:00:00.000', { principal: 'arn:aws:iam::111122223333:user/ci-deployer', principal_type: 'user', outcome: 'failure', error_code: 'AccessDeniedException' })],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { failures: 1 } },
    },
  ],
  quiet: [
    {
      name: 'a key deletion at 02:00 in the first week of the store: not judged until baselineDays of history exist',
      now: '2026-03-06T06:00:00Z',
      range: { from: '2026-03-05T00:00:00Z', to: '2026-03-06T00:00:00Z' },
      events: [admin('decrypt', '2026-03-02 12:00:00.000'), admin('schedule_deletion', '2026-03-05 02:00:00.000')],
    },
    {
      name: 'the same nightly rotation job on its fourth night: routine after three earlier nights in the week',
      now: '2026-03-06T06:00:00Z',
      range: { from: '2026-03-05T00:00:00Z', to: '2026-03-06T00:00:00Z' },
      events: [
        HISTORY,
        admin('rotate_key', '2026-03-02 02:05:00.000', { principal: ROTATOR }),
        admin('rotate_key', '2026-03-03 02:05:00.000', { principal: ROTATOR }),
        admin('rotate_key', '2026-03-04 02:05:00.000', { principal: ROTATOR }),
        admin('rotate_key', '2026-03-05 02:05:00.000', { principal: ROTATOR }),
      ],
    },
    {
      name: "a CloudHSM key pair generated at 00:04 and copied to the cluster's other HSM (key entries name no user: an application's work)",
      now: '2026-03-03T09:00:00Z',
      events: [HISTORY],
      records: {
        format: 'aws-cloudhsm',
        lines: [
          ...hsmKeyEntry('2026-03-03T00:04:29Z', 0x40, 'CN_GENERATE_KEY_PAIR (0x19)', 262160),
          ...hsmKeyEntry('2026-03-03T00:04:29Z', 0x41, 'CN_EXTRACT_MASKED_OBJECT_USER (0xf0)', 262160),
          ...hsmKeyEntry('2026-03-03T00:04:30Z', 0x42, 'CN_DESTROY_OBJECT (0x11)', 600123),
        ],
      },
    },
    {
      name: 'Azure Key Vault rotating a key on its schedule at 02:00 (KeyRotateIfDue, the service itself)',
      now: '2026-03-03T09:00:00Z',
      events: [HISTORY],
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/key-rotate-if-due.json' },
    },
    {
      name: 'AWS automatic key rotation at midnight (RotateKey service event)',
      now: '2026-03-03T09:00:00Z',
      events: [HISTORY],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/rotate-key-service-event.json' },
    },
    {
      name: 'a failed Vault userpass login at 03:12 is authentication, not administration',
      now: '2026-03-02T09:00:00Z',
      events: [HISTORY],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/userpass-login-failed.jsonl' },
    },
    {
      name: 'key use at midnight (Vault transit encrypt) is not administration',
      now: '2026-03-02T09:00:00Z',
      events: [HISTORY],
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/response-without-request.json' },
    },
    {
      name: 'a key policy change at 11:02 on a Monday (CloudTrail PutKeyPolicy)',
      now: '2026-03-02T20:00:00Z',
      events: [HISTORY],
      records: { format: 'aws-cloudtrail', fixture: 'ingest/aws-kms/fixtures/put-key-policy-wildcard.json' },
    },
    {
      name: 'changes at 08:00:00 and 17:59:59 on weekdays are inside business hours',
      now: '2026-03-06T20:00:00Z',
      events: [HISTORY, admin('update_policy', '2026-03-06 08:00:00.000'), admin('disable_key', '2026-03-06 17:59:59.999')],
    },
  ],
};
