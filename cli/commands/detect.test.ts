import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { parseWhen } from './detect.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'keywatch.js');
const dir = tempDir();
afterAll(() => dir.remove());

function kw(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, '--data-dir', join(dir.path, 'store'), ...args], { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('keywatch detect', () => {
  it('finds a deletion and a purge from real-shaped records of two vendors and prints them as JSON lines', () => {
    const ingest = kw('ingest', '--json', join(ROOT, 'ingest/aws-kms/fixtures/schedule-key-deletion.json'), join(ROOT, 'ingest/azure-key-vault/fixtures/key-purge.json'));
    expect(ingest.code, ingest.err).toBe(0);
    const r = kw('detect', '--from', '2026-03-01', '--to', '2026-03-05', '--jsonl', '-');
    expect(r.code, r.err).toBe(0);
    const alerts = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(alerts.map((a) => [a.detector, a.severity, a.principal])).toEqual(
      expect.arrayContaining([
        ['key-disabled-or-deleted', 'high', 'arn:aws:iam::111122223333:user/kms-admin'],
        ['key-disabled-or-deleted', 'critical', expect.any(String)],
      ]),
    );
    for (const a of alerts) expect(a).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{32}$/), runbook: expect.any(String), event_ids: expect.any(Array) });
    // The alerts are in the store, and a second run over the same range replaces them.
    expect(kw('detect', '--from', '2026-03-01', '--to', '2026-03-05', '--json').code).toBe(0);
    const stored = kw('sql', '--format', 'json', "SELECT count() AS n FROM alerts FINAL WHERE detector = 'key-disabled-or-deleted'");
    expect(JSON.parse(stored.out)).toEqual([{ n: String(alerts.filter((a) => a.detector === 'key-disabled-or-deleted').length) }]);
  });

  it('refuses an unknown detector and a bad time with exit code 2', () => {
    const a = kw('detect', '--only', 'no-such-detector');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/unknown detector no-such-detector/);
    const b = kw('detect', '--since', 'yesterday-ish');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--since must be an ISO time/);
  });

  it('reads relative spans and dates', () => {
    const now = new Date('2026-03-02T12:00:00Z');
    expect(parseWhen('24h', now, '--since').toISOString()).toBe('2026-03-01T12:00:00.000Z');
    expect(parseWhen('7d', now, '--since').toISOString()).toBe('2026-02-23T12:00:00.000Z');
    expect(parseWhen('2026-03-01', now, '--from').toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });
});
