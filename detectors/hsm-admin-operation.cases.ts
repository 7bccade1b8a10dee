import { event, type DetectorCases } from './cases.ts';

const p2 = (n: number) => String(n).padStart(2, '0');

/** The text of one CloudHSM audit entry (User Guide layout) for a user-management opcode. */
function hsmUserEntry(iso: string, seq: number, opcode: string, user: string, userType: string, response = '0:HSM Return: SUCCESS'): string {
  const d = new Date(iso);
  const us = BigInt(d.getTime()) * 1000n + 7n;
  return [
    `Time: ${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCFullYear() % 100)} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.000007, usecs:${us}`,
    `Sequence No : 0x${seq.toString(16)}`,
    'Reboot counter : 0x107',
    'Command Type(hex) : CN_MGMT_CMD (0x0)',
    `Opcode : ${opcode}`,
    'Session Handle : 0x7014006',
    `Response : ${response}`,
    'Log type : MGMT_USER_DETAILS_LOG (2)',
    `User Name : ${user}`,
    `User Type : ${userType}`,
  ].join('\n');
}

/** A CloudWatch Logs subscription delivery of one entry from one HSM of cluster-a1b2c3d4e5f. */
const delivery = (hsm: string, id: string, iso: string, message: string) =>
  JSON.stringify({
    messageType: 'DATA_MESSAGE',
    owner: '111122223333',
    logGroup: '/aws/cloudhsm/cluster-a1b2c3d4e5f',
    logStream: hsm,
    subscriptionFilters: ['keywatch-to-firehose'],
    logEvents: [{ id, timestamp: Date.parse(iso), message }],
  });

