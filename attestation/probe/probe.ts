import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { Pkcs11CallError, Pkcs11Session, type ObjectHandle } from '../pkcs11/session.ts';

/**
 * Synthetic probes against a customer HSM: per round, a fresh AES-256 data key (a session object)
 * is wrapped and unwrapped with the wrap key (CKM_AES_KEY_WRAP_PAD), then random data is encrypted
 * and decrypted with the crypto key (CKM_AES_CBC_PAD). Each call is timed and becomes one
 * keywatch-json record (ingest/keywatch-json/README.md) with source `pkcs11-probe`. A failed call
 * is a `failure` record with the module's CKR_ code; a key that is not on the token is probed
 * with CK_INVALID_HANDLE so the module itself reports the code. Never throws on a token problem.
 *
 * @example const records = runProbes(session, { wrapKey: 'kek-1', cryptoKey: 'dek-1', count: 3 }, systemClock)
 */
export interface ProbeOptions {
  wrapKey: string;
  cryptoKey: string;
  count: number;
  /** Module path, kept in the records' attributes. */
  modulePath?: string;
}

/** One keywatch-json record, with the field names of core/key-event.ts. */
export interface ProbeRecord {
  source: 'pkcs11-probe';
  event_time: string;
  operation: 'wrap' | 'unwrap' | 'encrypt' | 'decrypt';
  outcome: 'success' | 'failure';
  vendor_operation: string;
  key_id: string;
  principal: string;
  principal_type: 'service_account';
  latency_ms: number;
  error_code: string;
  request_id: string;
  attributes: Record<string, string>;
}

export const PROBE_PRINCIPAL = 'keywatch-probe';

type Step<T> = { ok: true; value: T } | { ok: false; ckr: string };

export function runProbes(session: Pkcs11Session, opts: ProbeOptions, clock: Clock): ProbeRecord[] {
  const run = randomUUID();
  const records: ProbeRecord[] = [];
  const wrapKey = findOne(session, opts.wrapKey);
  const cryptoKey = findOne(session, opts.cryptoKey);
  const baseAttributes = {
    probe_run: run,
    slot_id: session.slotId,
    ...(opts.modulePath ? { module: opts.modulePath } : {}),
  };

  const measure = <T>(round: number, operation: ProbeRecord['operation'], vendor: string, keyLabel: string, found: boolean, fn: () => T): Step<T> => {
    const at = clock.now();
    const start = process.hrtime.bigint();
    let step: Step<T>;
    try {
      step = { ok: true, value: fn() };
    } catch (err) {
      if (!(err instanceof Pkcs11CallError)) throw err;
      step = { ok: false, ckr: err.ckr };
    }
    const latency = Number(process.hrtime.bigint() - start) / 1e6;
    records.push({
      source: 'pkcs11-probe',
      event_time: at.toISOString(),
      operation,
      outcome: step.ok ? 'success' : 'failure',
      vendor_operation: vendor,
      key_id: `${session.tokenLabel}/${keyLabel}`,
      principal: PROBE_PRINCIPAL,
      principal_type: 'service_account',
      latency_ms: Math.round(latency * 1000) / 1000,
      error_code: step.ok ? '' : step.ckr,
      request_id: `${run}/${round}/${operation}`,
      attributes: { ...baseAttributes, round: String(round), key_found: String(found) },
    });
    return step;
  };

  for (let round = 1; round <= opts.count; round++) {
    let dataKey: ObjectHandle | undefined;
    try {
      dataKey = session.generateAesKey(32, { label: `keywatch-probe-${run}`, token: false, extractable: true, sensitive: true });
    } catch (err) {
      if (!(err instanceof Pkcs11CallError)) throw err;
      // Without a data key there is nothing to wrap; the crypto probes still run.
    }
    if (dataKey !== undefined) {
      const key = dataKey;
      const wrapped = measure(round, 'wrap', 'C_WrapKey', opts.wrapKey, wrapKey.found, () => session.wrapKey(wrapKey.handle, key));
      if (wrapped.ok) {
        const unwrapped = measure(round, 'unwrap', 'C_UnwrapKey', opts.wrapKey, wrapKey.found, () =>
          session.unwrapAesKey(wrapKey.handle, wrapped.value, { label: `keywatch-probe-${run}-unwrapped`, token: false, extractable: false, sensitive: true }),
        );
        if (unwrapped.ok) safeDestroy(session, unwrapped.value);
      }
      safeDestroy(session, key);
    }
    const iv = randomBytes(16);
    const plaintext = randomBytes(64);
    const encrypted = measure(round, 'encrypt', 'C_Encrypt', opts.cryptoKey, cryptoKey.found, () => session.encryptCbcPad(cryptoKey.handle, iv, plaintext));
    if (encrypted.ok) {
      const decrypted = measure(round, 'decrypt', 'C_Decrypt', opts.cryptoKey, cryptoKey.found, () => session.decryptCbcPad(cryptoKey.handle, iv, encrypted.value));
      const last = records[records.length - 1];
      // A decrypt that "succeeds" with other bytes is a broken HSM path, not a success.
      if (decrypted.ok && last !== undefined && !decrypted.value.equals(plaintext)) {
        last.outcome = 'failure';
        last.error_code = 'ROUND_TRIP_MISMATCH';
      }
    }
  }
  return records;
}

/**
 * What a probe round records when the token cannot be reached at all (module, slot or login
 * failed): one failed event per call it would have made, with the CKR code of the failure (or
 * SESSION_UNAVAILABLE), so an HSM outage shows in the events and the SLOs instead of only in a log.
 */
export function unreachableRecords(opts: ProbeOptions & { tokenLabel: string }, failure: { ckr?: string; stage: string }, clock: Clock): ProbeRecord[] {
  const run = randomUUID();
  const at = clock.now().toISOString();
  const calls: [ProbeRecord['operation'], string, string][] = [
    ['wrap', 'C_WrapKey', opts.wrapKey],
    ['unwrap', 'C_UnwrapKey', opts.wrapKey],
    ['encrypt', 'C_Encrypt', opts.cryptoKey],
    ['decrypt', 'C_Decrypt', opts.cryptoKey],
  ];
  return calls.map(([operation, vendor, label]) => ({
    source: 'pkcs11-probe',
    event_time: at,
    operation,
    outcome: 'failure',
    vendor_operation: vendor,
    key_id: `${opts.tokenLabel}/${label}`,
    principal: PROBE_PRINCIPAL,
    principal_type: 'service_account',
    latency_ms: 0,
    error_code: failure.ckr ?? 'SESSION_UNAVAILABLE',
    request_id: `${run}/1/${operation}`,
    attributes: { probe_run: run, round: '1', session_stage: failure.stage, ...(opts.modulePath ? { module: opts.modulePath } : {}) },
  }));
}

/** The secret key with this label, or CK_INVALID_HANDLE so the module reports the failure itself. */
function findOne(session: Pkcs11Session, label: string): { handle: ObjectHandle; found: boolean } {
  try {
    const [first] = session.findKeys({ label, class: 'secret' });
    if (first !== undefined) return { handle: first, found: true };
  } catch (err) {
    if (!(err instanceof Pkcs11CallError)) throw err;
  }
  return { handle: Pkcs11Session.INVALID_HANDLE, found: false };
}

function safeDestroy(session: Pkcs11Session, handle: ObjectHandle): void {
  try {
    session.destroy(handle);
  } catch (err) {
    if (!(err instanceof Pkcs11CallError)) throw err;
    // Session objects go with the session anyway.
  }
}

/** The records as NDJSON, the framing keywatch-json reads. */
export function probeNdjson(records: readonly ProbeRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : '');
}
