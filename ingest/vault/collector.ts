import type { Collector } from '../collector.ts';
import { vaultClassifySql, vaultNormalizeSql } from './normalize-sql.ts';

const REQUEST_OBJECT = Buffer.from('"request":{');
const TYPE_REQUEST = Buffer.from('"type":"request"');
const TYPE_RESPONSE = Buffer.from('"type":"response"');

export const vaultCollector: Collector = {
  source: 'vault',
  formats: ['vault', 'vault-audit'],
  description: 'HashiCorp Vault audit device JSON lines (file, socket and syslog devices): transit key use and management, policy, audit-device, mount and auth-method changes, logins',
  // Vault writes compact JSON; the looser pattern also accepts entries re-serialised by a forwarder.
  sniff: (head) => /"type"\s*:\s*"(request|response)"/.test(head) && /"request"\s*:\s*\{/.test(head),
  sniffRecord: (r) => r.includes(REQUEST_OBJECT) && (r.includes(TYPE_RESPONSE) || r.includes(TYPE_REQUEST)),
  // Takes the whole batch as an optional second relation for latency; without it, the batch's
  // records are read back from raw_events (see normalize-sql.ts).
  normalizeSql: vaultNormalizeSql,
  classifySql: vaultClassifySql,
};
