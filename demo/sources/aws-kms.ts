import { incidentNotes } from '../cloudtrail-generator.ts';
import { demoTenantMap } from '../estate.ts';
import { writeDemoFiles } from '../write-demo-files.ts';
import { plusOffHours, type DemoIncident, type DemoSource } from './demo-source.ts';

/** CloudTrail KMS traffic: S3-layout gzip files per account, region and day, plus EventBridge NDJSON. */
export const awsKmsDemo: DemoSource = {
  source: 'aws-kms',
  tenants: demoTenantMap(),
  write: (o) => writeDemoFiles(o.dir, { start: o.start, days: o.days, seed: o.seed, incidents: o.incidents }),
  incidents: (o) => incidentNotes({ start: o.start, days: o.days, seed: o.seed, incidents: true }).map((i) => ({ ...i, expect: EXPECT[i.id]?.(i.at) })),
};

/** What should catch each incident (keywatch evaluate). */
const EXPECT: Record<string, (at: string) => NonNullable<DemoIncident['expect']>> = {
  'external-decrypt-burst': () => ({ detectors: ['cross-account-use'], tenant: 'acme', principal: '999988887777' }),
  // The generated workloads keep calling the billing key after it is disabled.
  'key-disabled-then-deletion': (at) => ({ detectors: plusOffHours(at, ['key-disabled-or-deleted', 'use-after-disable']), tenant: 'globex' }),
  'policy-wildcard': (at) => ({ detectors: plusOffHours(at, ['policy-widened']), tenant: 'acme', principal: 'kms-admin' }),
  // 120 extra Decrypt calls in 10 minutes are also an unusual volume for tps-reports.
  'access-denied-spike': () => ({ detectors: ['failure-spike', 'volume-anomaly'], tenant: 'initech', principal: 'tps-reports' }),
  'imported-material-deleted': (at) => ({ detectors: plusOffHours(at, ['key-material-deleted-or-expiring', 'key-import']), tenant: 'globex', principal: 'secops' }),
  'external-grant': (at) => ({ detectors: plusOffHours(at, ['external-grant']), tenant: 'acme', principal: 'kms-admin' }),
};
