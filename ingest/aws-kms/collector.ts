import type { Collector } from '../collector.ts';
import { awsKmsClassifySql, awsKmsNormalizeSql } from './normalize-sql.ts';

const EVENT_SOURCE = Buffer.from('"eventSource"');
const DIGEST = Buffer.from('"digestStartTime"');
const DETAIL_TYPE = Buffer.from('"detail-type"');
const VIA_CLOUDTRAIL = Buffer.from('via CloudTrail"');

export const awsKmsCollector: Collector = {
  source: 'aws-kms',
  formats: ['aws-cloudtrail', 'aws-kms', 'cloudtrail'],
  description: 'AWS CloudTrail records for kms.amazonaws.com: S3 files ({"Records":[...]}, gzip), NDJSON, EventBridge events, CloudWatch Logs exports',
  // Digest files are recognised too, so that a bucket folder with CloudTrail-Digest/ ingests (they are dropped and counted).
  sniff: (head) => /"Records"\s*:\s*\[|"eventSource"\s*:|"detail-type"\s*:\s*"AWS (API Call|Service Event) via CloudTrail"|"digestStartTime"\s*:/.test(head),
  sniffRecord: (r) => r.includes(EVENT_SOURCE) || r.includes(DIGEST) || (r.includes(DETAIL_TYPE) && r.includes(VIA_CLOUDTRAIL)),
  normalizeSql: awsKmsNormalizeSql,
  classifySql: awsKmsClassifySql,
};
