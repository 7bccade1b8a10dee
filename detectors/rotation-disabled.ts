import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';
import { chTime, daysBetween, evaluationTime, fromCh, keyRotations } from './rotation-evidence.ts';

export const RotationDisabledSettings = z
  .object({
    /** A key whose rotation was turned off before the run's scope is reported while it has an event in this many days before the evaluation time. */
    activeDays: z.number().int().min(1).max(400).default(30),
  })
  .strict();

export const rotationDisabled: Detector = {
  id: 'rotation-disabled',
  title: 'Automatic key rotation turned off',
  severity: 'medium',
  description:
    'Automatic rotation of a key was turned off and not turned on again: AWS DisableKeyRotation, GCP UpdateCryptoKey clearing rotationPeriod / nextRotationTime, Vault transit/keys/<k>/config with auto_rotate_period 0. ' +
    'Fires for the change itself when it is in the run\'s scope, and for a key still in use (an event in the last activeDays days) whose latest schedule change, however old, is a turn-off, unless the key is scheduled for deletion. ' +
    'State detector: it evaluates at the run\'s time (or the end of an explicit range) the keys with an event in the scope; the alert is dated by the turn-off, so it is one alert per turn-off that later runs extend, not a new one each day. ' +
    'Not visible: Azure rotation policies (KeyRotationPolicySet is logged without the policy, so whether the Rotate action was removed is unknown) and HMAC\'d Vault periods; keys on which rotation was never turned on are rotation-overdue\'s concern.',
  runbook:
    'Ask the principal in the alert (evidence disabled_by) why rotation was turned off; a change ticket or a migration to a key that cannot rotate (asymmetric, imported material) is a valid reason. ' +
    'If not intended, turn it back on: AWS EnableKeyRotation (with RotationPeriodInDays), GCP gcloud kms keys update <key> --rotation-period=<p> --next-rotation-time=<t>, Vault transit/keys/<k>/config auto_rotate_period=<d>. ' +
    'Check what else the principal changed in the same session (keywatch sql "SELECT event_time, key_id, operation FROM key_events WHERE principal = \'<principal>\' ORDER BY event_time DESC LIMIT 100"): turning rotation off is a step in keeping compromised material in service.',
  references: [
    'https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKeyRotation.html',
    'https://cloud.google.com/kms/docs/rotate-key#disable_automatic_rotation',
    'https://developer.hashicorp.com/vault/api-docs/secret/transit#auto_rotate_period',
    'AWS Config rule: cmk-backing-key-rotation-enabled',
    'Sigma: aws_kms_disable_key_rotation (CloudTrail eventName DisableKeyRotation)',
    'CIS AWS Foundations Benchmark 3.6 (rotation for customer-created symmetric CMKs)',
  ],
  falsePositives: [
    'Infrastructure as code that rewrites the key (Terraform replacing rotation settings) in two steps: off, then on in the next apply; the re-enable clears the state at the next run',
    'Keys moved to manual rotation on purpose (a rotation runbook, a BYOK re-import schedule): allow-list the key with the reason',
    'Keys being retired that are not yet scheduled for deletion',
  ],
  settings: RotationDisabledSettings,
  async run(ctx) {
    const { activeDays } = RotationDisabledSettings.parse(ctx.settings);
    const asOf = evaluationTime(ctx);
    const keys = await keyRotations(ctx, asOf);
    const findings: Finding[] = [];
    for (const k of keys) {
      const r = k.row;
      if (k.state !== 'disabled' || k.deleted) continue;
      const changeInScope = Number(r.state_in_scope) === 1;
      const active = asOf.getTime() - fromCh(r.last_seen).getTime() <= activeDays * 86_400_000;
      if (!changeInScope && !active) continue;
      findings.push({
        tenant: r.tenant,
        key_id: r.key_id,
        principal: r.state_principal,
        first_time: r.state_time,
        last_time: r.last_seen,
        score: 55,
        event_count: Number(r.scope_events),
        event_ids: [...new Set([r.state_event_id, r.last_event_id, ...r.scope_event_ids])].filter((id) => id !== '').slice(0, 20),
        evidence: {
          source: r.source,
          disabled_by: r.state_principal,
          vendor_operation: r.state_vendor_operation,
          disabled_time: r.state_time,
          days_disabled: daysBetween(fromCh(r.state_time), asOf),
          change_in_scope: changeInScope,
          material_since: chTime(k.materialSince),
          material_evidence: k.kind,
          last_seen: r.last_seen,
        },
        title: `Automatic rotation turned off (${r.state_vendor_operation}) and not turned on again: ${r.key_id}`,
      });
    }
    return findings;
  },
};
