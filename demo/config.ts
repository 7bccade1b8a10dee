import type { DetectConfig } from '../core/config.ts';
import { demoKeys } from './estate.ts';

/** initech's BYOK payroll key (an incident of the aws-kms demo source, not part of the routine estate). */
export const PAYROLL_KEY_ID = '7c1e9a42-5d3b-4f80-a6e2-0b9d4c7f1e35';

export function payrollKeyArn(): string {
  const hr = demoKeys().find((k) => k.tenant === 'initech' && k.alias === 'hr');
  return `arn:aws:kms:${hr?.region ?? 'ap-southeast-2'}:${hr?.account ?? '456789012345'}:key/${PAYROLL_KEY_ID}`;
}

/**
 * What the demo estate's owners would write in the `detect` part of their keywatch.config.json:
 * facts about their keys that no log carries. `keywatch demo` and `keywatch evaluate` lay it under
 * the user's own detect configuration (the user's values win).
 *
 * - Cryptoperiods: acme's platform team rotates every Vault transit key at least weekly (the
 *   key-rotator's nightly round keeps them two to three days old), and initech's payroll BYOK key
 *   must get fresh material every 14 days. Both are short so that a three-week demo shows the
 *   drift; real estates mostly use 90 to 365 days.
 * - Disaster recovery: acme replicates its multi-Region KMS keys from Frankfurt to Ireland.
 */
export const DEMO_CRYPTOPERIOD_KEYS: Record<string, number> = {
  ...Object.fromEntries(['transit/orders', 'transit/payments', 'transit/warehouse', 'globex/transit/billing', 'globex/transit/ledger', 'initech/crypto/reports', 'initech/crypto/hr'].map((k) => [k, 7])),
  [payrollKeyArn()]: 14,
};

export const DEMO_DR_REGIONS: Record<string, string> = { 'eu-central-1': 'eu-west-1' };

/**
 * The user's detect configuration with the demo estate's facts under it.
 *
 * @example const detect = withDemoDetect(config.detect)
 */
export function withDemoDetect(detect: DetectConfig): DetectConfig {
  const drift = detect.detectors['replication-drift'] ?? {};
  const drRegions = { ...DEMO_DR_REGIONS, ...((drift.drRegions as Record<string, string> | undefined) ?? {}) };
  return {
    ...detect,
    cryptoperiodDays: { ...detect.cryptoperiodDays, keys: { ...DEMO_CRYPTOPERIOD_KEYS, ...detect.cryptoperiodDays.keys } },
    detectors: { ...detect.detectors, 'replication-drift': { ...drift, drRegions } },
  };
}
