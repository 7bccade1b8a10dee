import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';

export const OldVersionSettings = z
  .object({
    /**
     * Uses of the old version this soon after the rotation are propagation, not drift. Cloud KMS
     * says a primary version change can take up to 3 hours to be seen everywhere; clients cache too.
     */
    graceMinutes: z.number().int().min(0).max(10_080).default(180),
    /** Still encrypting with the old version this many days after the rotation: medium instead of low. */
    staleDays: z.number().int().min(1).max(365).default(7),
  })
  .strict();

// Operations that make new ciphertext or signatures; decrypt, unwrap and verify with old versions are expected.
const PRODUCING = "('encrypt', 'generate_data_key', 'sign', 'wrap')";

interface Row {
  tenant: string;
  key_id: string;
  principal: string;
  old_version: string;
  current_version: string;
  rotation_time: string;
  rotation_event_id: string;
  rotation_operation: string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  operations: string[];
  sources: string[];
  max_seconds_after: string;
}

export const oldVersionAfterRotation: Detector = {
  id: 'old-version-after-rotation',
  title: 'Old key version still used to encrypt after rotation',
  severity: 'low',
  description:
    'After a rotation that named the new current version (AWS RotateKey with currentKeyMaterialId, GCP UpdateCryptoKeyPrimaryVersion, Azure KeyRotate / KeyRotateIfDue, Vault transit/keys/<k>/rotate with latest_version), a principal still encrypts, generates data keys, signs or wraps with an older version, more than graceMinutes after the rotation. ' +
    'Decrypt, unwrap and verify with old versions are expected and ignored. A version counts as older when both are numbers and it is smaller (GCP, Vault), or, for opaque ids (AWS key material ids, Azure version ids), when it was seen on the key before the rotation or is the rotation\'s previous_key_material_id; a version first seen after the rotation is taken as newer (a rotation the log did not record). ' +
    'Only where the log carries versions: GCP names a version when the caller does (always for asymmetric keys, whose rotations are not primary changes and are not checked), Azure when the caller uses a versioned key URI, Vault in response data unless HMAC\'d, AWS on records with keyMaterialId. ' +
    'Pinned versions defeat rotation: new data keeps landing under the material the rotation was meant to retire. Low; medium when it goes on staleDays after the rotation.',
  runbook:
    'Find the client (principal, evidence operations and sources) and where it pins the version: an Azure versioned key URI in a CMK setting (SQL TDE, Storage, Disk Encryption Set: switch to a versionless URI or enable key auto-rotation there), a GCP client naming cryptoKeyVersions/<n> in Encrypt or AsymmetricSign, a Vault client sending key_version in encrypt or a min_encryption_version issue. ' +
    'Update the client to use the current version, then consider disabling the old version for encryption (Vault min_encryption_version; GCP disable the old version once nothing decrypts with it). If the rotation itself was unplanned, check who rotated (rotation_event_id).',
  references: [
    'https://cloud.google.com/kms/docs/key-rotation#how_key_rotation_works',
    'https://cloud.google.com/kms/docs/consistency',
    'https://learn.microsoft.com/azure/key-vault/keys/how-to-configure-key-rotation',
    'https://learn.microsoft.com/azure/azure-sql/database/transparent-data-encryption-byok-key-rotation',
    'https://developer.hashicorp.com/vault/api-docs/secret/transit#encrypt-data',
    'NIST SP 800-57 Part 1 Rev. 5, section 5.3.4 (originator-usage period)',
  ],
  falsePositives: [
    'Signing with an older version on purpose while verifiers still only trust the old public key (a staged key roll-over): allow-list the principal for the roll-over window',
    'Clients with a long key cache (data key caching, Azure services polling every few hours): raise graceMinutes',
    'A rollback that made an older version primary again through the console in a way the log records as a key update rather than a primary version change: uses of the restored version look stale until the next logged rotation',
  ],
  dedupeMinutes: 1440,
  settings: OldVersionSettings,
  async run(ctx) {
    const { graceMinutes, staleDays } = OldVersionSettings.parse(ctx.settings);
    // Rotations are rare: the keys that have them, and the versions they made, are looked up first.
    // A use pairs only with a rotation of its own key, and is old only when that rotation made
    // another version, so the uses of keys without rotations, and of the one version every rotation
    // of a key made, are not read.
    const rotated = await ctx.store.query<{ key_id: string; same: string; versions: string }>(
      `SELECT key_id, toString(cityHash64(tenant, key_id, any(key_version))) AS same, uniqExact(key_version) AS versions
       FROM key_events
       WHERE operation = 'rotate_key' AND outcome = 'success' AND key_version != ''
       GROUP BY tenant, key_id`,
    );
    if (rotated.length === 0) return [];
    const used = await ctx.store.query<{ key_id: string }>(
      `SELECT DISTINCT key_id
       FROM key_events
       WHERE (${ctx.scope.sql}) AND operation IN ${PRODUCING} AND outcome = 'success' AND key_version != ''
         AND key_id IN {ov_keys:Array(String)} AND toString(cityHash64(tenant, key_id, key_version)) NOT IN {ov_same:Array(String)}`,
      { ...ctx.scope.params, ov_keys: [...new Set(rotated.map((r) => r.key_id))], ov_same: rotated.filter((r) => Number(r.versions) === 1).map((r) => r.same) },
    );
    if (used.length === 0) return [];
    const only = { ov_keys: used.map((r) => r.key_id), ov_same: rotated.filter((r) => Number(r.versions) === 1).map((r) => r.same) };
    const rows = await ctx.store.query<Row>(
      `WITH
         uses AS (
           SELECT tenant, key_id, principal, key_version, event_time, event_id, operation, source
           FROM key_events
           WHERE (${ctx.scope.sql}) AND operation IN ${PRODUCING} AND outcome = 'success' AND key_version != ''
             AND key_id IN {ov_keys:Array(String)} AND toString(cityHash64(tenant, key_id, key_version)) NOT IN {ov_same:Array(String)}
         ),
         rotations AS (
           SELECT tenant, key_id, event_time AS rot_time, key_version AS rot_version, event_id AS rot_id, vendor_operation AS rot_op,
                  attributes['previous_key_material_id'] AS rot_previous
           FROM key_events
           WHERE operation = 'rotate_key' AND outcome = 'success' AND key_version != ''
             AND key_id IN {ov_keys:Array(String)} AND (tenant, key_id) IN (SELECT tenant, key_id FROM uses)
         ),
         versions AS (
           SELECT tenant, key_id, key_version, min(event_time) AS version_first_seen
           FROM key_events
           WHERE key_version != '' AND key_id IN {ov_keys:Array(String)} AND (tenant, key_id) IN (SELECT tenant, key_id FROM uses)
           GROUP BY tenant, key_id, key_version
         ),
         paired AS (
           -- Each use with the latest rotation before it.
           SELECT u.tenant AS tenant, u.key_id AS key_id, u.principal AS principal, u.key_version AS key_version, u.event_time AS event_time,
                  u.event_id AS event_id, u.operation AS operation, u.source AS source,
                  r.rot_time AS rot_time, r.rot_version AS rot_version, r.rot_id AS rot_id, r.rot_op AS rot_op, r.rot_previous AS rot_previous
           FROM uses AS u
           ASOF INNER JOIN rotations AS r ON u.tenant = r.tenant AND u.key_id = r.key_id AND u.event_time > r.rot_time
         )
       SELECT p.tenant AS tenant, p.key_id AS key_id, p.principal AS principal, p.key_version AS old_version,
              argMax(p.rot_version, p.event_time) AS current_version, toString(argMax(p.rot_time, p.event_time)) AS rotation_time,
              argMax(p.rot_id, p.event_time) AS rotation_event_id, argMax(p.rot_op, p.event_time) AS rotation_operation,
              toString(min(p.event_time)) AS first, toString(max(p.event_time)) AS last, count() AS n,
              arraySlice(groupArray(p.event_id), 1, 18) AS ids, groupUniqArray(p.operation) AS operations, groupUniqArray(p.source) AS sources,
              max(dateDiff('second', p.rot_time, p.event_time)) AS max_seconds_after
       FROM paired AS p
       INNER JOIN versions AS v ON v.tenant = p.tenant AND v.key_id = p.key_id AND v.key_version = p.key_version
       WHERE p.key_version != p.rot_version
         AND p.event_time > p.rot_time + toIntervalMinute({grace_minutes:UInt32})
         AND if(isNotNull(toUInt64OrNull(p.key_version)) AND isNotNull(toUInt64OrNull(p.rot_version)),
                toUInt64OrZero(p.key_version) < toUInt64OrZero(p.rot_version),
                v.version_first_seen <= p.rot_time OR p.key_version = p.rot_previous)
       GROUP BY p.tenant, p.key_id, p.principal, p.key_version
       ORDER BY first`,
      { ...ctx.scope.params, ...only, grace_minutes: graceMinutes },
    );
    return rows.map((r): Finding => {
      const daysAfter = Number(r.max_seconds_after) / 86_400;
      const stale = daysAfter > staleDays;
      return {
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: stale ? 60 : 35,
        severity: stale ? 'medium' : 'low',
        event_count: Number(r.n),
        event_ids: [...r.ids, r.rotation_event_id],
        evidence: {
          old_version: r.old_version,
          current_version: r.current_version,
          rotation_time: r.rotation_time,
          rotation_event_id: r.rotation_event_id,
          rotation_operation: r.rotation_operation,
          days_after_rotation: Math.round(daysAfter * 10) / 10,
          operations: [...r.operations].sort().join(','),
          sources: [...r.sources].sort().join(','),
        },
        title: `Version ${r.old_version} of ${r.key_id} still used to ${[...r.operations].sort().join('/')} after rotation to ${r.current_version}`,
        group: r.old_version,
      };
    });
  },
};
