import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import { isMain } from '../ingest/paths.ts';

/**
 * Builds the detect bench's store: synthetic `key_events` made by ClickHouse itself with one
 * `INSERT INTO key_events SELECT … FROM numbers(total)` (not through the ingest pipeline, which
 * would take hours for 20M events). Every column is a deterministic function of `number`
 * (`cityHash64(number, salt)`), so the same N gives the same store.
 *
 * Shape: 5,000 keys over 3 tenants (aws-kms 40%, gcp-kms 20%, azure-key-vault 18%, vault 18%,
 * aws-cloudhsm and luna-hsm 2% each), volume skewed across keys, 3–5 principals per key from a pool
 * of 3,000, 70% of events in business hours (08–19 UTC), 95% crypto operations, 0.2% management
 * operations, ~0.5% failures,
 * source addresses from 400 /24 networks (each principal mostly from one or two), a few attributes.
 * `events` land in the 30-day window [now − 30 d, now); 14 more days of history before it at the
 * same rate (events × 14 / 30 rows) let the history-based detectors run.
 *
 * Child process (chdb holds one data directory per process):
 * `node --import tsx bench/detect/generate.ts --dir D --events N` prints one JSON line
 * {rows, windowEvents, historyEvents, seconds}. The directory is removed first.
 */

export const NOW = new Date('2026-11-01T00:00:00.000Z');
export const WINDOW_DAYS = 30;
export const HISTORY_DAYS = 14;
export const KEYS = 5000;
export const TENANT_ACCOUNTS = ['111111111111', '222222222222', '333333333333'];
/** Marker written last, so a half-built store is never reused. */
export const MARKER = 'bench-detect-store.json';

export const historyEventsFor = (events: number) => Math.round((events * HISTORY_DAYS) / WINDOW_DAYS);

