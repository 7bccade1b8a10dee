import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'keywatch.js');
const SLOW_TEST_MS = 180_000;
const dir = tempDir('keywatch-alerts-cli-');
const jsonl = join(dir.path, 'alerts.jsonl');

function kw(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--data-dir', join(dir.path, 'store'), '--config', join(dir.path, 'keywatch.config.json'), ...args], { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '' } }, (error, out, err) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

beforeAll(async () => {
  writeFileSync(join(dir.path, 'keywatch.config.json'), JSON.stringify({ alerts: { jsonlFile: jsonl } }));
  // Two keys disabled by an operator: two key-disabled-or-deleted alerts.
  const events = ['k1', 'k2'].map((k, i) =>
    JSON.stringify({ source: 'aws-kms', event_time: `2026-06-10T12:0${i}:00Z`, operation: 'disable_key', outcome: 'success', key_id: `arn:aws:kms:eu-west-1:111111111111:key/${k}`, account: '111111111111', tenant: 'acme', principal: 'arn:aws:iam::111111111111:user/ops', principal_type: 'user', event_id: `ev-${k}` }),
  );
  writeFileSync(join(dir.path, 'events.ndjson'), events.join('\n') + '\n');
  expect((await kw(['ingest', '--format', 'keywatch-json', join(dir.path, 'events.ndjson')])).code).toBe(0);
  const d = await kw(['detect', '--from', '2026-06-10T00:00:00Z', '--to', '2026-06-11T00:00:00Z', '--only', 'key-disabled-or-deleted']);
  expect(d.code, d.err).toBe(0);
}, SLOW_TEST_MS);
afterAll(() => dir.remove());

describe('keywatch alerts', () => {
  it('lists open alerts, resolves one with a note, sends the resolution, and lists it as resolved', async () => {
    const list = await kw(['alerts', 'list', '--json']);
    expect(list.code, list.err).toBe(0);
    const open = list.out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; status: string; key_id: string });
    expect(open.map((a) => [a.status, a.key_id.slice(-2)]).sort()).toEqual([['open', 'k1'], ['open', 'k2']]);
    const target = open.find((a) => a.key_id.endsWith('k1'))?.id ?? '';

    const r = await kw(['alerts', 'resolve', target, '--note', 'CHG-42: planned decommission']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`resolved ${target}`));
    const lines = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; status: string; resolved_time?: string; evidence: { resolution?: { note: string } } });
    const resolution = lines.filter((l) => l.id === target && l.status === 'resolved');
    expect(resolution).toHaveLength(1);
    expect(resolution[0]?.evidence.resolution?.note).toBe('CHG-42: planned decommission');
    expect(resolution[0]?.resolved_time).toMatch(/^\d{4}-\d{2}-\d{2}T/);

    const still = await kw(['alerts', 'list', '--json']);
    expect(still.out.trim().split('\n').map((l) => (JSON.parse(l) as { key_id: string }).key_id.slice(-2))).toEqual(['k2']);
    const done = await kw(['alerts', 'list', '--status', 'resolved']);
    expect(done.out).toContain(target);

    const again = await kw(['alerts', 'resolve', target]);
    expect(again.out).toContain(`already resolved: ${target}`);
  }, SLOW_TEST_MS);

  it('refuses unknown ids and writes nothing', async () => {
    const r = await kw(['alerts', 'resolve', 'no-such-alert']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no alert with id no-such-alert/);
  }, SLOW_TEST_MS);
});
