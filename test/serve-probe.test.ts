import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPkcs11Session } from '../attestation/pkcs11/session.ts';
import { MISSING_SOFTHSM_MESSAGE, SOFTHSM_MODULE, createSoftHsmToken, missingSoftHsmMustFail, softHsmAvailable, type SoftHsmToken } from '../attestation/pkcs11/testing.ts';
import { eventually, kwCli, startServe, type ServeProcess } from './helpers/serve.ts';
import { tempDir } from './helpers/temp-dir.ts';

const available = softHsmAvailable();
const dir = tempDir('keywatch-serve-probe-');
let token: SoftHsmToken | undefined;
let svc: ServeProcess | undefined;

afterAll(async () => {
  await svc?.stop('SIGKILL');
  token?.remove();
  dir.remove();
});

describe('keywatch serve probe schedule', () => {
  it.runIf(!available && !missingSoftHsmMustFail())(`skips the live probe schedule: ${MISSING_SOFTHSM_MESSAGE}`, () => undefined);
  it.runIf(!available && missingSoftHsmMustFail())('requires SoftHSM2 in CI', () => {
    throw new Error(MISSING_SOFTHSM_MESSAGE);
  });

  it.runIf(available)('probes the HSM on its cron schedule, counts the calls in /metrics and stores them as pkcs11-probe events', async () => {
    token = createSoftHsmToken(`serve-${randomBytes(3).toString('hex')}`);
    const opened = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { label: token.label }, pin: token.pin });
    if (!opened.ok) throw new Error(opened.error.message);
    opened.value.generateAesKey(32, { label: 'kek', token: true, extractable: false, sensitive: true, wrap: true });
    opened.value.generateAesKey(32, { label: 'dek', token: true, extractable: false, sensitive: true });
    opened.value.close();
    svc = await startServe({
      dir: dir.path,
      env: { SOFTHSM2_CONF: process.env.SOFTHSM2_CONF, KW_TEST_HSM_PIN: token.pin },
      config: {
        dataDir: join(dir.path, 'data'),
        service: {
          ops: { listen: '127.0.0.1:0' },
          schedules: { detect: false, slo: false, deliver: false, probe: { cron: '* * * * * *', module: SOFTHSM_MODULE, token: token.label, pinEnv: 'KW_TEST_HSM_PIN', wrapKey: 'kek', cryptoKey: 'dek', count: 1 } },
        },
      },
    });
    const text = await eventually(
      async () => {
        const t = await (await fetch(`${svc!.addresses.ops}/metrics`)).text();
        return /^keywatch_probe_calls_total\{operation="decrypt",outcome="success"\} [1-9]/m.test(t) ? t : undefined;
      },
      { timeoutMs: 45_000, what: 'probe calls in /metrics' },
    );
    for (const op of ['wrap', 'unwrap', 'encrypt', 'decrypt']) expect(text).toMatch(new RegExp(`^keywatch_probe_calls_total\\{operation="${op}",outcome="success"\\} [1-9]`, 'm'));
    expect(text).toMatch(/^keywatch_probe_latency_seconds_count\{operation="wrap"\} [1-9]/m);
    const q = kwCli(svc.configPath, 'sql', '--format', 'json', "SELECT operation, countIf(outcome = 'success') > 0 AS ok FROM key_events WHERE source = 'pkcs11-probe' GROUP BY operation ORDER BY operation");
    expect(q.err).toBe('');
    expect(JSON.parse(q.out)).toEqual(['decrypt', 'encrypt', 'unwrap', 'wrap'].map((operation) => ({ operation, ok: 1 })));
    expect((await svc.stop('SIGTERM')).code).toBe(0);
  }, 120_000);
});
