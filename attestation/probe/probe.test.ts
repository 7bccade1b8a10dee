import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { loadConfig } from '../../core/config.ts';
import { openStore } from '../../storage/open.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { openPkcs11Session, type Pkcs11Session } from '../pkcs11/session.ts';
import { createSoftHsmToken, missingSoftHsmMustFail, MISSING_SOFTHSM_MESSAGE, SOFTHSM_MODULE, softHsmAvailable, type SoftHsmToken } from '../pkcs11/testing.ts';
import { ingestProbeRecords } from './ingest.ts';
import { runProbes } from './probe.ts';

const available = softHsmAvailable();
const clock = fixedClock('2026-11-29T10:00:00.000Z');

describe('SoftHSM2 availability for the probes', () => {
  it.runIf(!available && missingSoftHsmMustFail())('is required in CI', () => {
    throw new Error(MISSING_SOFTHSM_MESSAGE);
  });
  it.runIf(!available && !missingSoftHsmMustFail())(`skips the live probe suite: ${MISSING_SOFTHSM_MESSAGE}`, () => {
    expect(missingSoftHsmMustFail()).toBe(false);
  });
});

describe.runIf(available)('synthetic PKCS#11 probes against SoftHSM2', () => {
  const dir = tempDir('keywatch-probe-');
  const config = loadConfig({ flags: { dataDir: join(dir.path, 'store') }, env: {} });
  let store: Store;
  let token: SoftHsmToken;
  let session: Pkcs11Session;

  beforeAll(async () => {
    store = await openStore(config);
  });
  afterAll(async () => {
    await store.close();
    dir.remove();
  });
  beforeEach(() => {
    token = createSoftHsmToken(`probe-${randomBytes(3).toString('hex')}`);
    const opened = openPkcs11Session({ modulePath: SOFTHSM_MODULE, slot: { label: token.label }, pin: token.pin });
    if (!opened.ok) throw new Error(opened.error.message);
    session = opened.value;
    session.generateAesKey(32, { label: 'kek', token: true, extractable: false, sensitive: true, wrap: true });
    session.generateAesKey(32, { label: 'dek', token: true, extractable: false, sensitive: true });
  });
  afterEach(() => {
    session.close();
    token.remove();
  });

  it('wraps, unwraps, encrypts and decrypts each round, and the events ingest as keywatch-json with nothing quarantined', async () => {
    const records = runProbes(session, { wrapKey: 'kek', cryptoKey: 'dek', count: 3, modulePath: SOFTHSM_MODULE }, clock);
    expect(records.map((r) => `${r.operation}:${r.outcome}`)).toEqual(Array(3).fill(['wrap:success', 'unwrap:success', 'encrypt:success', 'decrypt:success']).flat());
    expect(records.map((r) => r.vendor_operation).slice(0, 4)).toEqual(['C_WrapKey', 'C_UnwrapKey', 'C_Encrypt', 'C_Decrypt']);
    expect(new Set(records.map((r) => r.key_id))).toEqual(new Set([`${token.label}/kek`, `${token.label}/dek`]));
    for (const r of records) {
      expect(r.latency_ms).toBeGreaterThan(0);
      expect(r.error_code).toBe('');
    }

    const summary = await ingestProbeRecords(store, config, records, token.label, clock);
    expect(summary).toMatchObject({ read: 12, normalized: 12, inserted: 12, duplicates: 0, quarantined: {}, dropped: {} });
    const rows = await store.query<{ operation: string; n: string; source: string; outcome: string }>(
      'SELECT source, operation, outcome, count() AS n FROM key_events WHERE key_id LIKE {prefix:String} GROUP BY source, operation, outcome ORDER BY operation',
      { prefix: `${token.label}/%` },
    );
    expect(rows).toEqual(['decrypt', 'encrypt', 'unwrap', 'wrap'].map((operation) => ({ source: 'pkcs11-probe', operation, outcome: 'success', n: '3' })));
    const [op] = await store.query<{ operation_class: string; principal: string; latency_ms: number | null }>(
      "SELECT operation_class, principal, latency_ms FROM key_events WHERE key_id = {k:String} AND operation = 'wrap' LIMIT 1",
      { k: `${token.label}/kek` },
    );
    expect(op).toMatchObject({ operation_class: 'crypto', principal: 'keywatch-probe' });
    expect(op?.latency_ms).toBeGreaterThan(0);
  });

  it('turns a missing key into failure events carrying the module CKR code instead of a crash, and they ingest too', async () => {
    const records = runProbes(session, { wrapKey: 'no-such-kek', cryptoKey: 'no-such-dek', count: 1 }, clock);
    expect(records.map((r) => [r.operation, r.outcome, r.error_code, r.attributes.key_found])).toEqual([
      ['wrap', 'failure', 'CKR_WRAPPING_KEY_HANDLE_INVALID', 'false'],
      // SoftHSM2 answers C_EncryptInit on an unknown handle with OBJECT_, not KEY_HANDLE_INVALID: the code is the module's own.
      ['encrypt', 'failure', 'CKR_OBJECT_HANDLE_INVALID', 'false'],
    ]);
    const summary = await ingestProbeRecords(store, config, records, token.label, clock);
    expect(summary).toMatchObject({ read: 2, inserted: 2, quarantined: {} });
    const rows = await store.query<{ error_code: string }>("SELECT error_code FROM key_events WHERE key_id = {k:String} AND outcome = 'failure'", { k: `${token.label}/no-such-kek` });
    expect(rows).toEqual([{ error_code: 'CKR_WRAPPING_KEY_HANDLE_INVALID' }]);
  });

  it('records the refusal when the wrap key may not wrap (CKA_WRAP false)', () => {
    const records = runProbes(session, { wrapKey: 'dek', cryptoKey: 'dek', count: 1 }, clock);
    expect(records[0]).toMatchObject({ operation: 'wrap', outcome: 'failure', error_code: 'CKR_KEY_FUNCTION_NOT_PERMITTED' });
    expect(records.slice(1).map((r) => `${r.operation}:${r.outcome}`)).toEqual(['encrypt:success', 'decrypt:success']);
  });
});
