import type { Collector } from '../collector.ts';
import { gcpKmsClassifySql, gcpKmsNormalizeSql } from './normalize-sql.ts';

const PROTO_PAYLOAD = Buffer.from('"protoPayload"');
const CLOUDAUDIT_LOG = Buffer.from('/logs/cloudaudit.googleapis.com');
const MESSAGE = Buffer.from('"message"');
const MESSAGE_ID = Buffer.from('"messageId"');
const SUBSCRIPTION = Buffer.from('"subscription"');

/**
 * Cloud Audit Logs entries of Cloud KMS (`protoPayload.serviceName: cloudkms.googleapis.com`), as
 * Cloud Logging exports them, a GCS sink writes them, or a Pub/Sub push subscription delivers them.
 *
 * @example keywatch ingest --format gcp-audit-log logs.json
 */
export const gcpKmsCollector: Collector = {
  source: 'gcp-kms',
  formats: ['gcp-audit-log', 'gcp-kms', 'cloud-audit-log'],
  description:
    'Google Cloud Audit Logs entries for cloudkms.googleapis.com: gcloud logging read --format=json arrays, NDJSON (Cloud Storage sinks), Pub/Sub push envelopes',
  // Entries of other services are recognised too, so that a whole audit-log sink ingests (they are dropped and counted).
  sniff: (head) =>
    /"protoPayload"\s*:|"logName"\s*:\s*"[^"]*\/logs\/cloudaudit\.googleapis\.com|"subscription"\s*:\s*"projects\/[^"/]+\/subscriptions\/|"message"\s*:\s*\{\s*"(?:data|attributes|messageId)"\s*:/.test(head),
  sniffRecord: (r) => r.includes(PROTO_PAYLOAD) || r.includes(CLOUDAUDIT_LOG) || (r.includes(MESSAGE) && (r.includes(MESSAGE_ID) || r.includes(SUBSCRIPTION))),
  normalizeSql: gcpKmsNormalizeSql,
  classifySql: gcpKmsClassifySql,
};
