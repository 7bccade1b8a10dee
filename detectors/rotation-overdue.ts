import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';
import { chTime, cryptoperiodDays, daysBetween, evaluationTime, fromCh, keyRotations } from './rotation-evidence.ts';

export const RotationOverdueSettings = z
  .object({
    /** Only keys with an event (use or management) in this many days before the evaluation time are checked, so retired keys stay quiet. */
    activeDays: z.number().int().min(1).max(400).default(30),
  })
  .strict();

const KIND_TEXT: Record<string, string> = {
  rotated: 'last rotated',
  new_version: 'last new version',
  imported: 'material imported',
  created: 'created',
  scheduled: 'last scheduled rotation',
  first_seen: 'first seen',
};

export const rotationOverdue: Detector = {
  id: 'rotation-overdue',
  title: 'Key material older than its cryptoperiod',
  severity: 'medium',
  description:
    'A key still in use whose current material is older than its cryptoperiod (detect.cryptoperiodDays: per key, else per tenant, else the default of 365 days). ' +
    'The material dates from the last rotation evidence in the log (rotations, including AWS RotateKey and Azure KeyRotateIfDue written by the provider itself; new versions; creation; for Cloud KMS and Vault, whose schedulers leave no audit entry, the latest time an enabled schedule would have rotated); ' +
    'when the store holds none of that, from the first time the key was seen, and the age is then a lower bound (evidence age_is_lower_bound). HSM keys (CloudHSM, Luna) never rotate: their age is their generation. ' +
    'BYOK keys are left to byok-material-not-reimported. State detector: it evaluates at the run\'s time (or the end of an explicit range) every key that has an event in the run\'s scope and any event in the last activeDays days, and is not scheduled for deletion; ' +
    'so an incremental run checks the keys that were used or managed since the last run, and a key nobody touches is not re-alerted. Medium; high beyond twice the cryptoperiod.',
  runbook:
    'Look at the evidence: last_evidence (what dates the material, and when), age_days against cryptoperiod_days, rotation_state. ' +
    'If automatic rotation is off, turn it on (AWS EnableKeyRotation with RotationPeriodInDays; GCP gcloud kms keys update --rotation-period --next-rotation-time; Azure Set-AzKeyVaultKeyRotationPolicy with a Rotate action; Vault transit/keys/<k>/config auto_rotate_period) or rotate now (AWS RotateKeyOnDemand, GCP a new primary version, Azure KeyRotate, Vault transit/keys/<k>/rotate). ' +
    'HSM keys cannot rotate in place: generate a successor and re-wrap or re-encrypt with it. If the age is a lower bound (store history shorter than the cryptoperiod) check the key\'s real creation date with the provider before acting. ' +
    'Keys with an agreed longer cryptoperiod go in detect.cryptoperiodDays.keys.',
  references: [
    'NIST SP 800-57 Part 1 Rev. 5, section 5.3 (cryptoperiods)',
    'PCI DSS v4.0 requirement 3.7.4 (key changes at the end of the cryptoperiod)',
    'https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html',
    'https://cloud.google.com/kms/docs/key-rotation',
    'https://learn.microsoft.com/azure/key-vault/keys/how-to-configure-key-rotation',
    'https://developer.hashicorp.com/vault/api-docs/secret/transit#rotate-key',
    'AWS Config rule: cmk-backing-key-rotation-enabled',
  ],
  falsePositives: [
    'Keys kept only to decrypt old data after a successor key took over encryption: activity includes decrypts; allow-list the key or set its cryptoperiod',
    'Automatic rotations that were not ingested (a CloudTrail trail or Azure diagnostic setting added later, a gap in collection)',
    'Asymmetric and HMAC keys that cannot rotate automatically at AWS and are replaced by new keys instead (the old key stays in use for verification): allow-list them or give them a longer cryptoperiod',
    'Keys whose schedule lapsed only because the provider\'s scheduler rotated without a log entry after the schedule was changed in a way the log hides (HMAC\'d Vault periods, Azure rotation policies)',
  ],
  dedupeMinutes: 1440,
  settings: RotationOverdueSettings,
  async run(ctx) {
    const { activeDays } = RotationOverdueSettings.parse(ctx.settings);
    const asOf = evaluationTime(ctx);
    const keys = await keyRotations(ctx, asOf);
    const findings: Finding[] = [];
    for (const k of keys) {
      const r = k.row;
      if (k.byok || k.deleted) continue;
      if (asOf.getTime() - fromCh(r.last_seen).getTime() > activeDays * 86_400_000) continue;
      const period = cryptoperiodDays(ctx.config, r.tenant, r.key_id);
      const age = daysBetween(k.materialSince, asOf);
      if (age <= period) continue;
      const high = age > 2 * period;
      findings.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: '',
        // The key's latest activity dates the finding, so the alert is one per key and day of use.
        first_time: r.last_seen,
        last_time: r.last_seen,
        score: Math.min(100, 40 + (age / period) * 20),
        severity: high ? 'high' : 'medium',
        event_count: Number(r.scope_events),
        event_ids: [...new Set([k.evidenceEventId, r.last_event_id, ...r.scope_event_ids])].filter((id) => id !== '').slice(0, 20),
        evidence: {
          source: r.source,
          age_days: age,
          cryptoperiod_days: period,
          age_is_lower_bound: k.lowerBound,
          last_evidence: k.kind,
          last_evidence_time: chTime(k.materialSince),
          last_evidence_event_id: k.evidenceEventId,
          last_evidence_operation: k.kind === 'scheduled' ? r.state_vendor_operation : k.kind === 'first_seen' ? null : r.material_vendor_operation,
          key_version: k.kind === 'first_seen' || k.kind === 'scheduled' ? null : r.material_version || null,
          created: Number(r.creates) > 0 ? r.created : null,
          rotation_state: k.state,
          rotation_period_days: k.periodDays,
          last_seen: r.last_seen,
        },
        title: `Key ${KIND_TEXT[k.kind] ?? k.kind} ${Math.floor(age)}${k.lowerBound ? '+' : ''} days ago, cryptoperiod ${period} days: ${r.key_id}`,
      });
    }
    return findings;
  },
};
