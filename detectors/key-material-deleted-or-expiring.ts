import type { Detector, Finding, Severity } from './detector.ts';

// How far back the latest import of each key material is looked for. AWS lets validTo be any
// future time, but BYOK programmes re-import at least yearly; an import older than this whose
// material has not expired yet is not seen (see the description).
const LOOKBACK_DAYS = 400;
// Imported material that expires within this many days fires (medium), within URGENT_DAYS high.
const WARN_DAYS = 30;
const URGENT_DAYS = 7;
// Material that expired up to this many days ago without a re-import or a recorded deletion still
// fires (AWS should have logged DeleteExpiredKeyMaterial); older than that the key is abandoned.
const EXPIRED_DAYS = 30;
const DAY_MS = 86_400_000;

// Azure Key Vault's own Event Grid notifications for a key's expiry date (`exp`), logged in
// AuditEvent by the service itself.
const AZURE_NEAR_EXPIRY = 'KeyNearExpiryEventGridNotification';
const AZURE_EXPIRED = 'KeyExpiredEventGridNotification';

const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The instant of an AWS `validTo` as keywatch stores it: CloudTrail writes it in Java's medium
 * format in UTC (`Mar 2, 2027, 12:00:00 AM`, older JDKs without the second comma, newer ones with a
 * narrow no-break space before AM/PM); other producers write ISO 8601 or epoch seconds. Undefined
 * when it is none of these.
 *
 * @example parseValidTo('Mar 2, 2027, 12:00:00 AM') // 2027-03-02T00:00:00.000Z
 */
