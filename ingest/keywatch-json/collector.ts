import type { Collector } from '../collector.ts';
import { keywatchJsonClassifySql, keywatchJsonNormalizeSql } from './normalize-sql.ts';

const OPERATION = Buffer.from('"operation"');
const EVENT_TIME = Buffer.from('"event_time"');
const SOURCE = Buffer.from('"source"');

/**
 * The canonical KeyEvent as JSON, one object per record. The collector is named `keywatch-json`;
 * each event keeps the `source` its record names (e.g. `pkcs11-probe`).
 *
 * @example keywatch ingest --format keywatch-json probe-results.ndjson
 */
export const keywatchJsonCollector: Collector = {
  source: 'keywatch-json',
  formats: ['keywatch-json', 'keywatch'],
  description: 'KeyEvents as JSON (NDJSON or a JSON array): PKCS#11 probes, custom producers, key_events exports',
  sniff: (head) => /"operation"\s*:/.test(head) && /"event_time"\s*:/.test(head) && /"source"\s*:/.test(head),
  sniffRecord: (r) => r.includes(OPERATION) && r.includes(EVENT_TIME) && r.includes(SOURCE),
  normalizeSql: keywatchJsonNormalizeSql,
  classifySql: keywatchJsonClassifySql,
};
