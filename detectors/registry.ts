import type { Detector } from './detector.ts';
import { keyDisabledOrDeleted } from './key-disabled-or-deleted.ts';
import { crossAccountUse } from './cross-account-use.ts';
import { externalGrant } from './external-grant.ts';
import { policyWidened } from './policy-widened.ts';
import { keyMaterialDeletedOrExpiring } from './key-material-deleted-or-expiring.ts';
import { keyImport } from './key-import.ts';
import { hsmAdminOperation } from './hsm-admin-operation.ts';
import { auditLogIntegrity } from './audit-log-integrity.ts';
import { firstUseByPrincipal } from './first-use-by-principal.ts';
import { firstUseFromNetwork } from './first-use-from-network.ts';
import { useAfterDisable } from './use-after-disable.ts';
import { adminOffHours } from './admin-off-hours.ts';
import { rotationOverdue } from './rotation-overdue.ts';
import { rotationDisabled } from './rotation-disabled.ts';
import { byokMaterialNotReimported } from './byok-material-not-reimported.ts';
import { oldVersionAfterRotation } from './old-version-after-rotation.ts';
import { replicationDrift } from './replication-drift.ts';
import { kcvMismatch } from './kcv-mismatch.ts';
import { volumeAnomaly } from './volume-anomaly.ts';
import { failureSpike } from './failure-spike.ts';
import { burst } from './burst.ts';

/** Every detector, one line each; `detectors/catalogue.test.ts` checks each has its cases. */
/**
 * The signature detectors: each judges single events (or a key's own state change), needs no
 * history or baseline, and is cheap enough to run on every batch of new events.
 */
export const SIGNATURE_DETECTORS: readonly string[] = [
  'key-disabled-or-deleted',
  'cross-account-use',
  'external-grant',
  'policy-widened',
  'key-material-deleted-or-expiring',
  'key-import',
  'hsm-admin-operation',
  'audit-log-integrity',
];

export const DETECTORS: readonly Detector[] = [
  keyDisabledOrDeleted,
  crossAccountUse,
  externalGrant,
  policyWidened,
  keyMaterialDeletedOrExpiring,
  keyImport,
  hsmAdminOperation,
  auditLogIntegrity,
  firstUseByPrincipal,
  firstUseFromNetwork,
  useAfterDisable,
  adminOffHours,
  rotationOverdue,
  rotationDisabled,
  byokMaterialNotReimported,
  oldVersionAfterRotation,
  replicationDrift,
  kcvMismatch,
  volumeAnomaly,
  failureSpike,
  burst,
];
