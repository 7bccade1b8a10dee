import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../detectors/outputs/testing/webhook-receiver.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'keywatch.js');
const PAGER_SECRET = 'pager-secret-0123456789abcdef';
const TICKET_SECRET = 'ticket-secret-0123456789abcdef';
const SLOW_TEST_MS = 180_000;
const dir = tempDir('keywatch-slo-cli-');
let pager: Receiver;
let tickets: Receiver;

const T0 = Date.parse('2026-06-10T12:00:00Z');
const MIN = 60_000;
const iso = (m: number) => new Date(T0 + m * MIN).toISOString();

function kw(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, '--data-dir', join(dir.path, 'store'), '--config', join(dir.path, 'keywatch.config.json'), ...args],
      { encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '', KEYWATCH_WEBHOOK_SECRET_PAGER: PAGER_SECRET, KEYWATCH_WEBHOOK_SECRET_TICKETS: TICKET_SECRET } },
      (error, out, err) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

const SPEC = `apiVersion: keywatch/v1
kind: SLO
metadata: { name: decrypt-availability, displayName: Decrypt availability }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 0.999 }]
  groupBy: [key]
  alerting:
    windowTable: false
    policies:
      - { name: page-fast, action: page, burnRate: 14.4, longWindow: 1h, shortWindow: 5m }
      - { name: ticket-fast, action: ticket, burnRate: 2, longWindow: 30m, shortWindow: 5m }
  indicator:
    ratio:
      total: { operation: [decrypt] }
      good: { not: { errorKind: [server] } }
`;

beforeAll(async () => {
  pager = await startReceiver({ secret: PAGER_SECRET });
  tickets = await startReceiver({ secret: TICKET_SECRET });
  writeFileSync(
    join(dir.path, 'keywatch.config.json'),
    JSON.stringify({
      slo: { specs: ['slo.yaml'] },
      alerts: {
        webhooks: [
          { name: 'pager', url: pager.url, only: { severities: ['critical'] }, baseDelayMs: 1 },
          { name: 'tickets', url: tickets.url, only: { severities: ['medium', 'low'] }, baseDelayMs: 1 },
        ],
      },
    }),
  );
  writeFileSync(join(dir.path, 'slo.yaml'), SPEC);
  // 100 decrypts a minute on one key for three hours from T0 − 60 m; for the hour from T0, 3 in 100
  // fail with KMSInternalException (the service's fault), and 10 in 100 with AccessDeniedException
  // (the caller's, which the SLI leaves out).
  const lines: string[] = [];
  for (let m = -60; m < 120; m++) {
    for (let i = 0; i < 100; i++) {
      const t = new Date(T0 + m * MIN + i * 600).toISOString();
      const server = m >= 0 && m < 60 && i % 33 === 0 && i < 99;
      const client = m >= 0 && m < 60 && i % 10 === 5;
      lines.push(
        JSON.stringify({ source: 'aws-kms', event_time: t, operation: 'decrypt', outcome: server || client ? 'failure' : 'success', error_code: server ? 'KMSInternalException' : client ? 'AccessDeniedException' : '', key_id: 'key-a', tenant: 'acme', principal: 'app', event_id: `e${m}:${i}` }),
      );
    }
  }
  writeFileSync(join(dir.path, 'events.ndjson'), lines.join('\n') + '\n');
  const r = await kw(['ingest', '--format', 'keywatch-json', join(dir.path, 'events.ndjson')]);
  expect(r.code, r.err).toBe(0);
}, SLOW_TEST_MS);
afterAll(async () => {
  await pager?.close();
  await tickets?.close();
  dir.remove();
});

describe('keywatch slo', () => {
  it('pages the pager and tickets the ticket webhook, then sends the resolution, and shows the status', async () => {
    // At T0 + 40 m: 1 h window burn 30 · 40/60 = 20 > 14.4 and 5 m burn 30: page; 30 m burn 30 > 2: ticket.
    const first = await kw(['slo', 'evaluate', '--at', iso(40), '--json']);
    expect(first.code, first.err).toBe(0);
    const r1 = JSON.parse(first.out) as { transitions: { change: string; action: string }[]; outbox: { enqueued: Record<string, number> } };
    expect(r1.transitions.map((t) => [t.change, t.action]).sort()).toEqual([['opened', 'page'], ['opened', 'ticket']]);
    expect(r1.outbox.enqueued).toEqual({ 'webhook:pager': 1, 'webhook:tickets': 1 });
    expect(pager.requests.map((q) => [JSON.parse(q.body).severity, JSON.parse(q.body).status, q.verified])).toEqual([['critical', 'open', true]]);
    expect(tickets.requests.map((q) => [JSON.parse(q.body).severity, JSON.parse(q.body).status, q.verified])).toEqual([['medium', 'open', true]]);
    expect(JSON.parse(pager.requests[0]?.body ?? '{}')).toMatchObject({ detector: 'slo-burn-rate', key_id: 'key-a', evidence: { slo: 'decrypt-availability', action: 'page' } });

    // Evaluating again while it still burns sends nothing new.
    const again = await kw(['slo', 'evaluate', '--at', iso(45), '--json']);
    expect(JSON.parse(again.out).transitions).toEqual([]);
    expect(pager.requests).toHaveLength(1);

    // After the failures stop (T0 + 60 m), the 5 m windows are clean at T0 + 66 m: both resolve.
    const resolved = await kw(['slo', 'evaluate', '--at', iso(66)]);
    expect(resolved.code, resolved.err).toBe(0);
    expect(resolved.out).toMatch(/resolved\s+page\s+decrypt-availability \(key-a\)/);
    expect(pager.requests.map((q) => JSON.parse(q.body).status)).toEqual(['open', 'resolved']);
    expect(tickets.requests.map((q) => JSON.parse(q.body).status)).toEqual(['open', 'resolved']);

    const status = await kw(['slo', 'status', '--json']);
    const rows = JSON.parse(status.out) as { slo: string; key_id: string; state: string; budget: number; burns: Record<string, number> }[];
    expect(rows).toHaveLength(1);
    // 1 h window at T0 + 66: 3 · 54 = 162 server failures of 6,000 calls; the access denials do not count.
    expect(rows[0]).toMatchObject({ slo: 'decrypt-availability', key_id: 'key-a', state: 'ok' });
    expect(rows[0]?.burns['1h']).toBeCloseTo(162 / 6000 / 0.001, 6);
  }, SLOW_TEST_MS);

  it('refuses a spec with an unsupported period, naming it and the supported ones', async () => {
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, SPEC.replace('duration: 30d', 'duration: 90d'));
    const r = await kw(['slo', 'evaluate', '--spec', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/SLO period 90d is not supported: burn-rate window tables exist for 7d, 28d, 30d/);
  }, SLOW_TEST_MS);
});
