import { incidentNotes } from '../cloudtrail-generator.ts';
import { PAYROLL_KEY_ID } from '../config.ts';
import { demoKeys, demoTenantMap } from '../estate.ts';
import { writeDemoFiles } from '../write-demo-files.ts';
import { plusFirstUse, plusOffHours, type DemoIncident, type DemoSource } from './demo-source.ts';

/** CloudTrail KMS traffic: S3-layout gzip files per account, region and day, plus EventBridge NDJSON. */
export const awsKmsDemo: DemoSource = {
  source: 'aws-kms',
  tenants: demoTenantMap(),
  write: (o) => writeDemoFiles(o.dir, { start: o.start, days: o.days, seed: o.seed, incidents: o.incidents }),
  incidents: (o) => incidentNotes({ start: o.start, days: o.days, seed: o.seed, incidents: true }).map((i) => ({ ...i, expect: EXPECT[i.id]?.(i.at, o.start) })),
};

/** The key id (uuid) of a tenant's key as the generator's incidents pick it: the first of that alias. */
const keyIdOf = (tenant: string, alias: string): string => demoKeys().find((k) => k.tenant === tenant && k.alias === alias)?.keyId ?? alias;

/** What should catch each incident (keywatch evaluate). */
const EXPECT: Record<string, (at: string, start: Date) => NonNullable<DemoIncident['expect']>> = {
  'external-decrypt-burst': (at, start) => ({ detectors: plusFirstUse(at, start, ['cross-account-use']), tenant: 'acme', principal: '999988887777' }),
  // The generated workloads keep calling the billing key after it is disabled; at night the first call may come an hour or two later.
  'key-disabled-then-deletion': (at) => ({ detectors: plusOffHours(at, ['key-disabled-or-deleted', 'use-after-disable']), tenant: 'globex', key_id: keyIdOf('globex', 'billing'), windowMinutes: 240 }),
  'policy-wildcard': (at) => ({ detectors: plusOffHours(at, ['policy-widened']), tenant: 'acme', principal: 'kms-admin' }),
  // 120 extra Decrypt calls in 10 minutes are also an unusual volume for tps-reports.
  'access-denied-spike': () => ({ detectors: ['failure-spike', 'volume-anomaly'], tenant: 'initech', principal: 'tps-reports' }),
  'imported-material-deleted': (at) => ({ detectors: plusOffHours(at, ['key-material-deleted-or-expiring', 'key-import']), tenant: 'globex', principal: 'secops' }),
  'external-grant': (at) => ({ detectors: plusOffHours(at, ['external-grant']), tenant: 'acme', principal: 'kms-admin' }),
  'rotation-turned-off': (at) => ({ detectors: plusOffHours(at, ['rotation-disabled']), tenant: 'initech', principal: 'lumbergh' }),
  // A stranger to the key, from a network it never saw: the first-use detectors find the decrypts too.
  'enumeration-burst': (at, start) => ({ detectors: plusFirstUse(at, start, ['burst']), tenant: 'acme', principal: 'ci-legacy' }),
  'byok-key-imported': () => ({ detectors: ['key-import'], tenant: 'initech', principal: 'lumbergh', key_id: PAYROLL_KEY_ID }),
  // State detectors date their alert by the key's latest use: the last day.
  'byok-material-stale': () => ({ detectors: ['byok-material-not-reimported'], tenant: 'initech', key_id: PAYROLL_KEY_ID, windowMinutes: 12 * 60 }),
  'mrk-key-not-replicated': () => ({ detectors: ['replication-drift'], tenant: 'acme', windowMinutes: 12 * 60 }),
};
