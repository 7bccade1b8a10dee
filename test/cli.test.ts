import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { generateCloudTrail } from '../demo/cloudtrail-generator.ts';
import { tempDir } from './helpers/temp-dir.ts';

const BIN = new URL('../bin/keywatch.js', import.meta.url).pathname;
const dir = tempDir();
const dataDir = join(dir.path, 'store');
afterAll(() => dir.remove());

function kw(...args: string[]) {
  return kwWithInput(undefined, ...args);
}

function kwWithInput(input: Buffer | undefined, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '' }, ...(input ? { input } : {}) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const good = [...generateCloudTrail({ start: new Date('2026-05-04T00:00:00Z'), days: 1, seed: 11 })].slice(0, 300).map((r) => JSON.stringify(r));
const lines = [...good.slice(0, 100), '{"eventVersion":"1.11", truncated', ...good.slice(100, 200), 'not json at all', '{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2026-05-04T01:00:00Z"}', ...good.slice(200)];
const file = join(dir.path, 'trail.ndjson');
writeFileSync(file, lines.join('\n') + '\n');

describe('keywatch CLI', () => {
  it('ingests a CloudTrail file with malformed lines: bad lines quarantined with their position, the rest queryable', () => {
    const r = kw('ingest', '--json', file);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({ read: 303, normalized: 300, inserted: 300, duplicates: 0, dropped: { non_kms_event: 1 }, quarantined: { invalid_json: 2 } });
    const q = kw('sql', '--format', 'json', 'SELECT reason, position, record FROM quarantine ORDER BY position');
    expect(JSON.parse(q.out)).toEqual([
      { reason: 'invalid_json', position: 'line:101', record: '{"eventVersion":"1.11", truncated' },
      { reason: 'invalid_json', position: 'line:202', record: 'not json at all' },
    ]);
    const c = kw('sql', '--format', 'json', 'SELECT count() AS n FROM key_events');
    expect(JSON.parse(c.out)).toEqual([{ n: '300' }]);
  });

  it('adds nothing when the same file is ingested again, by a plain count without FINAL', () => {
    // --no-checkpoint: read it all again, rather than skip the finished file.
    const r = kw('ingest', '--no-checkpoint', '--json', file);
    expect(JSON.parse(r.out)).toMatchObject({ read: 303, inserted: 0, duplicates: 300 });
    expect(kw('sql', '--format', 'csv', 'SELECT count() AS n FROM key_events').out).toBe('"n"\n300\n');
  });

  it('exits 5 with --strict when records were quarantined', () => {
    expect(kw('ingest', '--no-checkpoint', '--strict', '--json', file).code).toBe(5);
  });

  it('skips a file it already ingested to the end, and says so in the summary', () => {
    const r = kw('ingest', '--json', file);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ read: 0, batches: 0, resumedRecords: 0, checkpoints: { skipped: [file], resumed: [] } });
    expect(kw('ingest', file).out).toContain('skipped      1 file(s) already ingested to the end');
  });

  it('refuses writes in keywatch sql with one clear line and exit code 2', () => {
    for (const q of ['DROP TABLE key_events', 'insert into key_events (event_id) values (1)', '/* hi */ ALTER TABLE key_events DELETE WHERE 1', "SELECT 1 INTO OUTFILE '/tmp/x'"]) {
      const r = kw('sql', q);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^keywatch: keywatch sql is read-only/);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
    expect(kw('sql', '--format', 'json', 'SELECT count() AS n FROM key_events').out).toContain('"300"');
  });

  it('prints status with counts, last event per source, migrations and the chain head', () => {
    const r = kw('status', '--json');
    const s = JSON.parse(r.out);
    expect(s.counts).toEqual({ key_events: 300, raw_events: 909, quarantine: 6, ingest_batches: 3 });
    expect(s.sources).toHaveLength(1);
    expect(s.sources[0]).toMatchObject({ source: 'aws-kms', events: 300 });
    expect(s.migrations.map((m: { name: string }) => m.name)).toEqual(['init', 'integrity_and_coverage', 'alerts', 'alert_outbox', 'slo', 'attestations']);
    expect(s.chain.seqno).toBe(3);
    expect(s.chain.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('tells a second process that the embedded store is in use, in one line, with exit code 4', async () => {
    const holder = await openEmbeddedStore({ dataDir });
    try {
      const r = kw('status');
      expect(r.code).toBe(4);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/is in use by another keywatch process \(pid \d+\); wait for it to finish, give this run its own --data-dir/);
      expect(r.err).not.toMatch(/at .*\.ts:\d+/);
    } finally {
      await holder.close();
    }
  });

  it('verify-chain passes on the untouched store and exits 6 after a batch is altered behind its back', async () => {
    expect(kw('verify-chain').out).toMatch(/^chain OK: 3 batches/);
    const s = await openEmbeddedStore({ dataDir });
    await s.exec("ALTER TABLE raw_events UPDATE record = concat(record, ' ') WHERE seq = 1 AND batch_id = (SELECT batch_id FROM ingest_batches WHERE seqno = 1) SETTINGS mutations_sync = 1");
    await s.close();
    const r = kw('verify-chain');
    expect(r.code).toBe(6);
    expect(r.out).toMatch(/chain BROKEN: 1 finding/);
    expect(r.out).toMatch(/raw_records_altered/);
  });

  it('maps usage, input and config errors to their documented exit codes', () => {
    expect(kw('no-such-command').code).toBe(2);
    const missing = kw('ingest', join(dir.path, 'nope.json'));
    expect(missing.code).toBe(3);
    expect(missing.err).toMatch(/no such file or directory/);
    const cfg = join(dir.path, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ dataDir: dataDir, retention: { keyEventDays: 3 } }));
    const bad = kw('--config', cfg, 'status');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/invalid configuration .*retention/);
  });

  it('reads gzip CloudTrail records from stdin and records stdin as their origin', () => {
    const more = [...generateCloudTrail({ start: new Date('2026-05-10T00:00:00Z'), days: 1, seed: 12 })].slice(0, 50);
    const r = kwWithInput(gzipSync(JSON.stringify({ Records: more })), 'ingest', '--json', '-');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ read: 50, inserted: 50, quarantined: {} });
    const origins = JSON.parse(kw('sql', '--format', 'json', "SELECT origin, transport, count() AS n FROM raw_events WHERE origin = 'stdin' GROUP BY origin, transport").out);
    expect(origins).toEqual([{ origin: 'stdin', transport: 'stdin', n: '50' }]);
  });

  it('keeps what it could read of a truncated gzip input, quarantines the gap, goes on, and exits 3', () => {
    const more = [...generateCloudTrail({ start: new Date('2026-05-20T00:00:00Z'), days: 1, seed: 21 })].slice(0, 400);
    const gz = gzipSync(more.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const cut = join(dir.path, 'cut.json.gz');
    writeFileSync(cut, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const whole = join(dir.path, 'whole.ndjson');
    const others = [...generateCloudTrail({ start: new Date('2026-05-21T00:00:00Z'), days: 1, seed: 22 })].slice(0, 30);
    writeFileSync(whole, others.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const r = kw('ingest', '--json', cut, whole);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/cut\.json\.gz: gzip data is corrupt or truncated .*; the records before the failure were ingested/);
    const s = JSON.parse(r.out);
    expect(s.read).toBeGreaterThan(100);
    expect(s.read).toBeLessThan(400 + 30);
    expect(s.quarantined).toEqual({ input_unreadable: 1 });
    expect(s.unreadable).toEqual([{ origin: cut, message: expect.stringContaining('gzip data is corrupt or truncated') }]);
    const q = JSON.parse(kw('sql', '--format', 'json', "SELECT origin, position FROM quarantine WHERE reason = 'input_unreadable'").out);
    expect(q).toEqual([{ origin: cut, position: expect.stringMatching(/^after line:\d+$/) }]);
    const fromWhole = JSON.parse(kw('sql', '--format', 'json', `SELECT count() AS n FROM raw_events WHERE origin = '${whole}'`).out);
    expect(fromWhole).toEqual([{ n: '30' }]);
  });
});