export const cases: DetectorCases = {
  fires: [
    {
      name: 'a CloudHSM crypto user created at night, from a real-shaped subscription delivery: high, naming the cluster and the new user',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/create-user.json' },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { vendor_operation: 'CN_CREATE_USER', place: 'cluster-a1b2c3d4e5f', target: 'night-cu', target_roles: 'CU' } },
    },
    {
      name: 'a CloudHSM crypto officer deleted (real-shaped delivery): high',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/delete-user.json' },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { operation: 'delete_user', target: 'alice', target_roles: 'CO' } },
    },
    {
      name: 'a CloudHSM HSM zeroized (real-shaped delivery): critical',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/zeroize.json' },
      expect: { alerts: 1, severity: 'critical', evidenceIncludes: { vendor_operation: 'CN_ZEROIZE', hsms: 'hsm-v5n8r1t6y2c' } },
    },
    {
      name: 'one crypto officer creation replicated to both HSMs of a cluster is one alert naming both HSMs',
      now: '2026-03-02T12:00:00Z',
      records: {
        format: 'aws-cloudhsm',
        lines: [
          delivery('hsm-q7x2k4m9p3w', '37930000000000000000000000000000000000000000000000990001', '2026-03-02T10:30:00Z', hsmUserEntry('2026-03-02T10:30:00Z', 0x400, 'CN_CREATE_CO (0x4)', 'backup-co', 'CN_CRYPTO_OFFICER (2)')),
          delivery('hsm-v5n8r1t6y2c', '37930000000000000000000000000000000000000000000000990002', '2026-03-02T10:30:00Z', hsmUserEntry('2026-03-02T10:30:00.400Z', 0x120, 'CN_CREATE_CO (0x4)', 'backup-co', 'CN_CRYPTO_OFFICER (2)')),
        ],
      },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { target: 'backup-co', hsms: 'hsm-q7x2k4m9p3w,hsm-v5n8r1t6y2c' } },
    },
    {
      name: 'a CloudHSM user given another role (CN_CHANGE_USER_ROLE), from text audit entries: high',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: [hsmUserEntry('2026-03-02T10:00:00Z', 0x50, 'CN_CHANGE_USER_ROLE (0x9c)', 'app-cu', 'CN_CRYPTO_OFFICER (2)')] },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { operation: 'update_user', target: 'app-cu' } },
    },
    {
      name: 'a Vault file audit device disabled with a root token (real-shaped audit entry): critical',
      now: '2026-03-04T00:00:00Z',
      range: { from: '2026-03-03T00:00:00Z', to: '2026-03-04T00:00:00Z' },
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/audit-disable.json' },
      expect: { alerts: 1, principal: 'root', severity: 'critical', evidenceIncludes: { vendor_operation: 'delete sys/audit', target: 'file', change: 'disable' } },
    },
    {
      name: 'a new Vault auth method enabled (sys/auth): high',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({
          event_time: '2026-03-02 03:10:00.000',
          source: 'vault',
          account: 'root',
          region: '',
          key_id: '',
          operation: 'other',
          operation_class: 'admin',
          vendor_operation: 'update sys/auth',
          principal: 'userpass-ops',
          principal_type: 'user',
          attributes: { path: 'sys/auth/github', auth_path: 'github/', auth_change: 'enable' },
        }),
      ],
      expect: { alerts: 1, principal: 'userpass-ops', severity: 'high', evidenceIncludes: { target: 'github/', change: 'enable' } },
    },
    {
      name: "a Luna crypto officer changing its own PIN (real-shaped syslog record): medium",
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'luna-hsm', fixture: 'ingest/luna-hsm/fixtures/co-role-change.log' },
      expect: { alerts: 1, principal: 'CO', severity: 'medium', evidenceIncludes: { vendor_operation: 'LUNA_SET_PIN', place: '1520001' } },
    },
    {
      name: 'a Luna role initialised by the partition SO (LUNA_INIT_ROLE): high',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'luna-hsm', lines: ['1901,03/02/26 11:00:00,S/N 1520001 session 22 Access 2147483650:4411 SO(1) operation LUNA_INIT_ROLE returned RC_OK(0x00000000)'] },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { operation: 'create_user', vendor_operation: 'LUNA_INIT_ROLE' } },
    },
    {
      name: 'a Luna security officer cloning two key objects off the HSM at night (LUNA_CLONE_AS_SOURCE, RFC 3164 syslog records): high, one alert per key',
      now: '2026-03-02T12:00:00Z',
      records: {
        format: 'luna-hsm',
        lines: [
          '<134>Mar  2 02:40:00 initech-luna-1 luna-audit: 9120,03/02/26 02:40:00,S/N 1530201 session 800 Access 2147483650:66 SO(1) operation LUNA_LOGIN returned RC_OK(0x00000000)',
          '<134>Mar  2 02:40:02 initech-luna-1 luna-audit: 9121,03/02/26 02:40:02,S/N 1530201 session 800 Access 2147483650:66 SO(1) operation LUNA_CLONE_AS_SOURCE returned RC_OK(0x00000000) using key handle(301)',
          '<134>Mar  2 02:40:03 initech-luna-1 luna-audit: 9122,03/02/26 02:40:03,S/N 1530201 session 800 Access 2147483650:66 SO(1) operation LUNA_CLONE_AS_SOURCE returned RC_OK(0x00000000) using key handle(302)',
        ],
      },
      expect: { alerts: 2, principal: 'SO', severity: 'high', evidenceIncludes: { vendor_operation: 'LUNA_CLONE_AS_SOURCE', place: '1530201' } },
    },
    {
      name: 'a Managed HSM security domain downloaded: high',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({
          event_time: '2026-03-02 09:00:00.000',
          source: 'azure-key-vault',
          account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0',
          region: '',
          key_id: '',
          operation: 'other',
          operation_class: 'admin',
          vendor_operation: 'SecurityDomainDownload',
          principal: 'kv-admin@example.com',
          principal_type: 'user',
          attributes: { vault: 'acme-mhsm', vault_type: 'managed_hsm' },
        }),
      ],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { place: 'acme-mhsm' } },
    },
  ],
  quiet: [
    {
      name: 'a Luna crypto officer cloning a new key to the HA partner (synchronisation, key lifecycle) is not administration',
      now: '2026-03-02T12:00:00Z',
      records: {
        format: 'luna-hsm',
        lines: [
          '<134>1 2026-03-02T10:00:00.040Z acme-luna-a luna-audit - - - 48210,03/02/26 10:00:00,S/N 1520101 session 41 Access 2147483650:120 CO(0) operation LUNA_GENERATE_KEY returned RC_OK(0x00000000) using key handle(5001)',
          '<134>1 2026-03-02T10:00:01.040Z acme-luna-a luna-audit - - - 48211,03/02/26 10:00:01,S/N 1520101 session 41 Access 2147483650:120 CO(0) operation LUNA_CLONE_AS_SOURCE returned RC_OK(0x00000000) using key handle(5001)',
        ],
      },
    },
    {
      name: 'a CloudHSM crypto officer logging in (real-shaped delivery) is not an admin operation',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/login-success.json' },
    },
    {
      name: 'a CloudHSM user creation the HSM refused',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: [hsmUserEntry('2026-03-02T10:00:00Z', 0x51, 'CN_CREATE_USER (0x3)', 'shadow-cu', 'CN_CRYPTO_USER (1)', '176:HSM Error: RET_POLICY_MISMATCH')] },
    },
    {
      name: 'a CloudHSM key generated (key lifecycle, not administration), from a real-shaped delivery',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'aws-cloudhsm', fixture: 'ingest/aws-cloudhsm/fixtures/generate-key.json' },
    },
    {
      name: 'Vault audit devices listed and read (sys/audit reads)',
      now: '2026-03-02T12:00:00Z',
      events: [
        event({ event_time: '2026-03-02 09:00:00.000', source: 'vault', account: 'root', key_id: '', operation: 'list', vendor_operation: 'read sys/audit', principal: 'root', principal_type: 'user', attributes: { path: 'sys/audit' } }),
      ],
    },
    {
      name: 'a Managed HSM role assignment (an access-policy change, left to the policy detectors), from a real-shaped record',
      now: '2026-03-03T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'azure-key-vault', fixture: 'ingest/azure-key-vault/fixtures/managed-hsm-role-assignment.json' },
    },
    {
      name: 'a Vault audit device disabled before the explicit range',
      now: '2026-03-05T00:00:00Z',
      range: { from: '2026-03-04T00:00:00Z', to: '2026-03-05T00:00:00Z' },
      records: { format: 'vault', fixture: 'ingest/vault/fixtures/audit-disable.json' },
    },
  ],
};
