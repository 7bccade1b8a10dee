import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import type { AlertRow } from '../engine.ts';
import type { OutboxEntry, RetryPolicy } from './outbox.ts';
import { freePort, startReceiver, verifySignature, type Receiver, type Reply } from './testing/webhook-receiver.ts';
import { parseRetryAfter, signBody, webhookDestination } from './webhook.ts';

const SECRET = 'whsec-test-0123456789abcdef';
const CLOCK = fixedClock('2026-03-02T12:00:00.000Z');
const RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 };

const alert: AlertRow = {
  alert_id: '0123456789abcdef0123456789abcdef',
  detected_time: '2026-03-02 12:00:00.000',
  detector: 'key-disabled-or-deleted',
  title: 'KMS key scheduled for deletion',
  severity: 'high',
  score: 80,
  tenant: 'acme',
  key_id: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  principal: 'arn:aws:iam::111122223333:user/kms-admin',
  first_time: '2026-03-02 08:14:52.000',
  last_time: '2026-03-02 08:14:52.000',
  event_count: 1,
  event_ids: ['e-1'],
  evidence: '{"pending_window_days":7}',
  runbook: 'Confirm the change ticket; cancel the deletion if there is none.',
  status: 'open',
  suppressed_by: '',
};
const entry = (over: Partial<OutboxEntry> = {}): OutboxEntry => ({
  destination: 'webhook',
  alertId: alert.alert_id,
  revision: 'r1',
  enqueuedTime: '2026-03-02 12:00:00.000',
  alert,
  attempts: 0,
  version: 0,
  activity: 'create',
  idempotencyKey: `${alert.alert_id}:r1`,
  ...over,
});

let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

describe('the webhook destination', () => {
  it('POSTs the JSONL object with a signature over the raw body, a timestamp, the alert id and an idempotency key', async () => {
    receiver = await startReceiver({ secret: SECRET });
    const hook = webhookDestination({ url: receiver.url, secret: SECRET, format: 'json', timeoutMs: 5000, retry: RETRY }, CLOCK);
    expect(await hook.send([entry()])).toEqual([{ result: 'delivered', status: 204 }]);
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0] as (typeof receiver.requests)[number];
    expect(req.method).toBe('POST');
    expect(req.verified).toBe(true);
    expect(req.headers['x-keywatch-signature']).toBe(signBody(SECRET, req.body));
    expect(req.headers).toMatchObject({
      'content-type': 'application/json',
      'x-keywatch-timestamp': String(Date.parse('2026-03-02T12:00:00Z') / 1000),
      'x-keywatch-alert-id': alert.alert_id,
      'x-keywatch-activity': 'create',
      'idempotency-key': `${alert.alert_id}:r1`,
    });
    expect(JSON.parse(req.body)).toMatchObject({ id: alert.alert_id, detector: alert.detector, severity: 'high', evidence: { pending_window_days: 7 }, runbook: alert.runbook });
    // A receiver holding another secret rejects it.
    expect(verifySignature('another-secret-0123456789', req.body, req.headers['x-keywatch-signature'] as string)).toBe(false);
  });

  it('sends an OCSF Detection Finding when the format is ocsf, with update activity for a revised alert', async () => {
    receiver = await startReceiver({ secret: SECRET });
    const hook = webhookDestination({ url: receiver.url, secret: SECRET, format: 'ocsf', timeoutMs: 5000, retry: RETRY }, CLOCK);
    await hook.send([entry({ activity: 'update', revision: 'r2', idempotencyKey: `${alert.alert_id}:r2` })]);
    const body = JSON.parse(receiver.requests[0]?.body ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({ class_uid: 2004, activity_id: 2, type_uid: 200402, finding_info: { uid: alert.alert_id } });
    expect(receiver.requests[0]?.headers['x-keywatch-activity']).toBe('update');
  });

  it('retries 5xx, 408 and 429 (with Retry-After), and gives up on other 4xx and on redirects', async () => {
    const replies: Reply[] = [
      { status: 503, body: 'maintenance' },
      { status: 408 },
      { status: 429, headers: { 'retry-after': '120' } },
      { status: 400, body: '{"error":"bad alert"}' },
      { status: 401 },
      { status: 301, headers: { location: 'https://elsewhere.example/hook' } },
    ];
    receiver = await startReceiver({ secret: SECRET, reply: (_r, n) => replies[n - 1] ?? { status: 204 } });
    const hook = webhookDestination({ url: receiver.url, secret: SECRET, format: 'json', timeoutMs: 5000, retry: RETRY }, CLOCK);
    const outcomes = await hook.send(replies.map(() => entry()));
    expect(outcomes).toEqual([
      { result: 'retry', status: 503, error: 'HTTP 503: maintenance' },
      { result: 'retry', status: 408, error: 'HTTP 408' },
      { result: 'retry', status: 429, error: 'HTTP 429', retryAfterMs: 120_000 },
      { result: 'dead', status: 400, error: 'HTTP 400: {"error":"bad alert"}' },
      { result: 'dead', status: 401, error: 'HTTP 401' },
      { result: 'dead', status: 301, error: 'HTTP 301 redirect; configure the final URL (redirects are not followed)' },
    ]);
  });

  it('retries a refused connection and a receiver that does not answer in time, naming neither the secret nor the URL', async () => {
    const port = await freePort();
    const tokenUrl = `http://127.0.0.1:${port}/hooks/T0KEN-IN-PATH?token=also-secret`;
    const down = webhookDestination({ url: tokenUrl, secret: SECRET, format: 'json', timeoutMs: 5000, retry: RETRY }, CLOCK);
    const [refused] = await down.send([entry()]);
    expect(refused).toEqual({ result: 'retry', error: 'network error: ECONNREFUSED' });

    receiver = await startReceiver({ secret: SECRET, reply: () => 'hang' });
    const slow = webhookDestination({ url: `${receiver.url}?token=also-secret`, secret: SECRET, format: 'json', timeoutMs: 300, retry: RETRY }, CLOCK);
    const [timedOut] = await slow.send([entry()]);
    expect(timedOut).toEqual({ result: 'retry', error: 'no response within 300 ms' });
    for (const o of [refused, timedOut]) {
      const text = JSON.stringify(o);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('T0KEN');
      expect(text).not.toContain('also-secret');
    }
  });

  it('cuts a URL that a fetch error repeats down to its origin, so no password, path or query reaches the logs', async () => {
    // fetch refuses a URL with credentials and names the URL in its message; the config refuses such URLs first.
    const hook = webhookDestination({ url: 'http://hooks:pw-in-url-0123@127.0.0.1:1/hooks/T0KEN-IN-PATH?token=also-secret', secret: SECRET, format: 'json', timeoutMs: 5000, retry: RETRY }, CLOCK);
    const [out] = await hook.send([entry()]);
    expect(out).toMatchObject({ result: 'retry', error: expect.stringContaining('http://127.0.0.1:1/…') });
    const text = JSON.stringify(out);
    for (const s of ['pw-in-url-0123', 'hooks:', 'T0KEN', 'also-secret']) expect(text).not.toContain(s);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = new Date('2026-03-02T12:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 02 Mar 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