/** The INSERT … SELECT that makes `total` events; the first `history` of them fall in the history days. */
export function generateSql(windowEvents: number, historyEvents: number): string {
  const total = windowEvents + historyEvents;
  const windowStart = Math.floor(NOW.getTime() / 1000) - WINDOW_DAYS * 86400;
  const historyStart = windowStart - HISTORY_DAYS * 86400;
  // h(n) = a uniform number in [0, 1) from the salt n.
  const u = (salt: number) => `(cityHash64(number, ${salt}) / 18446744073709551616.0)`;
  return `
INSERT INTO key_events
  (event_id, event_time, ingest_time, source, tenant, account, region, key_id, key_version, operation,
   operation_class, vendor_operation, principal, principal_type, source_ip, user_agent, outcome, error_code,
   latency_ms, request_id, attributes, raw_id)
SELECT
  concat('bench-', toString(number)) AS event_id,
  ev_time AS event_time,
  ev_time + toIntervalMillisecond(1000 + cityHash64(number, 9) % 120000) AS ingest_time,
  src AS source,
  ten AS tenant,
  acct AS account,
  reg AS region,
  kid AS key_id,
  multiIf(src = 'gcp-kms', toString(1 + kh % 3), src = 'azure-key-vault', lower(hex(cityHash64(k, 31))), src = 'vault', toString(1 + kh % 4), '') AS key_version,
  op AS operation,
  cls AS operation_class,
  multiIf(src IN ('aws-kms', 'aws-cloudhsm'), arrayStringConcat(arrayMap(w -> concat(upper(substring(w, 1, 1)), substring(w, 2)), splitByChar('_', op))), concat(src, ':', op)) AS vendor_operation,
  prin AS principal,
  ptype AS principal_type,
  ip AS source_ip,
  multiIf(src = 'aws-kms', 'aws-sdk-java/2.25.1', src = 'gcp-kms', 'grpc-java/1.62', src = 'azure-key-vault', 'azsdk-net-Security.KeyVault.Keys/4.6', src = 'vault', 'Go-http-client/1.1', '') AS user_agent,
  if(failed, 'failure', 'success') AS outcome,
  if(failed, arrayElement(multiIf(
      src = 'aws-kms', ['AccessDeniedException', 'ThrottlingException', 'KMSInvalidStateException', 'InvalidCiphertextException'],
      src = 'gcp-kms', ['PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'INVALID_ARGUMENT'],
      src = 'azure-key-vault', ['Forbidden', 'Unauthorized', 'TooManyRequests', 'BadParameter'],
      src = 'vault', ['permission denied', 'invalid ciphertext', 'rate limit quota exceeded', 'key not found'],
      ['CKR_USER_NOT_LOGGED_IN', 'CKR_KEY_HANDLE_INVALID', 'CKR_PIN_INCORRECT', 'CKR_OPERATION_NOT_INITIALIZED']),
    1 + cityHash64(number, 13) % 4), '') AS error_code,
  if(src IN ('aws-cloudhsm', 'luna-hsm'), NULL, round(2 + 60 * pow(${u(14)}, 3), 1)) AS latency_ms,
  lower(hex(cityHash64(number, 15))) AS request_id,
  multiIf(src = 'aws-kms', map('key_spec', kspec, 'caller_account', if(ptype = 'service', '', acct), 'key_usage', if(op = 'sign', 'SIGN_VERIFY', 'ENCRYPT_DECRYPT')),
          src = 'gcp-kms', map('key_spec', kspec, 'protection_level', if(kh % 5 = 0, 'HSM', 'SOFTWARE')),
          src = 'azure-key-vault', map('key_spec', kspec, 'vault_name', concat('kv-', ten, '-', toString(kh % 7))),
          src = 'vault', map('mount', 'transit/', 'key_spec', kspec),
          map('partition', concat('par', toString(kh % 3)))) AS attributes,
  '' AS raw_id
FROM
(
  SELECT
    number, k, kh, src, ten, acct, reg, kid, kspec, op, cls, failed, ev_time, pidx,
    multiIf(
      internal, multiIf(src = 'aws-kms', 'kms.amazonaws.com', src = 'azure-key-vault', 'Azure Key Vault', src = 'gcp-kms', concat('service-', acct, '@gcp-sa-cloudkms.iam.gserviceaccount.com'), 'root'),
      src = 'aws-kms', concat('arn:aws:iam::', acct, ':role/app-', toString(pidx)),
      src = 'gcp-kms', concat('app-', toString(pidx), '@', ten, '-prod.iam.gserviceaccount.com'),
      src = 'azure-key-vault', concat('spn-', lower(hex(cityHash64(pidx, 41)))),
      src = 'vault', concat('approle/app-', toString(pidx)),
      concat('cu_app', toString(pidx))) AS prin,
    multiIf(internal AND src IN ('aws-kms', 'gcp-kms'), 'service', internal, 'internal',
            src = 'aws-kms', 'role', src = 'gcp-kms', 'service_account', src = 'azure-key-vault', 'application',
            src = 'vault', 'application', 'hsm_user') AS ptype,
    multiIf(internal OR src IN ('aws-cloudhsm', 'luna-hsm'), if(src IN ('aws-cloudhsm', 'luna-hsm'), concat('10.20.', toString(kh % 8), '.', toString(10 + pidx % 200)), ''),
            IPv4NumToString(toUInt32(
              if(cityHash64(pidx, 43) % 2 = 0, 0x0A000000, 0x22000000)
              -- each principal calls from its own /24, and 10% of the time from a second one
              + (if(${u(16)} < 0.9, cityHash64(pidx, 44), cityHash64(pidx, 46)) % 400) * 256
              + 1 + cityHash64(number, 18) % 250))) AS ip
  FROM
  (
    SELECT
      number,
      k, kh, src,
      arrayElement(['acme', 'globex', 'initech'], 1 + k % 3) AS ten,
      -- AWS account ids; a GCP key's account is its project, whose service accounts call it
      if(src = 'gcp-kms', concat(ten, '-prod'), arrayElement(['${TENANT_ACCOUNTS.join("', '")}'], 1 + k % 3)) AS acct,
      multiIf(src IN ('aws-kms', 'aws-cloudhsm'), arrayElement(['us-east-1', 'eu-west-1', 'ap-southeast-2'], 1 + kh % 3),
              src = 'gcp-kms', arrayElement(['us-central1', 'europe-west1'], 1 + kh % 2),
              src = 'azure-key-vault', arrayElement(['eastus', 'westeurope'], 1 + kh % 2), '') AS reg,
      multiIf(src = 'aws-kms', concat('arn:aws:kms:', reg, ':', acct, ':key/', lower(hex(cityHash64(k, 21))), '-', lower(hex(cityHash64(k, 22)))),
              src = 'gcp-kms', concat('projects/', ten, '-prod/locations/', reg, '/keyRings/ring-', toString(kh % 10), '/cryptoKeys/key-', toString(k)),
              src = 'azure-key-vault', concat('https://kv-', ten, '-', toString(kh % 7), '.vault.azure.net/keys/key-', toString(k)),
              src = 'vault', concat('transit/keys/key-', toString(k)),
              src = 'aws-cloudhsm', concat('cluster-', toString(kh % 2), '/key-', toString(k)),
              concat('luna-', toString(kh % 2), '/key-', toString(k))) AS kid,
      arrayElement(['SYMMETRIC_DEFAULT', 'SYMMETRIC_DEFAULT', 'SYMMETRIC_DEFAULT', 'RSA_2048', 'ECC_NIST_P256'], 1 + kh % 5) AS kspec,
      -- 95% crypto, 4.8% read, 0.1% lifecycle, 0.05% policy, 0.05% auth (per 100,000)
      cityHash64(number, 3) % 100000 AS r,
      multiIf(r < 45000, 'decrypt', r < 65000, 'encrypt', r < 85000, 'generate_data_key', r < 95000, if(kspec IN ('RSA_2048', 'ECC_NIST_P256'), 'sign', 'decrypt'),
              r < 98000, 'describe', r < 99800, 'list',
              r < 99840, 'rotate_key', r < 99870, 'update_key', r < 99885, 'enable_rotation', r < 99895, 'create_key', r < 99900, 'update_rotation_policy',
              r < 99930, 'create_grant', r < 99945, 'revoke_grant', r < 99950, 'update_policy',
              src IN ('aws-cloudhsm', 'luna-hsm', 'vault'), 'login', 'describe') AS op,
      multiIf(r < 95000, 'crypto', r < 99800, 'read', r < 99900, 'lifecycle', r < 99950, 'policy', src IN ('aws-cloudhsm', 'luna-hsm', 'vault'), 'auth', 'read') AS cls,
      cityHash64(number, 5) % 1000 < 5 AS failed,
      -- a provider-internal caller for 3% of the events (AWS services, Azure's own rotation)
      cityHash64(number, 6) % 100 < 3 AS internal,
      -- 3-5 principals per key out of a pool of 3,000
      cityHash64(k, 32, cityHash64(number, 7) % (3 + kh % 3)) % 3000 AS pidx,
      fromUnixTimestamp64Milli(toInt64(
        (if(number < ${historyEvents}, ${historyStart} + intDiv(number * ${HISTORY_DAYS}, ${Math.max(historyEvents, 1)}) * 86400,
                                       ${windowStart} + intDiv((number - ${historyEvents}) * ${WINDOW_DAYS}, ${Math.max(windowEvents, 1)}) * 86400)
         + if(${u(8)} < 0.7, 8 * 3600 + toUInt32(${u(10)} * 11 * 3600), toUInt32(${u(10)} * 86400))) * 1000
         + cityHash64(number, 12) % 1000), 'UTC') AS ev_time
    FROM
    (
      SELECT number,
             -- volume skewed over the keys: a few keys are busy, most are quiet
             toUInt32(floor(${KEYS} * pow(${u(1)}, 2))) AS k,
             cityHash64(k, 2) AS kh,
             multiIf(kh % 100 < 40, 'aws-kms', kh % 100 < 60, 'gcp-kms', kh % 100 < 78, 'azure-key-vault', kh % 100 < 96, 'vault',
                     kh % 100 < 98, 'aws-cloudhsm', 'luna-hsm') AS src
      FROM numbers(${total})
    )
  )
)
SETTINGS max_insert_threads = 2, max_threads = 2`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, events: { type: 'string' } }, strict: true });
  if (values.dir === undefined || values.events === undefined) throw new Error('usage: generate.ts --dir D --events N');
  const windowEvents = Number(values.events);
  const historyEvents = historyEventsFor(windowEvents);
  const dir = resolve(values.dir);
  rmSync(dir, { recursive: true, force: true });
  const store = await openEmbeddedStore({ dataDir: dir });
  try {
    await migrate(store);
    const t0 = performance.now();
    await store.exec(generateSql(windowEvents, historyEvents));
    const insertSeconds = (performance.now() - t0) / 1000;
    process.stderr.write(`generate: inserted in ${insertSeconds.toFixed(1)} s\n`);
    const [row] = await store.query<{ n: string; keys: string; parts: string }>(
      "SELECT count() AS n, uniqExact(key_id) AS keys, (SELECT count() FROM system.parts WHERE active AND database = currentDatabase() AND table = 'key_events') AS parts FROM key_events",
    );
    const rows = Number(row?.n);
    if (rows !== windowEvents + historyEvents) throw new Error(`key_events holds ${rows} rows, expected ${windowEvents + historyEvents}`);
    const result = { rows, windowEvents, historyEvents, keys: Number(row?.keys), parts: Number(row?.parts), seconds: Math.round((performance.now() - t0)) / 1000 };
    writeFileSync(join(dir, MARKER), `${JSON.stringify(result)}\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await store.close();
  }
}

if (isMain(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`generate: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
