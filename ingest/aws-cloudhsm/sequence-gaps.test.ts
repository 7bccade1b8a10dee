import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { ingest, type IngestOptions, type IngestSummary } from '../pipeline.ts';
import { openInput } from '../transports/file.ts';
import { findSequenceGaps } from './sequence-gaps.ts';

// Each scenario writes text exports named by their HSM (the stream), ingests them through the
// pipeline (which runs the collector's afterIngest) and reads audit_integrity back.

let store: Store;
let dir: string;
let files = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-cloudhsm-gaps-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface E {
  seq: number;
  reboot?: number;
  /** Seconds after 2026-03-02T10:00:00Z. */
  at: number;
}

const BASE_US = BigInt(Date.parse('2026-03-02T10:00:00Z')) * 1000n;

function entry(e: E): string {
  const us = BASE_US + BigInt(e.at) * 1_000_000n;
  const d = new Date(Number(us / 1000n));
  const p = (n: number) => String(n).padStart(2, '0');
  return [
    `Time: ${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.000000, usecs:${us}`,
    `Sequence No : 0x${e.seq.toString(16)}`,
    `Reboot counter : 0x${(e.reboot ?? 0x107).toString(16)}`,
    'Command Type(hex) : CN_MGMT_CMD (0x0)',
    'Opcode : CN_LOGIN (0xd)',
    'Session Handle : 0x7014006',
    'Response : 0:HSM Return: SUCCESS',
    'Log type : MGMT_USER_DETAILS_LOG (2)',
    'User Name : app-cu',
    'User Type : CN_CRYPTO_USER (1)',
  ].join('\n');
}

const seqs = (from: number, to: number, reboot = 0x107, at = 0): E[] => Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, reboot, at: at + from + i }));

/** Writes a text export of one HSM's entries; returns its path. */
function writeEntries(hsm: string, entries: E[]): string {
  const path = join(dir, `${files++}-cluster-gaptest1-${hsm}.log`);
  writeFileSync(path, entries.map(entry).join('\n') + '\n');
  return path;
}

const ingestOptions = (now = '2026-11-29T00:00:00.000Z'): IngestOptions => ({
  store,
  clock: fixedClock(now),
  format: 'aws-cloudhsm',
  tenants: { 'cluster-gaptest1': 'globex' },
  defaultTenant: 'default',
  batchBytes: 8 << 20,
  maxRecordBytes: 1 << 20,
});

async function ingestEntries(hsm: string, entries: E[], now?: string): Promise<IngestSummary> {
  return ingest([openInput(writeEntries(hsm, entries))], ingestOptions(now));
}

interface Row {
  tenant: string;
  kind: string;
  epoch: string;
  from_position: string;
  to_position: string;
  missing: string;
  before_event_id: string;
  after_event_id: string;
  detail: string;
}

const findings = (stream: string) =>
  store.query<Row>(
    `SELECT tenant, kind, epoch, toString(from_position) AS from_position, toString(to_position) AS to_position, toString(missing) AS missing,
       before_event_id, after_event_id, detail
     FROM audit_integrity FINAL WHERE source = 'aws-cloudhsm' AND stream = {s:String} ORDER BY kind, from_position`,
    { s: stream },
  );

const rawCount = async (stream: string) => Number((await store.query<{ n: string }>(`SELECT count() AS n FROM audit_integrity WHERE stream = {s:String}`, { s: stream }))[0]?.n);

const id = (hsm: string, e: E) => `cloudhsm:${hsm}:0x${(e.reboot ?? 0x107).toString(16)}:0x${e.seq.toString(16)}:${BASE_US + BigInt(e.at) * 1_000_000n}`;

