import { incidentNotes } from '../cloudtrail-generator.ts';
import { demoTenantMap } from '../estate.ts';
import { writeDemoFiles } from '../write-demo-files.ts';
import type { DemoSource } from './demo-source.ts';

/** CloudTrail KMS traffic: S3-layout gzip files per account, region and day, plus EventBridge NDJSON. */
export const awsKmsDemo: DemoSource = {
  source: 'aws-kms',
  tenants: demoTenantMap(),
  write: (o) => writeDemoFiles(o.dir, { start: o.start, days: o.days, seed: o.seed, incidents: o.incidents }),
  incidents: (o) => incidentNotes({ start: o.start, days: o.days, seed: o.seed, incidents: true }),
};
