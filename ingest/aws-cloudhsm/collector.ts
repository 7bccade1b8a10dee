import type { Collector } from '../collector.ts';
import { frameCloudHsm } from './framing.ts';
import { cloudHsmClassifySql, cloudHsmNormalizeSql } from './normalize-sql.ts';
import { findSequenceGaps } from './sequence-gaps.ts';

const SEQUENCE_NO = Buffer.from('Sequence No');
const LOG_GROUP = Buffer.from('/aws/cloudhsm/');

// An audit entry's first two lines, as text or inside a JSON string ("\n" escaped).
const ENTRY_HEAD = /Time\s*:\s*\d{2}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?,\s*usecs\s*:\s*\d+(?:\r?\n|(?:\\r)?\\n)\s*Sequence No\s*:/;

export const awsCloudHsmCollector: Collector = {
  source: 'aws-cloudhsm',
  formats: ['aws-cloudhsm', 'cloudhsm'],
  description: 'AWS CloudHSM audit logs from CloudWatch Logs: subscription deliveries (Firehose, Kinesis, Lambda; gzip), filter-log-events / get-log-events output, text exports',
  // Lambda's CloudWatch Logs events (`awslogs.data`, base64 gzip) are claimed whatever their log
  // group: no other collector reads them, and the normalizer quarantines what is not CloudHSM's.
  sniff: (head) => ENTRY_HEAD.test(head) || /"logGroup"\s*:\s*"\/aws\/cloudhsm\//.test(head) || /^\s*\{\s*"awslogs"\s*:\s*\{\s*"data"\s*:/.test(head),
  sniffRecord: (r) => r.includes(SEQUENCE_NO) || r.includes(LOG_GROUP),
  frame: frameCloudHsm,
  normalizeSql: cloudHsmNormalizeSql,
  classifySql: cloudHsmClassifySql,
  afterIngest: (store, now, run) => findSequenceGaps(store, now, run),
};
