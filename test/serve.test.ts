import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCloudTrail } from '../demo/cloudtrail-generator.ts';
import { eventually, kwCli, scheduleKeyDeletionRecord, startServe, type ServeProcess } from './helpers/serve.ts';
import { tempDir } from './helpers/temp-dir.ts';

const dir = tempDir('keywatch-serve-');
const dataDir = join(dir.path, 'data');
let svc: ServeProcess;

const config = {
  dataDir,
  http: { listen: '127.0.0.1:0' },
  service: {
    ops: { listen: '127.0.0.1:0' },
    collector: { insecureNoAuth: true },
    // The schedules would only add noise to what is measured here; the ingest trigger does the work.
    schedules: { detect: false, slo: false, deliver: false },
    detectOnIngest: { debounceMs: 300, pollMs: 100 },
  },
};

const ndjson = (records: readonly unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const push = (body: string) => fetch(`${svc.addresses.http}/v1/ingest/auto`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });

/** The value of one series in Prometheus text, or undefined when absent. */
function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

beforeAll(async () => {
  svc = await startServe({ dir: dir.path, config });
}, 90_000);

afterAll(async () => {
  await svc?.stop('SIGKILL');
  dir.remove();
});

describe('keywatch serve', () => {
  it('answers /healthz at once and turns /readyz ready once the store, its migrations and the collector are up', async () => {
    const h = await fetch(`${svc.addresses.ops}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: 'ok', pid: svc.pid });
    const ready = await svc.waitReady();
    expect(ready).toMatchObject({ status: 'ready', checks: { store: { ready: true }, migrations: { ready: true }, http: { ready: true } } });
    expect(svc.addresses.localApi).toBe(join(dataDir, 'serve.sock'));
    expect(statSync(join(dataDir, 'serve.sock')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'serve.token')).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('counts events pushed over HTTP in /metrics: received, normalized, dropped and quarantined by reason, and store latency', async () => {
    const good = [...generateCloudTrail({ start: new Date(Date.now() - 2 * 86_400_000), days: 1, seed: 3 })].slice(0, 50);
    const body = ndjson(good) + 'not json at all\n' + JSON.stringify({ eventSource: 's3.amazonaws.com', eventName: 'GetObject', eventTime: new Date().toISOString() }) + '\n';
    const r = await push(body);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ read: 52, normalized: 50, quarantined: { invalid_json: 1 }, dropped: { non_kms_event: 1 } });
    const text = await (await fetch(`${svc.addresses.ops}/metrics`)).text();
    expect(series(text, 'keywatch_events_received_total', { transport: 'http' })).toBe(52);
    expect(series(text, 'keywatch_events_normalized_total', { transport: 'http' })).toBe(50);
    expect(series(text, 'keywatch_events_quarantined_total', { transport: 'http', reason: 'invalid_json' })).toBe(1);
    expect(series(text, 'keywatch_events_dropped_total', { transport: 'http', reason: 'non_kms_event' })).toBe(1);
    expect(series(text, 'keywatch_http_requests_total', { status: '200' })).toBeGreaterThanOrEqual(1);
    expect(series(text, 'keywatch_store_operation_seconds_count', { operation: 'insert', result: 'ok' })).toBeGreaterThan(0);
    expect(series(text, 'keywatch_component_ready', { component: 'store' })).toBe(1);
    expect(text).toMatch(/^keywatch_process_resident_memory_bytes \d+/m);
    for (const name of ['keywatch_consumer_lag', 'keywatch_detector_run_seconds', 'keywatch_alerts_emitted_total', 'keywatch_probe_calls_total', 'keywatch_spool_bytes']) expect(text).toContain(`# TYPE ${name} `);
  }, 60_000);

  it('brings a planted ScheduleKeyDeletion record to the alert feed, which `alerts list` reads from another process through the local API', async () => {
    const r = await push(ndjson([scheduleKeyDeletionRecord(new Date())]));
    expect(r.status).toBe(200);
    expect((await r.json()) as object).toMatchObject({ inserted: 1 });
    const alert = await eventually(
      () => {
        const l = kwCli(svc.configPath, 'alerts', 'list', '--json', '--detector', 'key-disabled-or-deleted');
        expect(l.err).toBe('');
        expect(l.code).toBe(0);
        const rows = l.out.split('\n').filter(Boolean).map((x) => JSON.parse(x) as { id: string; detector: string; title: string });
        return rows.find((a) => a.title.includes('0b9d7f5e-3c1a-4b8d-9f6e-4c2a0e8d6b50'));
      },
      { timeoutMs: 45_000, intervalMs: 250, what: 'the alert in alerts list' },
    );
    expect(alert.detector).toBe('key-disabled-or-deleted');
    const text = await (await fetch(`${svc.addresses.ops}/metrics`)).text();
    expect(series(text, 'keywatch_alerts_emitted_total', { severity: 'high', detector: 'key-disabled-or-deleted', status: 'open' })).toBeGreaterThanOrEqual(1);
    expect(series(text, 'keywatch_detector_run_seconds_count', { detector: 'key-disabled-or-deleted' })).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('runs status and sql from another process while the service holds the store, and keeps sql read-only', () => {
    const s = kwCli(svc.configPath, 'status');
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/held by keywatch serve, pid \d+, through its local API/);
    const q = kwCli(svc.configPath, 'sql', '--format', 'json', "SELECT count() AS n FROM key_events WHERE operation = 'schedule_deletion'");
    expect(q.err).toBe('');
    expect(JSON.parse(q.out)).toEqual([{ n: '1' }]);
    const w = kwCli(svc.configPath, 'sql', 'DROP TABLE key_events');
    expect(w.code).toBe(2);
    expect(w.err).toMatch(/^keywatch: keywatch sql is read-only/);
  }, 60_000);

  it('refuses `ingest` from another process in one line that says where to send the records instead', () => {
    const f = join(dir.path, 'one.ndjson');
    writeFileSync(f, ndjson([scheduleKeyDeletionRecord(new Date(), 1)]));
    const r = kwCli(svc.configPath, 'ingest', f);
    expect(r.code).toBe(4);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/keywatch serve holds the embedded store .*HTTP collector/);
  }, 30_000);

  it('on SIGTERM answers the request in flight, exits 0 within 10 s and removes its socket and token', async () => {
    const records = [...generateCloudTrail({ start: new Date(Date.now() - 3 * 86_400_000), days: 1, seed: 5 })].slice(0, 2000);
    const inflight = push(ndjson(records));
    // The write of a batch takes most of a second on this machine; the signal lands during it.
    await new Promise((r) => setTimeout(r, 150));
    const stopped = svc.stop('SIGTERM');
    const answer = await inflight;
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { read: number }).read).toBe(2000);
    const { code, ms } = await stopped;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(existsSync(join(dataDir, 'serve.sock'))).toBe(false);
    expect(existsSync(join(dataDir, 'serve.token'))).toBe(false);
    expect(svc.logs()).toMatch(/"msg":"shutdown complete"/);
    // The events of the answered request are in the store.
    const q = kwCli(svc.configPath, 'sql', '--format', 'json', 'SELECT count() AS n FROM key_events');
    expect(Number((JSON.parse(q.out) as { n: string }[])[0]?.n)).toBeGreaterThanOrEqual(2000);
  }, 60_000);

  it('refuses a YAML config with a misspelt key or a bad cron, naming the key path, with exit 2', () => {
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, 'dataDir: ./x\nservice:\n  ops:\n    lisen: 127.0.0.1:9464\n  schedules:\n    slo: "every five minutes"\n');
    const r = kwCli(bad, 'serve');
    expect(r.code).toBe(2);
    expect(r.err).toContain('service.ops.lisen: unknown key');
    expect(r.err).toContain('service.schedules.slo');
    expect(r.err.trim().split('\n')).toHaveLength(1);
  }, 30_000);
});
