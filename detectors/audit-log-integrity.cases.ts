import type { DetectorCases } from './cases.ts';

// The cases ingest audit records through the collectors, whose afterIngest writes the
// audit_integrity findings this detector reads; no key_events are inserted by hand.

const p2 = (n: number) => String(n).padStart(2, '0');

/**
 * CloudHSM audit entries in the User Guide's text layout (a login each), numbered as given:
 * [Sequence No, Reboot counter, seconds after 2026-03-02T10:00:00Z]. Written to one file, they
 * are one stream.
 */
function hsmEntries(entries: readonly (readonly [number, number, number])[]): string[] {
  return entries.flatMap(([seq, reboot, at]) => {
    const d = new Date(Date.parse('2026-03-02T10:00:00Z') + at * 1000);
    const us = BigInt(d.getTime()) * 1000n + BigInt(seq % 1000);
    return [
      `Time: ${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCFullYear() % 100)} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.${String(seq % 1000).padStart(6, '0')}, usecs:${us}`,
      `Sequence No : 0x${seq.toString(16)}`,
      `Reboot counter : 0x${reboot.toString(16)}`,
      'Command Type(hex) : CN_MGMT_CMD (0x0)',
      'Opcode : CN_LOGIN (0xd)',
      'Session Handle : 0x7014006',
      'Response : 0:HSM Return: SUCCESS',
      'Log type : MGMT_USER_DETAILS_LOG (2)',
      'User Name : app-cu',
      'User Type : CN_CRYPTO_USER (1)',
      '',
    ];
  });
}

/** Luna audit records (number, time, message) of HSM 1520001, as the appliance's log file writes them. */
const lunaRecords = (numbers: number[]) =>
  numbers.map((n, i) => `${n},03/02/26 10:00:${p2(i)},S/N 1520001 session 30 Access 2147483651:9100 CU(5) operation LUNA_SIGN returned RC_OK(0x00000000) using key handle(2001)`);

const LUNA_GAP_FILE = 'ingest/luna-hsm/fixtures/hsm_1520001_00000002.log';

export const cases: DetectorCases = {
  fires: [
    {
      name: 'Luna records 1882-1883 missing from an audit log file copied off the appliance (real-shaped fixture): high',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'luna-hsm', fixture: LUNA_GAP_FILE },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { kind: 'sequence_gap', source: 'luna-hsm', stream: '1520001', from: '1882', to: '1883', missing: 2 } },
    },
    {
      name: 'two CloudHSM entries (Sequence No 0x12-0x13) missing within one reboot counter: high',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmEntries([[0x10, 0x107, 0], [0x11, 0x107, 1], [0x14, 0x107, 4], [0x15, 0x107, 5]]) },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { kind: 'sequence_gap', source: 'aws-cloudhsm', epoch: '0x107', from: '18', to: '19', missing: 2 } },
    },
    {
      name: '126 CloudHSM entries missing at once: critical',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmEntries([[0x10, 0x107, 0], [0x11, 0x107, 1], [0x90, 0x107, 600]]) },
      expect: { alerts: 1, severity: 'critical', evidenceIncludes: { kind: 'sequence_gap', missing: 126 } },
    },
    {
      name: 'a CloudHSM Sequence No that starts over at 0 without a reboot: critical',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmEntries([[0x30, 0x107, 0], [0x31, 0x107, 1], [0x32, 0x107, 2], [0x0, 0x107, 60], [0x1, 0x107, 61]]) },
      expect: { alerts: 1, severity: 'critical', evidenceIncludes: { kind: 'sequence_reset', from: '50', to: '0' } },
    },
    {
      name: 'a CloudHSM reboot counter lower than the one before it: critical',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmEntries([[0x0, 0x108, 0], [0x1, 0x108, 1], [0x2, 0x108, 2], [0x0, 0x107, 300], [0x1, 0x107, 301]]) },
      expect: { alerts: 1, severity: 'critical', evidenceIncludes: { kind: 'reboot_counter_reset', from: '264', to: '263' } },
    },
    {
      name: 'an explicit run over the day of the Luna gap reports it a week later',
      now: '2026-03-10T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00Z' },
      records: { format: 'luna-hsm', fixture: LUNA_GAP_FILE },
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { stream: '1520001', missing: 2 } },
    },
  ],
  quiet: [
    {
      name: 'CloudHSM entries numbered without gaps across a reboot (the new reboot counter starts again at 0)',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmEntries([[0x40, 0x107, 0], [0x41, 0x107, 1], [0x42, 0x107, 2], [0x0, 0x108, 300], [0x1, 0x108, 301]]) },
    },
    {
      name: 'a CloudHSM stream read from the middle of its first reboot counter (it may start at any number)',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'aws-cloudhsm', lines: hsmEntries([[0x2c0, 0x107, 0], [0x2c1, 0x107, 1], [0x2c2, 0x107, 2]]) },
    },
    {
      name: 'Luna records 1880-1884 all present, even out of order',
      now: '2026-03-02T12:00:00Z',
      records: { format: 'luna-hsm', lines: lunaRecords([1880, 1881, 1883, 1882, 1884]) },
    },
    {
      name: 'a first run does not page on a gap in history older than its look-back (a backfill of last week)',
      now: '2026-03-10T00:00:00Z',
      records: { format: 'luna-hsm', fixture: LUNA_GAP_FILE },
    },
    {
      name: 'an explicit run over a range that ends before the record after the gap',
      now: '2026-03-10T00:00:00Z',
      range: { from: '2026-03-02T00:00:00Z', to: '2026-03-02T10:00:05Z' },
      records: { format: 'luna-hsm', fixture: LUNA_GAP_FILE },
    },
  ],
};