describe('CloudHSM sequence checks', () => {
  it('finds a gap between two ingests and records it once, however often it is found again', async () => {
    const hsm = 'hsm-gap1';
    // The stream is first seen mid-way (0x10): not a finding.
    expect((await ingestEntries(hsm, seqs(0x10, 0x12))).findings).toBe(0);
    expect(await findings(hsm)).toEqual([]);

    const second = await ingestEntries(hsm, seqs(0x16, 0x17));
    expect(second.findings).toBe(1);
    const rows = await findings(hsm);
    expect(rows).toEqual([
      {
        tenant: 'globex',
        kind: 'sequence_gap',
        epoch: '0x107',
        from_position: String(0x13),
        to_position: String(0x15),
        missing: '3',
        before_event_id: id(hsm, { seq: 0x12, at: 0x12 }),
        after_event_id: id(hsm, { seq: 0x16, at: 0x16 }),
        detail: expect.stringContaining('Sequence No 0x13..0x15 of hsm-gap1 (reboot counter 0x107) never arrived: 3 entries missing') as unknown as string,
      },
    ]);

    // The same file again adds nothing; a later entry re-runs the check, which finds the same gap.
    expect(await ingestEntries(hsm, seqs(0x16, 0x17))).toMatchObject({ inserted: 0, duplicates: 2, findings: 0 });
    expect((await ingestEntries(hsm, seqs(0x18, 0x18))).findings).toBe(0);
    expect(await findings(hsm)).toHaveLength(1);
    expect(await rawCount(hsm)).toBe(1);
  });

  it('removes a gap that late entries fill, and splits one that they fill in part', async () => {
    const hsm = 'hsm-late1';
    await ingestEntries(hsm, [...seqs(0, 2), ...seqs(6, 7)]);
    expect((await findings(hsm)).map((r) => [r.from_position, r.to_position, r.missing])).toEqual([['3', '5', '3']]);

    expect((await ingestEntries(hsm, seqs(4, 4))).findings).toBe(2);
    expect((await findings(hsm)).map((r) => [r.from_position, r.to_position, r.missing])).toEqual([['3', '3', '1'], ['5', '5', '1']]);

    expect((await ingestEntries(hsm, [...seqs(3, 3), ...seqs(5, 5)])).findings).toBe(0);
    expect(await findings(hsm)).toEqual([]);
    expect(await rawCount(hsm)).toBe(0);
  });

  it('takes a new reboot counter starting at 0 as normal, and its missing first entries as a gap', async () => {
    await ingestEntries('hsm-boot1', [...seqs(0x40, 0x42, 0x107, 0), ...seqs(0, 2, 0x108, 100)]);
    expect(await findings('hsm-boot1')).toEqual([]);

    await ingestEntries('hsm-boot2', [...seqs(0x40, 0x42, 0x107, 0), ...seqs(3, 4, 0x108, 100)]);
    expect(await findings('hsm-boot2')).toEqual([
      expect.objectContaining({
        kind: 'sequence_gap',
        epoch: '0x108',
        from_position: '0',
        to_position: '2',
        missing: '3',
        before_event_id: id('hsm-boot2', { seq: 0x42, reboot: 0x107, at: 0x42 }),
        after_event_id: id('hsm-boot2', { seq: 3, reboot: 0x108, at: 103 }),
      }),
    ]);
  });

  it('keeps the entries of a sequence that restarts without a reboot, and records the reset', async () => {
    const hsm = 'hsm-reset1';
    // The restarted run has a gap of its own (0x1 missing), found within that run only.
    const s = await ingestEntries(hsm, [...seqs(0x50, 0x51, 0x107, 0), ...seqs(0, 0, 0x107, 200), ...seqs(2, 2, 0x107, 200)]);
    expect(s).toMatchObject({ inserted: 4, duplicates: 0 });
    expect(await findings(hsm)).toEqual([
      expect.objectContaining({ kind: 'sequence_gap', epoch: '0x107/1', from_position: '1', to_position: '1', missing: '1' }),
      expect.objectContaining({ kind: 'sequence_reset', epoch: '0x107/1', from_position: String(0x51), to_position: '0', missing: '0', after_event_id: id(hsm, { seq: 0, at: 200 }) }),
    ]);
    expect((await findings(hsm))[1]?.detail).toContain('went from 0x51 back to 0x0 within reboot counter 0x107 (');
  });

  it('records a reboot counter that goes backwards', async () => {
    const hsm = 'hsm-back1';
    await ingestEntries(hsm, [...seqs(0, 1, 0x108, 0), ...seqs(0, 1, 0x106, 300)]);
    expect(await findings(hsm)).toEqual([
      expect.objectContaining({ kind: 'reboot_counter_reset', epoch: '0x106', from_position: String(0x108), to_position: String(0x106), missing: '0' }),
    ]);
  });

  it('re-checks only the streams a run touched, and leaves the findings of the others alone', async () => {
    const [a, b] = ['hsm-scopeA', 'hsm-scopeB'];
    const detectedOf = async (stream: string) =>
      store.query<{ from_position: string; detected: string }>(
        `SELECT toString(from_position) AS from_position, toString(detected_time) AS detected FROM audit_integrity FINAL
         WHERE source = 'aws-cloudhsm' AND stream = {s:String} ORDER BY toUInt64(from_position)`,
        { s: stream },
      );
    expect((await ingestEntries(a, [...seqs(0, 2), ...seqs(6, 7)], '2026-12-01T00:00:00.000Z')).findings).toBe(1);
    expect(await detectedOf(a)).toEqual([{ from_position: '3', detected: '2026-12-01 00:00:00.000' }]);
    // A finding of A that a re-check of A would delete (as if A's stored entries had changed since).
    await store.insertRows('audit_integrity', [
      {
        detected_time: '2026-12-01 00:00:00.000', tenant: 'globex', source: 'aws-cloudhsm', stream: a, kind: 'sequence_gap', epoch: '0x107',
        from_position: 100, to_position: 101, missing: 2, before_time: '2026-03-02 10:00:00.000', after_time: '2026-03-02 10:00:00.000',
        before_event_id: '', after_event_id: '', detail: 'planted',
      },
    ]);

    // A later run that touches only B finds B's gap and leaves A's findings as they were.
    expect((await ingestEntries(b, [...seqs(0, 1), ...seqs(4, 4)], '2026-12-02T00:00:00.000Z')).findings).toBe(1);
    expect(await detectedOf(b)).toEqual([{ from_position: '2', detected: '2026-12-02 00:00:00.000' }]);
    expect(await detectedOf(a)).toEqual([
      { from_position: '3', detected: '2026-12-01 00:00:00.000' },
      { from_position: '100', detected: '2026-12-01 00:00:00.000' },
    ]);

    // A run touching A whose late entries fill A's gap re-checks all of A: the gap goes, and so
    // does the finding that no longer holds; B's finding stays.
    expect((await ingestEntries(a, seqs(3, 5), '2026-12-03T00:00:00.000Z')).findings).toBe(0);
    expect(await detectedOf(a)).toEqual([]);
    expect(await rawCount(a)).toBe(0);
    expect(await detectedOf(b)).toEqual([{ from_position: '2', detected: '2026-12-02 00:00:00.000' }]);
  });

  it('re-checks the streams of the given batches only, or every stream without a run', async () => {
    const c = 'hsm-scopeC';
    const batches: string[] = [];
    await ingest([openInput(writeEntries(c, [...seqs(0, 1), ...seqs(5, 5)]))], { ...ingestOptions(), onBatch: (r) => batches.push(r.batchId) });
    const plant = (from: number) =>
      store.insertRows('audit_integrity', [
        {
          detected_time: '2026-12-01 00:00:00.000', tenant: 'globex', source: 'aws-cloudhsm', stream: c, kind: 'sequence_gap', epoch: '0x107',
          from_position: from, to_position: from, missing: 1, before_time: '2026-03-02 10:00:00.000', after_time: '2026-03-02 10:00:00.000',
          before_event_id: '', after_event_id: '', detail: 'planted',
        },
      ]);
    const positions = async () => (await findings(c)).map((r) => r.from_position);
    expect(await positions()).toEqual(['2']);
    await plant(200);
    // Batches of no event of this source (or no batches): nothing is re-checked.
    expect(await findSequenceGaps(store, new Date('2026-12-04T00:00:00Z'), { batchIds: [] })).toBe(0);
    expect(await findSequenceGaps(store, new Date('2026-12-04T00:00:00Z'), { batchIds: ['no-such-batch'] })).toBe(0);
    expect(await positions()).toEqual(['2', '200']);
    // The run's event_time span bounds the lookup of its events: one that misses them finds no stream.
    expect(await findSequenceGaps(store, new Date('2026-12-04T00:00:00Z'), { batchIds: batches, eventTimes: { first: '2025-01-01 00:00:00.000', last: '2025-01-02 00:00:00.000' } })).toBe(0);
    expect(await positions()).toEqual(['2', '200']);
    // The run's batches: C is re-checked, with or without the run's event_time span.
    expect(await findSequenceGaps(store, new Date('2026-12-04T00:00:00Z'), { batchIds: batches, eventTimes: { first: '2026-03-02 10:00:00.000', last: '2026-03-02 10:00:05.000' } })).toBe(0);
    expect(await positions()).toEqual(['2']);
    await plant(201);
    expect(await findSequenceGaps(store, new Date('2026-12-04T00:00:00Z'), { batchIds: batches })).toBe(0);
    expect(await positions()).toEqual(['2']);
    // Without a run, every stream is re-checked.
    await plant(202);
    expect(await findSequenceGaps(store, new Date('2026-12-04T00:00:00Z'))).toBe(0);
    expect(await positions()).toEqual(['2']);
  });

  it('returns 0 and changes nothing when called again with nothing new', async () => {
    const before = await store.query('SELECT * FROM audit_integrity FINAL ORDER BY stream, kind, from_position');
    expect(await findSequenceGaps(store, new Date('2026-11-30T00:00:00Z'))).toBe(0);
    expect(await store.query('SELECT * FROM audit_integrity FINAL ORDER BY stream, kind, from_position')).toEqual(before);
  });
});
