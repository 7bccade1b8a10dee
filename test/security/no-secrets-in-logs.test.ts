import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSoftHsmToken, missingSoftHsmMustFail, MISSING_SOFTHSM_MESSAGE, SOFTHSM_MODULE, softHsmAvailable } from '../../attestation/pkcs11/testing.ts';
import { filesUnder, findSecrets, plantSecret, type PlantedSecret, type SecretHit } from '../helpers/secrets.ts';
import { scheduleKeyDeletionRecord } from '../helpers/serve.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// Real keywatch commands as subprocesses, at debug level with --verbose, handed planted secrets
// (tokens, passwords, webhook secrets, a PIN, key material in records) and driven into their
// error paths; stdout, stderr and the files they write (apart from the store, which is data, and
// the config that holds the secrets) must not carry any of them in any encoding.

const BIN = new URL('../../bin/keywatch.js', import.meta.url).pathname;
const root = tempDir('keywatch-security-secrets-');
afterAll(() => root.remove());

interface Run {
  code: number | null;
  out: string;
  err: string;
}

const baseEnv = (): NodeJS.ProcessEnv => ({ ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEYWATCH_'))), KEYWATCH_LOG_LEVEL: 'debug' });

/**
 * Runs keywatch in `cwd`; `drive` may interact while it runs (it gets the stdout seen so far)
 * and resolve to stop it with SIGTERM.
 */
function kw(cwd: string, args: string[], o: { env?: NodeJS.ProcessEnv; drive?: (output: () => string) => Promise<void> } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, '--verbose', ...args], { cwd, env: { ...baseEnv(), ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return (async () => {
    if (o.drive) {
      await Promise.race([o.drive(() => out + err), exited]);
      child.kill('SIGTERM');
    }
    const code = await exited;
    clearTimeout(killer);
    return { code, out, err };
  })();
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

/** Secrets found in a run's output and in the files under `dir` (store and config left out). */
function leaks(r: Run, secrets: PlantedSecret[], dir?: string): SecretHit[] {
  const hits = [...findSecrets(r.out, secrets, 'stdout'), ...findSecrets(r.err, secrets, 'stderr')];
  if (dir) {
    for (const [path, text] of filesUnder(dir, (p) => /\/store(-\w+)?$/.test(p) || p.endsWith('keywatch.config.json'))) hits.push(...findSecrets(text, secrets, path));
  }
  return hits;
}

function workDir(name: string, config?: unknown): string {
  const d = join(root.path, name);
  mkdirSync(d, { recursive: true });
  if (config !== undefined) writeFileSync(join(d, 'keywatch.config.json'), JSON.stringify(config));
  return d;
}

describe('no secrets in logs', () => {
  it('keywatch collect logs neither its tokens nor tokens presented to it, valid, wrong or in a query string', async () => {
    const configured = plantSecret('configured HTTP token', { prefix: 'cfg-token-' });
    const fromEnv = plantSecret('HTTP token from the environment', { prefix: 'env-token-' });
    const wrong = plantSecret('wrong token presented', { prefix: 'wrong-token-' });
    const d = workDir('collect', { http: { tokens: [{ tenant: 'acme', token: configured.value }] } });
    const statuses: number[] = [];
    const r = await kw(d, ['--data-dir', join(d, 'store'), 'collect', '--listen', '127.0.0.1:0'], {
      env: { KEYWATCH_HTTP_TOKEN_GLOBEX: fromEnv.value },
      drive: async (output) => {
        await until(() => /listening on http:\/\/\S+/.test(output()), 40_000);
        const address = /listening on (http:\/\/\S+)/.exec(output())?.[1];
        expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        const record = JSON.stringify({ source: 'pkcs11-probe', event_time: '2026-11-20T10:00:00Z', operation: 'decrypt', outcome: 'success', key_id: 'k1' });
        const send = async (authorization: string, query = '') => {
          const res = await fetch(`${address}/v1/ingest/keywatch-json${query}`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-ndjson' }, body: `${record}\n` });
          statuses.push(res.status);
          await res.arrayBuffer();
        };
        await send(`Bearer ${configured.value}`);
        await send(`Bearer ${fromEnv.value}`);
        await send(`Bearer ${wrong.value}`);
        await send(`Bearer ${configured.value}x`);
        await send('Basic ' + Buffer.from(`user:${wrong.value}`).toString('base64'));
        await send('', `?access_token=${wrong.value}&token=${configured.value}`);
      },
    });
    expect(statuses).toEqual([200, 200, 401, 401, 401, 401]);
    expect(r.code).toBe(0);
    // The run logged its requests at debug level: the scan looked at real log lines.
    expect(r.err).toMatch(/"msg":"http request"/);
    expect(leaks(r, [configured, fromEnv, wrong], d)).toEqual([]);
  }, 90_000);

  it('prints no ClickHouse password, whether it came in --clickhouse-url, KEYWATCH_CLICKHOUSE_PASSWORD or a URL the config rejects', async () => {
    const inUrl = plantSecret('ClickHouse password in --clickhouse-url', { prefix: 'chpw-url-' });
    const inEnv = plantSecret('ClickHouse password in KEYWATCH_CLICKHOUSE_PASSWORD', { prefix: 'chpw-env-' });
    const inBadUrl = plantSecret('ClickHouse password in an invalid URL', { prefix: 'chpw-bad-' });
    const d = workDir('clickhouse');
    const runs = await Promise.all([
      kw(d, ['--clickhouse-url', `http://keywatch:${inUrl.value}@127.0.0.1:1`, 'status']),
      kw(d, ['sql', 'SELECT 1'], { env: { KEYWATCH_CLICKHOUSE_URL: 'http://127.0.0.1:1', KEYWATCH_CLICKHOUSE_USER: 'keywatch', KEYWATCH_CLICKHOUSE_PASSWORD: inEnv.value } }),
      kw(d, ['--clickhouse-url', `http://keywatch:${inBadUrl.value}@127.0.0.1:99999/`, 'status']),
    ]);
    for (const r of runs) expect(r.code).not.toBe(0);
    expect(runs[0]?.err).toMatch(/cannot reach ClickHouse server at http:\/\/127\.0\.0\.1:1/);
    expect(runs.flatMap((r) => leaks(r, [inUrl, inEnv, inBadUrl], d))).toEqual([]);
  }, 90_000);

  it('keywatch ingest logs no key material from records it quarantines, and detect delivering to webhooks that are down logs no webhook secret or secret URL part', async () => {
    const pem = plantSecret('PEM private key in a record', {
      value: `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC${'7'.repeat(8)}${Math.random().toString(36).slice(2)}\nQ29uZmlkZW50aWFsS2V5TWF0ZXJpYWxEb05vdExvZzEyMzQ1Njc4OQ\n-----END PRIVATE KEY-----\n`,
    });
    const blob = plantSecret('base64 key blob in a record', { value: Buffer.from(`raw-aes-key-${Math.random()}-0123456789abcdef`).toString('base64') });
    const hookSecret = plantSecret('webhook signing secret', { prefix: 'hook-secret-' });
    const pagerSecret = plantSecret('webhook secret from KEYWATCH_WEBHOOK_SECRET_PAGER', { prefix: 'pager-secret-' });
    const urlPassword = plantSecret('password in a webhook URL', { prefix: 'hookpw-' });
    const urlPath = plantSecret('secret path of a webhook URL', { prefix: 'T0PATH' });
    const urlQuery = plantSecret('token in a webhook URL query', { prefix: 'qtoken-' });
    const d = workDir('detect', {
      alerts: {
        jsonlFile: 'alerts.jsonl',
        webhook: { url: `http://127.0.0.1:1/services/${urlPath.value}`, secret: hookSecret.value, maxAttempts: 1 },
        webhooks: [{ name: 'pager', url: `http://127.0.0.1:1/notify?token=${urlQuery.value}`, maxAttempts: 1 }],
      },
    });
    const records = [
      { source: 'pkcs11-probe', event_time: '2026-11-20T10:00:00Z', operation: 'disable_key', outcome: 'success', key_id: 'key-1', tenant: 'acme' },
      // Quarantined: an unknown field, and an attribute that is not a string.
      { source: 'pkcs11-probe', event_time: '2026-11-20T10:00:01Z', operation: 'decrypt', outcome: 'success', private_key: pem.value },
      { source: 'pkcs11-probe', event_time: '2026-11-20T10:00:02Z', operation: 'decrypt', outcome: 'success', attributes: { key: { blob: blob.value } } },
    ];
    const file = join(d, 'records.ndjson');
    writeFileSync(file, records.map((x) => JSON.stringify(x)).join('\n') + `\n${pem.value.replace(/\n/g, ' ')} not json ${blob.value}\n`);
    const ingest = await kw(d, ['--data-dir', join(d, 'store'), 'ingest', '--json', '--format', 'keywatch-json', file]);
    expect(ingest.code).toBe(0);
    expect(JSON.parse(ingest.out)).toMatchObject({ inserted: 1, quarantined: { unknown_field: 1, bad_field_type: 1, invalid_json: 1 } });
    writeFileSync(file, '');

    const detect = await kw(d, ['--data-dir', join(d, 'store'), 'detect', '--from', '2026-11-20T00:00:00Z', '--to', '2026-11-21T00:00:00Z', '--only', 'key-disabled-or-deleted', '--deliver-wait', '0'], {
      env: { KEYWATCH_WEBHOOK_SECRET_PAGER: pagerSecret.value },
    });
    // Delivery failed (the webhooks are down) and was logged, without the secrets.
    expect(detect.err).toMatch(/alert delivery/);

    // A password in a webhook URL cannot work (fetch refuses it, repeating the URL): the config refuses it, without repeating it.
    const withPassword = join(d, 'password.keywatch.config.json');
    writeFileSync(withPassword, JSON.stringify({ alerts: { webhook: { url: `http://hooks:${urlPassword.value}@127.0.0.1:1/hook`, secret: hookSecret.value } } }));
    const refused = await kw(d, ['--config', withPassword, '--data-dir', join(d, 'store'), 'detect', '--only', 'key-disabled-or-deleted']);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/alerts\.webhook\.url: no user:password@ in the URL/);

    const secrets = [pem, blob, hookSecret, pagerSecret, urlPassword, urlPath, urlQuery];
    expect([...leaks(ingest, secrets, d), ...leaks(detect, secrets, d), ...leaks(refused, secrets, d)]).toEqual([]);
  }, 120_000);

  it('keywatch consume logs no Kafka SASL password while it cannot reach the brokers', async () => {
    const sasl = plantSecret('Kafka SASL password', { prefix: 'saslpw-' });
    const d = workDir('consume', { kafka: { brokers: ['127.0.0.1:1'], topics: [{ topic: 'kms-audit' }], sasl: { mechanism: 'plain', username: 'keywatch', password: sasl.value } } });
    const r = await kw(d, ['--data-dir', join(d, 'store'), 'consume'], {
      drive: (output) => until(() => /retrying|ECONNREFUSED|Connection error/i.test(output()), 30_000),
    });
    expect(r.err).toMatch(/retrying|ECONNREFUSED|Connection error/i);
    expect(leaks(r, [sasl], d)).toEqual([]);
  }, 90_000);

  it('keywatch serve logs neither its tokens, the local API token nor a webhook secret, through intake, a wrong token, detection, failed delivery and shutdown', async () => {
    const token = plantSecret('serve HTTP token', { prefix: 'serve-token-' });
    const wrong = plantSecret('wrong token presented to serve', { prefix: 'serve-wrong-' });
    const hookSecret = plantSecret('serve webhook secret', { prefix: 'serve-hook-' });
    const d = workDir('serve', {
      http: { listen: '127.0.0.1:0', tokens: [{ tenant: 'acme', token: token.value }], acknowledge: 'spooled' },
      tenants: { '111122223333': 'acme' },
      alerts: { webhook: { url: 'http://127.0.0.1:1/hook', secret: hookSecret.value, maxAttempts: 1 } },
      service: { ops: { listen: '127.0.0.1:0' } },
    });
    const statuses: number[] = [];
    let apiToken: PlantedSecret | undefined;
    const r = await kw(d, ['--config', join(d, 'keywatch.config.json'), '--data-dir', join(d, 'store'), 'serve'], {
      drive: async (output) => {
        await until(() => /"event":"started"/.test(output()), 60_000);
        const started = JSON.parse(/^\{"event":"started".*$/m.exec(output())?.[0] ?? '{}') as { http?: string };
        expect(started.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        apiToken = { name: 'local API token', value: readFileSync(join(d, 'store', 'serve.token'), 'utf8').trim() };
        const record = JSON.stringify(scheduleKeyDeletionRecord(new Date()));
        const send = async (authorization: string) => {
          const res = await fetch(`${started.http}/v1/ingest/aws-cloudtrail`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-ndjson' }, body: `${record}\n` });
          statuses.push(res.status);
          await res.arrayBuffer();
        };
        await send(`Bearer ${token.value}`);
        await send(`Bearer ${wrong.value}`);
        // The detectors run on the new event and the delivery to the dead webhook fails and is logged.
        await until(() => /alert delivery/.test(output()), 60_000);
      },
    });
    expect(statuses).toEqual([202, 401]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/alert delivery/);
    expect(apiToken?.value.length).toBeGreaterThan(16);
    expect(leaks(r, [token, wrong, hookSecret, apiToken as PlantedSecret], d).filter((h) => !h.where.endsWith('serve.token'))).toEqual([]);
  }, 120_000);

  const hsm = softHsmAvailable();
  it.runIf(!hsm && missingSoftHsmMustFail())('needs SoftHSM2 in CI for the PIN case', () => {
    throw new Error(MISSING_SOFTHSM_MESSAGE);
  });
  it.runIf(hsm)('keywatch attest pkcs11 logs neither a wrong PIN nor the right one', async () => {
    const right = plantSecret('PKCS#11 user PIN', { prefix: 'pin-' });
    const wrong = plantSecret('wrong PKCS#11 PIN', { prefix: 'pin-' });
    const token = createSoftHsmToken(`leak-${right.value.slice(-6)}`, right.value);
    try {
      const d = workDir('pkcs11');
      const args = (store: string) => ['--data-dir', join(d, store), 'attest', 'pkcs11', '--module', SOFTHSM_MODULE, '--token', token.label, '--pin-env', 'KW_TEST_PIN', '--label', 'no-such-key'];
      const env = { SOFTHSM2_CONF: process.env.SOFTHSM2_CONF };
      const [bad, good] = await Promise.all([kw(d, args('store-a'), { env: { ...env, KW_TEST_PIN: wrong.value } }), kw(d, args('store-b'), { env: { ...env, KW_TEST_PIN: right.value } })]);
      expect(bad.code).not.toBe(0);
      expect(bad.out + bad.err).toMatch(/CKR_PIN_INCORRECT/);
      // Logged in: it got as far as looking for the key.
      expect(good.out + good.err).toMatch(/PKCS11_KEY_NOT_FOUND/);
      expect([...leaks(bad, [right, wrong], d), ...leaks(good, [right, wrong], d)]).toEqual([]);
    } finally {
      token.remove();
    }
  }, 90_000);
});
