import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startReceiver, type Receiver } from '../detectors/outputs/testing/webhook-receiver.ts';
import { eventually, scheduleKeyDeletionRecord, startServe, type ServeProcess } from './helpers/serve.ts';
import { tempDir } from './helpers/temp-dir.ts';

const dir = tempDir('keywatch-serve-hook-');
const secret = 'a-test-secret-of-32-characters!!';
let svc: ServeProcess | undefined;
let receiver: Receiver | undefined;

afterAll(async () => {
  await svc?.stop('SIGKILL');
  await receiver?.close();
  dir.remove();
});

describe('keywatch serve alert delivery', () => {
  it('delivers an alert exactly once to a webhook that refused connections when the alert was raised and came up later', async () => {
    const port = await freePort();
    svc = await startServe({
      dir: dir.path,
      config: {
        dataDir: join(dir.path, 'data'),
        http: { listen: '127.0.0.1:0' },
        alerts: { webhook: { url: `http://127.0.0.1:${port}/hooks/keywatch`, secret, timeoutMs: 2_000, baseDelayMs: 500, maxDelayMs: 1_000 } },
        service: {
          ops: { listen: '127.0.0.1:0' },
          collector: { insecureNoAuth: true },
          // Retries every second (cron with seconds), so the test does not wait a minute.
          schedules: { detect: false, slo: false, deliver: '* * * * * *' },
          detectOnIngest: { debounceMs: 200, pollMs: 100 },
        },
      },
    });
    await svc.waitReady();
    const r = await fetch(`${svc.addresses.http}/v1/ingest/aws-cloudtrail`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: JSON.stringify(scheduleKeyDeletionRecord(new Date())) + '\n' });
    expect(r.status).toBe(200);

    // Nothing listens on the port yet: the first sends fail and stay in the outbox.
    const failedSends = () =>
      fetch(`${svc!.addresses.ops}/metrics`)
        .then((m) => m.text())
        .then((t) => Number(/^keywatch_alert_deliveries_total\{destination="webhook",result="failed"\} (\d+)/m.exec(t)?.[1] ?? 0));
    await eventually(async () => ((await failedSends()) >= 1 ? true : undefined), { timeoutMs: 45_000, what: 'a failed webhook send' });

    receiver = await startReceiver({ secret, port });
    const first = await eventually(() => receiver!.requests[0], { timeoutMs: 30_000, intervalMs: 200, what: 'the webhook delivery' });
    // Several more delivery passes run; none may send the alert again.
    await new Promise((res) => setTimeout(res, 4_000));
    const ids = receiver.requests.map((q) => (JSON.parse(q.body) as { id: string }).id);
    const alertId = (JSON.parse(first.body) as { id: string; detector: string }).id;
    expect(first.verified).toBe(true);
    expect((JSON.parse(first.body) as { detector: string }).detector).toBe('key-disabled-or-deleted');
    expect(ids.filter((id) => id === alertId)).toHaveLength(1);
    expect(receiver.unique.size).toBe(1);
    const text = await (await fetch(`${svc.addresses.ops}/metrics`)).text();
    expect(/^keywatch_alert_deliveries_total\{destination="webhook",result="delivered"\} 1$/m.test(text)).toBe(true);
    const { code } = await svc.stop('SIGTERM');
    expect(code).toBe(0);
  }, 150_000);
});
