import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'keywatch.js');
const dir = tempDir();
afterAll(() => dir.remove());

describe('keywatch evaluate', () => {
  it('scores the detectors on a short demo set and a clean baseline, in temporary stores of its own', () => {
    const userStore = join(dir.path, 'store');
    const r = spawnSync(process.execPath, [BIN, '--data-dir', userStore, 'evaluate', '--days', '3', '--baseline-days', '3', '--json'], { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '' }, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      days: number;
      detectors: { detector: string; expected: number; found: number; alerts: number; matched: number }[];
      incidents: { id: string; expected: string[]; foundBy: string[] }[];
      unlabeled: { id: string }[];
      overall: { incidents: number; alerts: number; matched: number };
      baseline: { days: number; alerts: { detector: string; alerts: number }[]; total: number };
    };
    expect(out.days).toBe(3);
    // Every detector has a row; the labeled incidents of every source are scored.
    expect(out.detectors.map((d) => d.detector)).toEqual(expect.arrayContaining(['key-disabled-or-deleted', 'failure-spike', 'admin-off-hours', 'burst']));
    expect(out.incidents.map((i) => i.id)).toEqual(expect.arrayContaining(['external-grant', 'gcp-public-key-policy', 'az-key-purged', 'cloudhsm-sequence-gap', 'luna-audit-record-gap', 'vault-audit-device-disabled']));
    expect(out.unlabeled.map((i) => i.id)).toEqual(expect.arrayContaining(['probe-hsm-degraded']));
    expect(out.overall.incidents).toBe(out.incidents.length);
    // Some incidents are found even on 3 days (a deletion needs no history).
    expect(out.incidents.find((i) => i.id === 'external-grant')?.foundBy).toContain('external-grant');
    expect(out.overall.matched).toBeGreaterThan(0);
    expect(out.baseline.days).toBe(3);
    expect(out.baseline.total).toBe(out.baseline.alerts.reduce((n, a) => n + a.alerts, 0));
    // The user's store was never touched.
    expect(existsSync(userStore)).toBe(false);
  }, 150_000);
});
