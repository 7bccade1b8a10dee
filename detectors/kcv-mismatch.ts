import type { Detector, Finding } from './detector.ts';

/*
 * The contract with the producers of key check value comparisons (the attestation module, a
 * PKCS#11 probe, or any tool that speaks keywatch-json):
 *
 *   one keywatch-json record per comparison, with
 *     source            'attestation', or any source with vendor_operation 'KeyCheckValue'
 *     operation         'describe' (class read), or 'other' with operation_class 'read'
 *     outcome           'success' (a failed computation is not a comparison and is ignored)
 *     key_id            the provider's key (the one alerted on); key_version the version or material compared
 *     attributes.kcv            the KCV the customer's HSM computes over the material it holds
 *     attributes.provider_kcv   the KCV of the provider-side key version (from the provider, or
 *                               computed over the material as imported)
 *     attributes.kcv_method     optional, e.g. 'AES-CMAC' or 'ECB-zero-block', for the analyst
 *     attributes.hsm_key        optional, the HSM object compared (e.g. '1520001/2044')
 *
 * Values are hex, in any case, with or without separators (':', ' ', '-'). When their lengths
 * differ, the shorter is compared with the start of the longer: a KCV is conventionally the first
 * three bytes of the check value, and some tools print more. Fewer than four hex digits on either
 * side is not a comparison.
 */

// Both values as upper-case hex without separators.
const NORM = (col: string) => `upper(replaceRegexpAll(${col}, '[^0-9A-Fa-f]', ''))`;

interface Row {
  tenant: string;
  key_id: string;
  key_version: string;
  principal: string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  kcv: string;
  provider_kcv: string;
  kcv_method: string;
  hsm_key: string;
  sources: string[];
}

export const kcvMismatch: Detector = {
  id: 'kcv-mismatch',
  title: 'Key check value of the provider\'s key differs from the customer HSM\'s',
  severity: 'critical',
  description:
    'A comparison of key check values (KCV) found that the key material at the cloud provider is not the material the customer\'s HSM holds: the imported or escrowed copy was replaced, corrupted, or is another key. ' +
    'Input contract: keywatch-json records with source \'attestation\' (or vendor_operation \'KeyCheckValue\' from any source), operation \'describe\' or \'other\' (class read), outcome success, ' +
    'attributes kcv (the customer HSM\'s value) and provider_kcv (the provider-side value), optionally kcv_method and hsm_key; key_id and key_version name the provider key version compared. ' +
    'Values are compared as hex, ignoring case and separators; when lengths differ, over the shorter length. Records with only one value (or fewer than four hex digits on either side), or a failed computation, are not comparisons and are ignored. Critical: one alert per key version and producer.',
  runbook:
    'Treat as a possible key substitution until explained. Stop new encryption with the provider key (disable the version or the key) if data protected by it must stay recoverable with the customer\'s material. ' +
    'Re-run the comparison by hand: compute the KCV in the HSM (e.g. encrypt a zero block with the key object in evidence hsm_key, or the vendor tool\'s KCV command) and compare it with the provider\'s record of the import (the material id in key_version; AWS keyMaterialId, GCP the import job and version, Azure the version). ' +
    'Then review who imported or rotated the key since the last matching comparison (keywatch sql "SELECT event_time, operation, principal FROM key_events WHERE key_id = \'<key_id>\' AND operation_class = \'lifecycle\' ORDER BY event_time DESC LIMIT 50"). ' +
    'A method mismatch (evidence kcv_method) or a comparison against the wrong HSM object is the benign explanation; fix the producer then.',
  references: [
    'ANSI X9.24-1 (key check values)',
    'PCI PIN Security Requirements, requirement 14 (key check values to verify key components)',
    'https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html',
    'https://cloud.google.com/kms/docs/attest-key',
    'https://learn.microsoft.com/azure/key-vault/keys/byok-specification',
  ],
  falsePositives: [
    'The two sides computed with different methods (AES-CMAC against an ECB zero-block encryption, or a SHA-256 fingerprint against a 3-byte KCV)',
    'The comparison named the wrong HSM object or key version (a new version made primary before the HSM side was updated)',
  ],
  dedupeMinutes: 1440,
  async run(ctx) {
    const rows = await ctx.store.query<Row>(
      `SELECT tenant, key_id, key_version, principal,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              arraySlice(groupArray(event_id), 1, 20) AS ids,
              argMax(attributes['kcv'], (event_time, event_id)) AS kcv, argMax(attributes['provider_kcv'], (event_time, event_id)) AS provider_kcv,
              argMax(attributes['kcv_method'], (event_time, event_id)) AS kcv_method, argMax(attributes['hsm_key'], (event_time, event_id)) AS hsm_key,
              groupUniqArray(source) AS sources
       FROM
       (
         SELECT *, ${NORM("attributes['kcv']")} AS a, ${NORM("attributes['provider_kcv']")} AS b, least(length(a), length(b)) AS len
         FROM key_events
         WHERE (${ctx.scope.sql})
           AND (source = 'attestation' OR vendor_operation = 'KeyCheckValue')
           AND (operation = 'describe' OR (operation = 'other' AND operation_class = 'read'))
           AND outcome = 'success'
       )
       WHERE len >= 4 AND substring(a, 1, len) != substring(b, 1, len)
       GROUP BY tenant, key_id, key_version, principal
       ORDER BY first`,
      ctx.scope.params,
    );
    return rows.map(
      (r): Finding => ({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: 95,
        event_count: Number(r.n),
        event_ids: r.ids,
        evidence: {
          key_version: r.key_version || null,
          kcv: r.kcv,
          provider_kcv: r.provider_kcv,
          kcv_method: r.kcv_method || null,
          hsm_key: r.hsm_key || null,
          sources: [...r.sources].sort().join(','),
        },
        title: `Key check value mismatch (HSM ${r.kcv}, provider ${r.provider_kcv}): ${r.key_id}${r.key_version ? ` version ${r.key_version}` : ''}`,
        group: r.key_version,
      }),
    );
  },
};
