import { OPERATION_CLASS_OF, type OperationName } from '../core/operations.ts';
import type { KeyEvent } from '../core/key-event.ts';
import type { DetectConfig } from '../core/config.ts';

/**
 * Cases beside each detector (`<id>.cases.ts`): events that must make it fire and events that
 * must leave it quiet. `detectors/catalogue.test.ts` runs every case on an empty embedded store.
 */
export interface DetectorCase {
  name: string;
  /** Normalized events; `event()` fills the fields a case does not care about. */
  events?: KeyEvent[];
  /**
   * Vendor records shaped like real logs, ingested through the collector for `format`: `lines`,
   * or a fixture file (path from the repository root, e.g. a collector's golden fixture).
   */
  records?: { format: string; lines?: string[]; fixture?: string; tenants?: Record<string, string> };
  /** When the detector runs (ISO). */
  now: string;
  /** Examine events that happened in [from, to) (ISO); without it, an incremental run at `now`. */
  range?: { from: string; to: string };
  /** Detect configuration merged over the defaults for this case (settings, cryptoperiods, allow-lists). */
  config?: Partial<DetectConfig>;
  /** For cases that fire: what the alerts must show. */
  expect?: { alerts?: number; key_id?: string; principal?: string; severity?: string; evidenceIncludes?: Record<string, string | number | boolean> };
}

export interface DetectorCases {
  fires: DetectorCase[];
  quiet: DetectorCase[];
}

let counter = 0;

/**
 * A KeyEvent with defaults for what a case leaves out: an AWS KMS decrypt by a role, succeeded,
 * ingested when it happened.
 *
 * @example event({ operation: 'disable_key', event_time: '2026-03-02 08:00:00.000' })
 */
export function event(e: Partial<KeyEvent> & { event_time: string }): KeyEvent {
  counter++;
  const operation = (e.operation ?? 'decrypt') as OperationName;
  return {
    event_id: e.event_id ?? `case-${counter}`,
    ingest_time: e.ingest_time ?? e.event_time,
    source: 'aws-kms',
    tenant: 'acme',
    account: '111122223333',
    region: 'eu-west-1',
    key_id: 'arn:aws:kms:eu-west-1:111122223333:key/1b2c3d4e-0000-4000-8000-000000000001',
    key_version: '',
    operation,
    operation_class: OPERATION_CLASS_OF[operation] ?? 'lifecycle',
    vendor_operation: operation,
    principal: 'arn:aws:iam::111122223333:role/app',
    principal_type: 'role',
    source_ip: '10.0.0.1',
    user_agent: 'aws-sdk',
    outcome: 'success',
    error_code: '',
    latency_ms: null,
    request_id: '',
    attributes: {},
    raw_id: `case:${counter}`,
    ...e,
  } as KeyEvent;
}
