import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { freePort, startReceiver, type Receiver } from './testing/webhook-receiver.ts';

// `keywatch detect` end to end, each run its own process: alerts found while the webhook is down
// wait in the outbox, and the next run, a new process, delivers them. The receiver runs in this
// process, so the CLI is started asynchronously.

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'keywatch.js');
const SECRET = 'cli-webhook-secret-0123456789abcdef';
// Five CLI processes, each loading chdb, on a 2-core machine shared with other work.
const SLOW_TEST_MS = 180_000;
const dir = tempDir('keywatch-deliver-');
let receiver: Receiver | undefined;
afterAll(async () => {
  await receiver?.close();
  dir.remove();
});

function kw(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, '--data-dir', join(dir.path, 'store'), '--config', join(dir.path, 'keywatch.config.json'), ...args],
      { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '', KEYWATCH_WEBHOOK_SECRET: '', ...env } },
      (error, out, err) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

type Summary = { alerts: number; outbox?: { enqueued: Record<string, number>; delivery?: { byDestination: Record<string, { delivered: number; pending: number; attempts: number }> } } };

describe('keywatch detect with alert destinations', () => {
  it('keeps alerts in the outbox while the webhook is down and delivers them from the next run, signed, without leaking the secret', async () => {
    const port = await freePort();
    const jsonlFile = join(dir.path, 'alerts.jsonl');
    writeFileSync(join(dir.path, 'keywatch.config.json'), JSON.stringify({ alerts: { jsonlFile, webhook: { url: `http://127.0.0.1:${port}/hooks/keywatch`, baseDelayMs: 1, maxAttempts: 5 } } }));
    const ingest = await kw(['ingest', '--json', join(ROOT, 'ingest/aws-kms/fixtures/schedule-key-deletion.json'), join(ROOT, 'ingest/azure-key-vault/fixtures/key-purge.json')]);
    expect(ingest.code, ingest.err).toBe(0);

    // Without a secret, the webhook is refused before anything runs.
    const unsigned = await kw(['detect', '--from', '2026-03-01', '--to', '2026-03-05']);
    expect(unsigned.code).toBe(2);
    expect(unsigned.err).toMatch(/alerts\.webhook needs an HMAC secret: set KEYWATCH_WEBHOOK_SECRET/);

    const env = { KEYWATCH_WEBHOOK_SECRET: SECRET, KEYWATCH_LOG_LEVEL: 'warn' };
    const down = await kw(['detect', '--from', '2026-03-01', '--to', '2026-03-05', '--json', '--deliver-wait', '0'], env);
    expect(down.code, down.err).toBe(0);
    const first = JSON.parse(down.out) as Summary;
    expect(first.alerts).toBeGreaterThanOrEqual(2);
    expect(first.outbox?.enqueued).toEqual({ file: first.alerts, webhook: first.alerts });
    expect(first.outbox?.delivery?.byDestination.webhook).toMatchObject({ delivered: 0, pending: first.alerts, attempts: first.alerts });
    expect(first.outbox?.delivery?.byDestination.file).toMatchObject({ delivered: first.alerts, pending: 0 });
    expect(down.err).toMatch(/alert delivery failed; will retry/);
    expect(down.err).toMatch(/ECONNREFUSED/);

    receiver = await startReceiver({ secret: SECRET, port });
    const up = await kw(['detect', '--from', '2026-03-01', '--to', '2026-03-05', '--json', '--deliver-wait', '5'], env);
    expect(up.code, up.err).toBe(0);
    const second = JSON.parse(up.out) as Summary;
    // The same alerts, found again unchanged, are not enqueued again; the waiting ones go out.
    expect(second.outbox?.enqueued).toEqual({ file: 0, webhook: 0 });
    expect(second.outbox?.delivery?.byDestination.webhook).toMatchObject({ delivered: first.alerts, pending: 0 });
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    expect(receiver.unique.size).toBe(first.alerts);
    const bodies = [...receiver.unique.values()].map((r) => JSON.parse(r.body) as Record<string, unknown>);
    for (const b of bodies) expect(b).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{32}$/), detector: expect.any(String), title: expect.any(String), severity: expect.any(String), score: expect.any(Number), tenant: expect.any(String), key_id: expect.any(String), principal: expect.any(String), first_time: expect.any(String), last_time: expect.any(String), event_ids: expect.any(Array), evidence: expect.any(Object), runbook: expect.any(String) });

    // The file destination wrote each alert once, in the first run.
    expect(readFileSync(jsonlFile, 'utf8').trim().split('\n')).toHaveLength(first.alerts);

    const stored = await kw(['sql', '--format', 'json', "SELECT destination, state, count() AS n FROM alert_outbox FINAL GROUP BY destination, state ORDER BY destination"], env);
    expect(JSON.parse(stored.out)).toEqual([
      { destination: 'file', state: 'delivered', n: String(first.alerts) },
      { destination: 'webhook', state: 'delivered', n: String(first.alerts) },
    ]);
    for (const r of [down, up, stored]) expect(r.out + r.err).not.toContain(SECRET);
  }, SLOW_TEST_MS);
});