export function parseValidTo(text: string): Date | undefined {
  const s = text.trim();
  const java = /^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}),? (\d{1,2}):(\d{2}):(\d{2})[\s\u202f]?([AP]M)$/.exec(s);
  if (java) {
    const [, mon, day, year, hh, mm, ss, ampm] = java;
    const month = MONTHS.indexOf(mon ?? '');
    const hour = (Number(hh) % 12) + (ampm === 'PM' ? 12 : 0);
    if (month < 0 || Number(hh) > 12) return undefined;
    const d = new Date(Date.UTC(Number(year), month, Number(day), hour, Number(mm), Number(ss)));
    return d.getUTCDate() === Number(day) ? d : undefined;
  }
  if (/^\d{9,10}(\.\d+)?$/.test(s)) return new Date(Number(s) * 1000);
  if (/^\d{13}$/.test(s)) return new Date(Number(s));
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s)) {
    const iso = s.replace(' ', 'T');
    const d = new Date(/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

interface EventRow {
  tenant: string;
  key_id: string;
  principal: string;
  vendor_operation: string;
  first: string;
  last: string;
  n: string;
  ids: string[];
  sources: string[];
  key_versions: string[];
}

interface ImportRow {
  tenant: string;
  key_id: string;
  key_version: string;
  importer: string;
  import_time: string;
  import_id: string;
  import_source: string;
  valid_to: string;
  expiration_model: string;
}

interface DeletionRow {
  tenant: string;
  key_id: string;
  key_version: string;
  last_deleted: string;
}

export const keyMaterialDeletedOrExpiring: Detector = {
  id: 'key-material-deleted-or-expiring',
  title: 'Imported key material deleted or about to expire',
  severity: 'high',
  description:
    `Imported (BYOK) key material was deleted (AWS DeleteImportedKeyMaterial, which takes effect at once, or DeleteExpiredKeyMaterial, logged by AWS when the material reached its validTo), or is about to expire: the latest successful ImportKeyMaterial of a key material set an expiry (validTo, expiration model KEY_MATERIAL_EXPIRES) that falls within ${WARN_DAYS} days of now, or passed up to ${EXPIRED_DAYS} days ago with no re-import and no deletion since. Azure Key Vault's own near-expiry and expired notifications for a key count too. Once the material is gone the key is unusable (AWS: PendingImport) and everything encrypted under it is unreadable until the same material is imported again, so a deletion is either an outage or an attacker holding the data to ransom. Expiries are computed from imports of the last ${LOOKBACK_DAYS} days, whatever the run's scope.`,
  runbook:
    'For a deletion: ask the key owner whether it was planned; if not, re-import the same key material from the escrow copy at once (AWS ImportKeyMaterial with the original material and a new import token; only the original material works), then review the principal\'s other calls in the same session (keywatch sql "SELECT * FROM key_events WHERE principal = \'<principal>\' ORDER BY event_time DESC LIMIT 100") and revoke its credentials if they may be stolen. For an expiry: have the key custodian re-import the material with a later validTo (or KEY_MATERIAL_DOES_NOT_EXPIRE) before the date in the evidence; check that the escrowed material is still retrievable from the HSM or vault that holds it. For an Azure expiry notification, extend the key\'s expiry date or rotate it.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-delete-key-material.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-import-key-material.html',
    'https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/ct-importkeymaterial.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/ct-deleteexpiredkeymaterial.html',
    'https://learn.microsoft.com/azure/key-vault/keys/event-grid-overview',
    'Panther: AWS.KMS.CustomerManagedKeyLoss (DisableKey and ScheduleKeyDeletion only; this covers the imported-material path it misses)',
    'MITRE ATT&CK T1485 (Data Destruction), T1486 (Data Encrypted for Impact)',
  ],
  falsePositives: [
    'Planned retirement of a BYOK key whose material is deleted on purpose (declare a maintenance window or allow-list the key)',
    'Short-lived material imported with a validTo on purpose, e.g. test keys re-imported by automation before expiry (allow-list the test tenant)',
    'A re-import done through a path keywatch does not ingest (another trail or region) leaves the older expiry firing until the re-import is seen',
  ],
  dedupeMinutes: 60,
  async run(ctx) {
    const findings: Finding[] = [];

    // Deletions and Azure's expiry notifications in scope. Provider-internal callers are not left
    // out: AWS itself deletes expired material, and Key Vault itself sends the notifications.
    const events = await ctx.store.query<EventRow>(
      `SELECT tenant, key_id, principal, vendor_operation, toString(min(event_time)) AS first, toString(max(event_time)) AS last, count() AS n,
              arraySlice(groupArray(event_id), 1, 20) AS ids, groupUniqArray(source) AS sources,
              arrayFilter(v -> v != '', groupUniqArray(key_version)) AS key_versions
       FROM key_events
       WHERE (${ctx.scope.sql}) AND outcome = 'success'
         AND (operation = 'delete_key_material' OR (source = 'azure-key-vault' AND vendor_operation IN {azure_ops:Array(String)}))
       GROUP BY tenant, key_id, principal, vendor_operation, toStartOfHour(event_time)
       ORDER BY first`,
      { ...ctx.scope.params, azure_ops: [AZURE_NEAR_EXPIRY, AZURE_EXPIRED] },
    );
    for (const r of events) {
      const near = r.vendor_operation === AZURE_NEAR_EXPIRY;
      const expired = r.vendor_operation === AZURE_EXPIRED || r.vendor_operation === 'DeleteExpiredKeyMaterial';
      findings.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: near ? 55 : 85,
        severity: near ? 'medium' : 'high',
        event_count: Number(r.n),
        event_ids: r.ids,
        evidence: { state: near ? 'expiring' : expired ? 'expired' : 'deleted', vendor_operation: r.vendor_operation, sources: r.sources.join(','), key_versions: r.key_versions.join(',') },
        title: `${near ? 'Key near its expiry date' : r.vendor_operation === AZURE_EXPIRED ? 'Key expired' : expired ? 'Expired imported key material deleted' : 'Imported key material deleted'}: ${r.key_id}`,
        group: `event:${r.vendor_operation}`,
      });
    }

    // Expiries: the latest successful import of each key material over the look-back (the import
    // can be months old, so this ignores the scope), and the deletions since.
    const lookback = { lb_from: chTime(new Date(ctx.now.getTime() - LOOKBACK_DAYS * DAY_MS)), lb_to: chTime(ctx.now) };
    const imports = await ctx.store.query<ImportRow>(
      `SELECT tenant, key_id, key_version, argMax(principal, event_time) AS importer, toString(max(event_time)) AS import_time,
              argMax(event_id, event_time) AS import_id, argMax(source, event_time) AS import_source,
              argMax(attributes['valid_to'], event_time) AS valid_to, argMax(attributes['expiration_model'], event_time) AS expiration_model
       FROM key_events
       WHERE operation = 'import_key_material' AND outcome = 'success' AND key_id != ''
         AND event_time >= {lb_from:DateTime64(3)} AND event_time <= {lb_to:DateTime64(3)}
       GROUP BY tenant, key_id, key_version
       HAVING valid_to != '' AND expiration_model != 'KEY_MATERIAL_DOES_NOT_EXPIRE'`,
      lookback,
    );
    if (imports.length === 0) return findings;
    const deletions = await ctx.store.query<DeletionRow>(
      `SELECT tenant, key_id, key_version, toString(max(event_time)) AS last_deleted
       FROM key_events
       WHERE operation = 'delete_key_material' AND outcome = 'success' AND key_id IN {keys:Array(String)}
         AND event_time >= {lb_from:DateTime64(3)} AND event_time <= {lb_to:DateTime64(3)}
       GROUP BY tenant, key_id, key_version`,
      { ...lookback, keys: [...new Set(imports.map((i) => i.key_id))] },
    );

    for (const i of imports) {
      // A deletion naming no material (older CloudTrail records) deletes the key's material.
      const deletedSince = deletions.some(
        (d) => d.tenant === i.tenant && d.key_id === i.key_id && (d.key_version === '' || d.key_version === i.key_version) && d.last_deleted >= i.import_time,
      );
      const validTo = parseValidTo(i.valid_to);
      if (deletedSince || !validTo) continue;
      const days = (validTo.getTime() - ctx.now.getTime()) / DAY_MS;
      if (days > WARN_DAYS || days < -EXPIRED_DAYS) continue;
      const severity: Severity = days < URGENT_DAYS ? 'high' : 'medium';
      const when = days < 0 ? `expired ${Math.ceil(-days)} day(s) ago` : `expires in ${Math.floor(days)} day(s)`;
      findings.push({
        tenant: i.tenant,
        key_id: i.key_id,
        principal: i.importer,
        first_time: i.import_time,
        last_time: i.import_time,
        score: days < 0 ? 90 : days < URGENT_DAYS ? 80 : 55,
        severity,
        event_count: 1,
        event_ids: [i.import_id],
        evidence: {
          state: days < 0 ? 'expired' : 'expiring',
          valid_to: i.valid_to,
          valid_to_utc: validTo.toISOString(),
          days_left: Math.round(days * 10) / 10,
          expiration_model: i.expiration_model,
          key_material_id: i.key_version,
          import_time: i.import_time,
          sources: i.import_source,
        },
        title: `Imported key material ${when}: ${i.key_id}`,
        // One alert per key material and expiry: every run reports it again (so the severity
        // rises as the date nears) and the engine folds the reports into that alert.
        group: `expiry:${i.key_version}:${i.valid_to}`,
      });
    }
    return findings;
  },
};
