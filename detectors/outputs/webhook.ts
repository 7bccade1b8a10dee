import { createHmac } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { alertToJson } from './jsonl.ts';
import { alertToOcsf } from './ocsf.ts';
import type { Destination, OutboxEntry, RetryPolicy, SendOutcome } from './outbox.ts';

/**
 * The webhook destination: one HTTP POST per alert, its JSON body (the JSONL object, or an OCSF
 * Detection Finding) signed with HMAC-SHA256.
 *
 * Headers:
 * - `X-Keywatch-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`
 * - `X-Keywatch-Timestamp`: Unix seconds of this attempt
 * - `X-Keywatch-Alert-Id`, `X-Keywatch-Activity` (`create` or `update`)
 * - `Idempotency-Key: <alert id>:<revision>`, the same on every retry of one alert revision;
 *   delivery is at least once, so receivers dedupe on it.
 *
 * 2xx is delivered. A network error, a timeout, 5xx, 408 and 429 are retried (Retry-After is
 * honoured); any other status is dead: recorded with the status and not retried. Redirects are
 * not followed (the body is signed for the configured URL): a 3xx is dead. Neither the secret
 * nor the URL (which may carry a token) appears in errors.
 *
 * @example
 *   const hook = webhookDestination({ url, secret, format: 'json', timeoutMs: 10_000, retry }, systemClock);
 */
export interface WebhookSettings {
  url: string;
  /** The HMAC-SHA256 key. */
  secret: string;
  format: 'json' | 'ocsf';
  timeoutMs: number;
  retry: RetryPolicy;
}

export const SIGNATURE_HEADER = 'x-keywatch-signature';
export const TIMESTAMP_HEADER = 'x-keywatch-timestamp';
export const ALERT_ID_HEADER = 'x-keywatch-alert-id';
export const ACTIVITY_HEADER = 'x-keywatch-activity';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** `sha256=<hex>` of the raw body. Receivers compute the same and compare in constant time. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The body sent for an entry: the JSONL object or the OCSF finding, as one JSON document. */
export function renderAlert(entry: OutboxEntry, format: 'json' | 'ocsf'): string {
  return JSON.stringify(format === 'ocsf' ? alertToOcsf(entry.alert, entry.activity, { revision: entry.revision }) : alertToJson(entry.alert));
}

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP-date (RFC 9110, 10.2.3). */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now.getTime());
}

const RESPONSE_EXCERPT = 200;

/** The first bytes of a response body as one line, without reading a large body to its end. */
async function excerpt(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < RESPONSE_EXCERPT * 4) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // The excerpt is a courtesy; the status decides.
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > RESPONSE_EXCERPT ? `${text.slice(0, RESPONSE_EXCERPT)}...` : text;
}

/** A fetch failure as one line: the socket error's code, or the timeout. Never the URL. */
function networkError(e: unknown, timeoutMs: number): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `no response within ${timeoutMs} ms`;
  const cause = err?.cause;
  if (cause?.code) return `network error: ${cause.code}`;
  // The message lands in logs and the outbox; fetch's messages can repeat the URL, whose path or
  // query may be the receiver's secret (Slack-style hooks), so URLs are cut to their origin.
  return `network error: ${withoutUrlSecrets(cause?.message ?? err?.message ?? String(e))}`;
}

function withoutUrlSecrets(text: string): string {
  return text.replace(/\b(https?):\/\/(?:[^\s/?#@]*@)?([^\s/?#]+)[^\s]*/gi, (_m, scheme: string, host: string) => `${scheme}://${host}/…`);
}

/** Classifies an HTTP status: 2xx delivered; 5xx, 408 and 429 may pass; the rest will not. */
async function outcomeOf(res: Response, now: Date): Promise<SendOutcome> {
  const status = res.status;
  if (status >= 200 && status < 300) {
    void res.body?.cancel().catch(() => undefined);
    return { result: 'delivered', status };
  }
  const body = await excerpt(res);
  const error = `HTTP ${status}${body ? `: ${body}` : ''}`;
  if (status >= 500 || status === 408 || status === 429) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now);
    return { result: 'retry', error, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  if (status >= 300 && status < 400) return { result: 'dead', error: `HTTP ${status} redirect; configure the final URL (redirects are not followed)`, status };
  return { result: 'dead', error, status };
}

export function webhookDestination(s: WebhookSettings, clock: Clock): Destination {
  if (!s.secret) throw new Error('webhookDestination needs a secret');
  const sendOne = async (entry: OutboxEntry): Promise<SendOutcome> => {
    const body = renderAlert(entry, s.format);
    const now = clock.now();
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'keywatch',
      [SIGNATURE_HEADER]: signBody(s.secret, body),
      [TIMESTAMP_HEADER]: String(Math.floor(now.getTime() / 1000)),
      [ALERT_ID_HEADER]: entry.alertId,
      [ACTIVITY_HEADER]: entry.activity,
      [IDEMPOTENCY_HEADER]: entry.idempotencyKey,
    };
    let res: Response;
    try {
      res = await fetch(s.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(s.timeoutMs) });
    } catch (e) {
      return { result: 'retry', error: networkError(e, s.timeoutMs) };
    }
    try {
      return await outcomeOf(res, clock.now());
    } catch (e) {
      return { result: 'retry', error: networkError(e, s.timeoutMs) };
    }
  };
  return {
    id: 'webhook',
    retry: s.retry,
    // One at a time: receivers see alerts in order, and a slow receiver is not flooded.
    send: async (entries) => {
      const out: SendOutcome[] = [];
      for (const e of entries) out.push(await sendOne(e));
      return out;
    },
    close: async () => undefined,
  };
}
