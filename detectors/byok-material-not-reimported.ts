import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';
import { chTime, cryptoperiodDays, daysBetween, evaluationTime, fromCh, keyRotations } from './rotation-evidence.ts';

export const ByokSettings = z
  .object({
    /** Only keys with an event in this many days before the evaluation time are checked. */
    activeDays: z.number().int().min(1).max(400).default(30),
  })
  .strict();

export const byokMaterialNotReimported: Detector = {
  id: 'byok-material-not-reimported',
  title: 'Imported (BYOK) key material not replaced within its cryptoperiod',
  severity: 'medium',
  description:
    'A key whose material the customer imported (BYOK) and which is still in use, while no new material has been imported for longer than its cryptoperiod (detect.cryptoperiodDays). ' +
    'Providers cannot rotate imported material: AWS keys of origin EXTERNAL (automatic rotation is not available; new material is an ImportKeyMaterial with import type NEW_KEY_MATERIAL, optionally activated by RotateKeyOnDemand), ' +
    'GCP keys whose newest version is an ImportCryptoKeyVersion, Azure keys whose newest version is a KeyImport, Vault transit keys whose newest version came from keys/<k>/import or import_version. ' +
    'Re-importing the same material after it expired (AWS EXISTING_KEY_MATERIAL) is not a rotation and does not reset the age (evidence existing_reimports). ' +
    'When the import predates the stored history the age counts from the key\'s first appearance and is a lower bound. ' +
    'CloudTrail records without importType (written before AWS kept several materials per key) count every re-import as new material. ' +
    'State detector like rotation-overdue: evaluated at the run\'s time for keys with an event in the scope and any event in the last activeDays days, not scheduled for deletion; one alert per key and day.',
  runbook:
    'Find the key\'s owner and the HSM that holds the source material (evidence imported_by, key_material). Generate new material in the customer HSM, wrap it with a fresh import token and import it: AWS GetParametersForImport + ImportKeyMaterial --import-type NEW_KEY_MATERIAL, then RotateKeyOnDemand; ' +
    'GCP a new import job and ImportCryptoKeyVersion, then make it primary; Azure KeyImport (BYOK transfer blob) to the same key name; Vault transit/keys/<k>/import_version. ' +
    'For AWS keys created before multi-material support, create a new EXTERNAL key, import, and move the alias. Keep the old material for decryption until data is re-encrypted. Agreed exceptions go in detect.cryptoperiodDays.keys.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html',
    'https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html#rotate-keys-manually',
    'https://cloud.google.com/kms/docs/importing-a-key',
    'https://learn.microsoft.com/azure/key-vault/keys/byok-specification',
    'https://developer.hashicorp.com/vault/api-docs/secret/transit#import-key-version',
    'NIST SP 800-57 Part 1 Rev. 5, section 5.3 (cryptoperiods)',
  ],
  falsePositives: [
    'Keys kept only to decrypt old data (no encryption since the material was replaced by a new key): activity includes decrypts; allow-list the key or set its cryptoperiod',
    'Keys whose policy sets a longer cryptoperiod for imported material (escrowed root keys): set detect.cryptoperiodDays.keys',
    'Imports that were not ingested (the import was done in a region or account whose trail is not collected)',
  ],
  dedupeMinutes: 1440,
  settings: ByokSettings,
  async run(ctx) {
    const { activeDays } = ByokSettings.parse(ctx.settings);
    const asOf = evaluationTime(ctx);
    const keys = await keyRotations(ctx, asOf);
    const findings: Finding[] = [];
    for (const k of keys) {
      const r = k.row;
      if (!k.byok || k.deleted) continue;
      if (asOf.getTime() - fromCh(r.last_seen).getTime() > activeDays * 86_400_000) continue;
      // A key created for import whose material never arrived cannot be used; nothing to rotate.
      if (k.kind === 'created' && Number(r.imports) === 0) continue;
      const period = cryptoperiodDays(ctx.config, r.tenant, r.key_id);
      const age = daysBetween(k.materialSince, asOf);
      if (age <= period) continue;
      const hasImport = Number(r.imports) > 0;
      findings.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: '',
        first_time: r.last_seen,
        last_time: r.last_seen,
        score: Math.min(100, 40 + (age / period) * 20),
        event_count: Number(r.scope_events),
        event_ids: [...new Set([k.evidenceEventId, r.import_event_id, r.last_event_id, ...r.scope_event_ids])].filter((id) => id !== '').slice(0, 20),
        evidence: {
          source: r.source,
          age_days: age,
          cryptoperiod_days: period,
          age_is_lower_bound: k.lowerBound,
          material_since: chTime(k.materialSince),
          material_evidence: k.kind,
          last_import_time: hasImport ? r.import_time : null,
          import_type: hasImport ? r.import_type || null : null,
          key_material: hasImport ? r.import_version || null : null,
          imported_by: hasImport ? r.import_principal : null,
          existing_reimports: Number(r.existing_reimports),
          last_existing_reimport: Number(r.existing_reimports) > 0 ? r.existing_reimport_time : null,
          last_seen: r.last_seen,
        },
        title: `Imported key material ${Math.floor(age)}${k.lowerBound ? '+' : ''} days old, cryptoperiod ${period} days: ${r.key_id}`,
      });
    }
    return findings;
  },
};
