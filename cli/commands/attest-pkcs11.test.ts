import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'keywatch.js');
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { openStore } from '../../storage/open.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { openPkcs11Session } from '../../attestation/pkcs11/session.ts';
import { createSoftHsmToken, missingSoftHsmMustFail, MISSING_SOFTHSM_MESSAGE, SOFTHSM_MODULE, softHsmAvailable, type SoftHsmToken } from '../../attestation/pkcs11/testing.ts';
import { pkcs11Subcommand } from './attest-pkcs11.ts';
import { probeCommand } from './probe.ts';
import { Config } from '../../core/config.ts';
import { runDetectors } from '../../detectors/engine.ts';

const available = softHsmAvailable();
const PIN_ENV = 'KEYWATCH_TEST_HSM_PIN';


describe('SoftHSM2 availability for the CLI', () => {
  it.runIf(!available && missingSoftHsmMustFail())('is required in CI', () => {
    throw new Error(MISSING_SOFTHSM_MESSAGE);
  });
  it.runIf(!available && !missingSoftHsmMustFail())(`skips the live CLI suite: ${MISSING_SOFTHSM_MESSAGE}`, () => {
    expect(missingSoftHsmMustFail()).toBe(false);
  });
});

describe.runIf(available)('keywatch attest pkcs11 and keywatch probe', () => {
  const dir = tempDir('keywatch-attest-cli-');
  const dataDir = join(dir.path, 'store');
  let token: SoftHsmToken;

  async function run(make: (g: () => { dataDir: string }) => Command, args: string[]): Promise<{ code: number; out: string; error?: Error }> {
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.exitCode = undefined;
    let error: Error | undefined;
    try {
      await make(() => ({ dataDir })).exitOverride().parseAsync(args, { from: 'user' });
    } catch (e) {
      error = e as Error;
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
    const code = Number(process.exitCode ?? 0);
    process.exitCode = undefined;
    return { code, out, ...(error ? { error } : {}) };
  }
  const attest = (...args: string[]) => run(pkcs11Subcommand, ['--module', SOFTHSM_MODULE, '--token', token.label, '--pin-env', PIN_ENV, ...args]);

  beforeAll(async () => {
    token = createSoftHsmToken(`cli-${randomBytes(3).toString('hex')}`);
    process.env[PIN_ENV] = token.pin;
    const opened = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { label: token.label }, pin: token.pin });
    if (!opened.ok) throw new Error(opened.error.message);
    opened.value.generateAesKey(32, { label: 'gen', token: true, extractable: false, sensitive: true });
    opened.value.importAesKey(Buffer.from([...Array(32).keys()]), { label: 'imp', token: true, extractable: false, sensitive: true });
    opened.value.generateAesKey(32, { label: 'kek', token: true, extractable: false, sensitive: true, wrap: true });
    opened.value.close();
    // Opening the store applies the migrations, attestations (0006) included.
    const store = await openStore(loadConfig({ flags: { dataDir }, env: {} }));
    await store.close();
  });
  afterAll(() => {
    delete process.env[PIN_ENV];
    token.remove();
    dir.remove();
  });

  it('exits 0 for a generated key under generated-in-hsm and records a pkcs11 row', async () => {
    const r = await attest('--label', 'gen', '--policy', 'generated-in-hsm', '--json');
    expect(r.error).toBeUndefined();
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ verdict: 'pass', evidence: { key: { label: 'gen', local: true } } });
    const store = await openStore(loadConfig({ flags: { dataDir }, env: {} }));
    try {
      const rows = await store.query<{ key_id: string; format: string; verdict: string; policy: string; failed_checks: string[]; evidence: string }>(
        "SELECT key_id, format, verdict, policy, failed_checks, evidence FROM attestations WHERE key_id = {k:String}",
        { k: `libsofthsm2.so:${token.label}:gen` },
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ format: 'pkcs11', verdict: 'pass', policy: 'generated-in-hsm', failed_checks: [] });
      expect(JSON.parse(rows[0]!.evidence)).toMatchObject({ module: SOFTHSM_MODULE, key: { neverExtractable: true } });
      expect(rows[0]!.evidence).not.toContain(token.pin);
    } finally {
      await store.close();
    }
  });

  it('exits 8 (policy-fail) for an imported key under generated-in-hsm or with a wrong provider KCV, 0 under byok-imported with the right one', async () => {
    const generated = await attest('--label', 'imp', '--policy', 'generated-in-hsm', '--no-record');
    expect(generated.code).toBe(8);
    expect(generated.out).toContain('FAIL POLICY_KEY_NOT_LOCAL');
    expect((await attest('--label', 'imp', '--policy', 'byok-imported', '--provider-kcv', 'f29000', '--no-record')).code).toBe(0);
    const wrong = await attest('--label', 'imp', '--policy', 'byok-imported', '--provider-kcv', '123456', '--no-record');
    expect(wrong.code).toBe(8);
    expect(wrong.out).toContain('POLICY_KCV_MISMATCH');
  });

  it('exits 7 (fail) for a key that is not on the token', async () => {
    const r = await attest('--label', 'missing', '--no-record');
    expect(r.code).toBe(7);
    expect(r.out).toContain('PKCS11_KEY_NOT_FOUND');
  });

  it('refuses a missing PIN source or an unset PIN variable as a usage error', async () => {
    const noPin = await run(pkcs11Subcommand, ['--module', SOFTHSM_MODULE, '--token', token.label, '--label', 'gen', '--no-record']);
    expect(noPin.error).toMatchObject({ code: 'USAGE' });
    const unset = await run(pkcs11Subcommand, ['--module', SOFTHSM_MODULE, '--token', token.label, '--pin-env', 'KEYWATCH_TEST_UNSET_PIN', '--label', 'gen', '--no-record']);
    expect(unset.error).toMatchObject({ code: 'USAGE' });
    const pinFile = join(dir.path, 'pin');
    writeFileSync(pinFile, `${token.pin}\n`);
    const fromFile = await run(pkcs11Subcommand, ['--module', SOFTHSM_MODULE, '--slot', '0', '--pin-file', pinFile, '--label', 'gen', '--no-record']);
    expect(fromFile.code).toBe(0);
  });

  it('probe writes keywatch-json events to a file, and with --ingest stores them', async () => {
    const out = join(dir.path, 'probe.ndjson');
    const base = ['--module', SOFTHSM_MODULE, '--token', token.label, '--pin-env', PIN_ENV, '--wrap-key', 'kek', '--crypto-key', 'gen'];
    const r = await run(probeCommand, [...base, '--count', '2', '--out', out]);
    expect(r.error).toBeUndefined();
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.operation)).toEqual(['wrap', 'unwrap', 'encrypt', 'decrypt', 'wrap', 'unwrap', 'encrypt', 'decrypt']);
    const ingested = await run(probeCommand, [...base, '--count', '1', '--ingest']);
    expect(ingested.out).toMatch(/inserted\s+4/);
    expect(ingested.out).toMatch(/quarantined\s+0/);
  });

  it('stores a KCV comparison against the provider key as a key event that the kcv-mismatch detector alerts on', async () => {
    const arn = 'arn:aws:kms:eu-west-1:111111111111:key/0f1e2d3c-aaaa-bbbb-cccc-000000000001';
    const matching = await attest('--label', 'imp', '--policy', 'byok-imported', '--provider-kcv', 'f29000', '--provider-key', `${arn}-ok`);
    expect(matching.code).toBe(0);
    const wrong = await attest('--label', 'imp', '--policy', 'byok-imported', '--provider-kcv', '123456', '--provider-key', arn);
    expect(wrong.code).toBe(8);
    const store = await openStore(loadConfig({ flags: { dataDir }, env: {} }));
    try {
      const events = await store.query<{ key_id: string; source: string; vendor_operation: string; kcv: string; provider_kcv: string }>(
        "SELECT key_id, source, vendor_operation, attributes['kcv'] AS kcv, attributes['provider_kcv'] AS provider_kcv FROM key_events WHERE source = 'attestation' ORDER BY key_id",
      );
      expect(events).toEqual([
        { key_id: arn, source: 'attestation', vendor_operation: 'KeyCheckValue', kcv: 'f29000', provider_kcv: '123456' },
        { key_id: `${arn}-ok`, source: 'attestation', vendor_operation: 'KeyCheckValue', kcv: 'f29000', provider_kcv: 'f29000' },
      ]);
      const now = new Date();
      const detected = await runDetectors({ store, now, config: Config.parse({}).detect, only: ['kcv-mismatch'], range: { from: new Date(now.getTime() - 3_600_000), to: new Date(now.getTime() + 60_000) } });
      expect(detected.alerts.map((a) => [a.detector, a.key_id, a.status])).toEqual([['kcv-mismatch', arn, 'open']]);
    } finally {
      await store.close();
    }
  });

  it('probe --schedule keeps probing until SIGTERM, and records an unreachable token as failed calls', async () => {
    const scheduled = async (token_: string, out: string) => {
      const child = spawn(process.execPath, [BIN, '--data-dir', join(dir.path, 'sched-store'), 'probe', '--module', SOFTHSM_MODULE, '--token', token_, '--pin-env', PIN_ENV, '--wrap-key', 'kek', '--crypto-key', 'gen', '--schedule', '* * * * * *', '--out', out], {
        env: { ...process.env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      // Every second, plus one round at start: wait for at least three rounds in the file.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').length : 0) < 12) await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGTERM');
      const [code] = (await once(child, 'close')) as [number | null];
      return { code, err, events: readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { operation: string; outcome: string; error_code: string; key_id: string }) };
    };
    const ok = await scheduled(token.label, join(dir.path, 'scheduled.ndjson'));
    expect(ok.code, ok.err).toBe(0);
    expect(ok.events.length).toBeGreaterThanOrEqual(12);
    expect(new Set(ok.events.map((e) => e.operation))).toEqual(new Set(['wrap', 'unwrap', 'encrypt', 'decrypt']));
    expect(ok.events.every((e) => e.outcome === 'success')).toBe(true);

    const down = await scheduled('no-such-token', join(dir.path, 'unreachable.ndjson'));
    expect(down.code, down.err).toBe(0);
    expect(down.events.length).toBeGreaterThanOrEqual(12);
    expect(down.events.every((e) => e.outcome === 'failure' && e.error_code !== '' && e.key_id === 'no-such-token/' + (e.operation === 'wrap' || e.operation === 'unwrap' ? 'kek' : 'gen'))).toBe(true);
    expect(down.err).not.toContain(token.pin);
  }, 60_000);
});
