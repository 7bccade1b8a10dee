import type { Detector, Finding } from './detector.ts';

// Failed imports of one key by one principal within an hour that make the failures high: a
// custodian retrying a wrong wrapping once or twice is normal, a run of failures is someone trying
// material, tokens or wrapping keys until one is accepted.
const BURST_FAILURES = 3;
const BURST_WINDOW_MS = 3_600_000;

const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
const fromCh = (s: string): Date => new Date(`${s.replace(' ', 'T')}Z`);

// CloudHSM copies every new key to the cluster's other HSMs as a masked object
// (CN_INSERT_MASKED_OBJECT_USER, `masked_object_sync`): an import into the HSM, but not BYOK.
const IMPORTS = "operation = 'import_key_material' AND attributes['masked_object_sync'] != 'true'";

interface ImportGroup {
  tenant: string;
  key_id: string;
  principal: string;
  outcome: 'success' | 'failure';
  hour: string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  vendor_ops: string[];
  sources: string[];
  error_codes: string[];
  key_versions: string[];
  valid_to: string[];
  import_types: string[];
  import_jobs: string[];
}

interface BurstRow {
  tenant: string;
  key_id: string;
  principal: string;
  hour: string;
  burst: string;
}

export const keyImport: Detector = {
  id: 'key-import',
  title: 'Key material imported (BYOK) or import failed',
  severity: 'low',
  description:
    `Key material was imported into a key, or an import failed: AWS ImportKeyMaterial, GCP ImportCryptoKeyVersion, Azure Key Vault KeyImport, Vault transit keys/<k>/import and import_version, and objects created in the clear in CloudHSM (CN_CREATE_OBJECT). A successful import is low: it is the evidence auditors ask for (who brought which material into which key, when, with which expiry). A failed import is medium, and ${BURST_FAILURES} or more failures for one key and principal within an hour are high: a wrong import token, wrapping key or material retried in a loop, or someone probing the import path. CloudHSM's own key synchronisation between the HSMs of a cluster (masked objects) is not an import here.`,
  runbook:
    'For a success: match the import with the key ceremony or change record (who, which key, which material id or version, validTo); an import nobody planned means someone holds material for this key outside the HSM, so find where it came from and whether the escrow copy is the same. For failures: read error_codes in the evidence (AWS ExpiredImportTokenException / InvalidImportTokenException / IncorrectKeyMaterialException, GCP FAILED_PRECONDITION on an expired import job, Azure 400/403, Vault permission_denied), ask the principal\'s owner, and for a burst check what else the principal did (keywatch sql "SELECT * FROM key_events WHERE principal = \'<principal>\' ORDER BY event_time DESC LIMIT 100"); restrict kms:ImportKeyMaterial / cloudkms.cryptoKeyVersions.create / keys/import to the custodians\' roles.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/ct-importkeymaterial.html',
    'https://cloud.google.com/kms/docs/importing-a-key',
    'https://learn.microsoft.com/azure/key-vault/keys/byok-specification',
    'https://developer.hashicorp.com/vault/api-docs/secret/transit#import-key',
    'https://docs.aws.amazon.com/cloudhsm/latest/userguide/interpreting-audit-logs.html',
    'PCI DSS v4.0 3.6 / 3.7 (key-management procedures and their evidence)',
  ],
  falsePositives: [
    'Scheduled re-imports of the same material to extend its validTo (expected; allow-list the custodian automation if the low alerts are not wanted)',
    'A key ceremony script retrying after a transient error, or a test tenant exercising BYOK (allow-list the test tenant)',
    'CloudHSM applications that create public keys in the clear (CN_CREATE_OBJECT) as part of normal PKI work',
  ],
  dedupeMinutes: 60,
  async run(ctx) {
    const groups = await ctx.store.query<ImportGroup>(
      `SELECT tenant, key_id, principal, outcome, toString(toStartOfHour(event_time)) AS hour,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              arraySlice(groupArray(event_id), 1, 20) AS ids, groupUniqArray(vendor_operation) AS vendor_ops, groupUniqArray(source) AS sources,
              arrayFilter(v -> v != '', groupUniqArray(error_code)) AS error_codes,
              arrayFilter(v -> v != '', groupUniqArray(key_version)) AS key_versions,
              arrayFilter(v -> v != '', groupUniqArray(attributes['valid_to'])) AS valid_to,
              arrayFilter(v -> v != '', groupUniqArray(attributes['import_type'])) AS import_types,
              arrayFilter(v -> v != '', groupUniqArray(attributes['import_job'])) AS import_jobs
       FROM key_events
       WHERE (${ctx.scope.sql}) AND ${IMPORTS} AND (${ctx.notInternal})
       GROUP BY tenant, key_id, principal, outcome, hour
       ORDER BY first`,
      ctx.scope.params,
    );
    const failed = groups.filter((g) => g.outcome === 'failure');

    // The most failures of one key and principal in any hour ending at a failure in scope, counting
    // stored failures from before the scope too, so that a burst split by an incremental run's
    // watermark is still seen whole.
    const bursts = new Map<string, number>();
    if (failed.length > 0) {
      const from = Math.min(...failed.map((g) => fromCh(g.first).getTime())) - BURST_WINDOW_MS;
      const to = Math.max(...failed.map((g) => fromCh(g.last).getTime()));
      const rows = await ctx.store.query<BurstRow>(
        `SELECT tenant, key_id, principal, toString(toStartOfHour(event_time)) AS hour, max(in_window) AS burst
         FROM
         (
           SELECT tenant, key_id, principal, event_time, in_scope,
             count() OVER (PARTITION BY tenant, key_id, principal ORDER BY ms RANGE BETWEEN ${BURST_WINDOW_MS - 1} PRECEDING AND CURRENT ROW) AS in_window
           FROM
           (
             SELECT tenant, key_id, principal, event_time, toUnixTimestamp64Milli(event_time) AS ms, (${ctx.scope.sql}) AS in_scope
             FROM key_events
             WHERE ${IMPORTS} AND outcome = 'failure' AND (${ctx.notInternal})
               AND event_time >= {burst_from:DateTime64(3)} AND event_time <= {burst_to:DateTime64(3)}
             LIMIT 1 BY event_id
           )
         )
         WHERE in_scope
         GROUP BY tenant, key_id, principal, hour`,
        { ...ctx.scope.params, burst_from: chTime(new Date(from)), burst_to: chTime(new Date(to)) },
      );
      for (const r of rows) bursts.set([r.tenant, r.key_id, r.principal, r.hour].join('\u0000'), Number(r.burst));
    }

    return groups.map((g): Finding => {
      const n = Number(g.n);
      const burst = g.outcome === 'failure' ? Math.max(n, bursts.get([g.tenant, g.key_id, g.principal, g.hour].join('\u0000')) ?? 0) : 0;
      const high = burst >= BURST_FAILURES;
      const what = g.outcome === 'success' ? 'Key material imported' : high ? `${burst} failed key imports within an hour` : 'Key import failed';
      return {
        tenant: g.tenant,
        key_id: g.key_id,
        principal: g.principal,
        first_time: g.first,
        last_time: g.last,
        score: g.outcome === 'success' ? 20 : high ? 80 : 50,
        severity: g.outcome === 'success' ? 'low' : high ? 'high' : 'medium',
        event_count: n,
        event_ids: g.ids,
        evidence: {
          outcome: g.outcome,
          imports: n,
          failures_in_hour: g.outcome === 'failure' ? burst : 0,
          vendor_operations: g.vendor_ops.join(','),
          sources: g.sources.join(','),
          error_codes: g.error_codes.join(','),
          key_versions: g.key_versions.join(','),
          valid_to: g.valid_to.join(','),
          import_types: g.import_types.join(','),
          import_jobs: g.import_jobs.join(','),
        },
        title: `${what}: ${g.key_id || '(no key)'}${g.principal ? ` by ${g.principal}` : ''}`,
        group: g.outcome,
      };
    });
  },
};
