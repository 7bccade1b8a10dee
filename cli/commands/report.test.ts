import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium } from '../../reports/chromium.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'keywatch.js');
const SLOW_TEST_MS = 180_000;
const dir = tempDir('keywatch-report-cli-');
afterAll(() => dir.remove());

function kw(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--data-dir', join(dir.path, 'store'), ...args], { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '' } }, (error, out, err) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

const chromium = findChromium();
const mustHaveChromium = process.env.CI === 'true';

describe('keywatch report', () => {
  it.runIf(!chromium && mustHaveChromium)('needs chromium under CI', () => {
    throw new Error('chromium is not installed; .ci/install-apt.sh installs it');
  });

  it.runIf(Boolean(chromium) || !mustHaveChromium)('writes every format for a quarter, with a SHA256SUMS that sha256sum accepts', async () => {
    const events = [
      { source: 'aws-kms', event_time: '2026-08-03T10:00:00Z', operation: 'decrypt', outcome: 'success', key_id: 'arn:aws:kms:eu-west-1:111111111111:key/k1', account: '111111111111', tenant: 'acme', principal: 'arn:aws:iam::111111111111:role/app' },
      { source: 'aws-kms', event_time: '2026-08-04T11:00:00Z', operation: 'disable_key', outcome: 'success', key_id: 'arn:aws:kms:eu-west-1:111111111111:key/k1', account: '111111111111', tenant: 'acme', principal: 'arn:aws:iam::111111111111:user/ops' },
      { source: 'aws-kms', event_time: '2026-10-04T11:00:00Z', operation: 'decrypt', outcome: 'success', key_id: 'arn:aws:kms:eu-west-1:111111111111:key/k2', account: '111111111111', tenant: 'acme', principal: 'arn:aws:iam::111111111111:role/app' },
    ];
    writeFileSync(join(dir.path, 'events.ndjson'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    expect((await kw(['ingest', '--format', 'keywatch-json', join(dir.path, 'events.ndjson')])).code).toBe(0);
    const out = join(dir.path, 'q3');
    const r = await kw(['report', '--quarter', '2026Q3', '--out', out, ...(chromium ? ['--pdf'] : []), '--json']);
    expect(r.code, r.err).toBe(0);
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8');
    for (const f of ['report.json', 'report.html', 'key_inventory.csv', 'admin_operations.csv', ...(chromium ? ['report.pdf'] : [])]) expect(sums).toContain(`  ${f}\n`);
    expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' })).not.toMatch(/FAILED/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Record<string, unknown>;
    // Only the quarter's key: k2's event is in October.
    expect(JSON.stringify(report)).toContain('key/k1');
    expect(readFileSync(join(out, 'key_inventory.csv'), 'utf8')).not.toContain('key/k2');
    expect(readFileSync(join(out, 'admin_operations.csv'), 'utf8')).toContain('disable_key');
  }, SLOW_TEST_MS);

  it('refuses a malformed quarter', async () => {
    const r = await kw(['report', '--quarter', '2026Q5', '--out', join(dir.path, 'bad')]);
    expect(r.code).toBe(2);
  }, SLOW_TEST_MS);
});
