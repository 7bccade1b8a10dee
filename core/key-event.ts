import { z } from 'zod';
import { Operation, OperationClass, OPERATION_CLASS_OF } from './operations.ts';

export const PrincipalType = z.enum([
  'user',
  'role',
  'service_account',
  'application',
  'service',
  'internal',
  'hsm_user',
  'unknown',
]);
export type PrincipalType = z.infer<typeof PrincipalType>;

export const Outcome = z.enum(['success', 'failure']);

/** ClickHouse DateTime64(3) text as the store returns it: `2026-03-02 08:14:52.000` (UTC). */
const chTime = z.string().regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/, 'expected "YYYY-MM-DD hh:mm:ss.sss" UTC');

/**
 * One normalized key-usage or key-management event: one row of `key_events`.
 * Field names are the ClickHouse column names.
 *
 * @example KeyEvent.parse(row) // row from `SELECT * FROM key_events FORMAT JSONEachRow`
 */
export const KeyEvent = z
  .object({
    event_id: z.string().min(1),
    event_time: chTime,
    ingest_time: chTime,
    source: z.string().min(1),
    tenant: z.string(),
    account: z.string(),
    region: z.string(),
    key_id: z.string(),
    key_version: z.string(),
    operation: Operation,
    operation_class: OperationClass,
    vendor_operation: z.string().min(1),
    principal: z.string(),
    principal_type: PrincipalType,
    source_ip: z.string(),
    user_agent: z.string(),
    outcome: Outcome,
    error_code: z.string(),
    latency_ms: z.number().nonnegative().nullable(),
    request_id: z.string(),
    attributes: z.record(z.string(), z.string()),
    raw_id: z.string(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const expected = OPERATION_CLASS_OF[e.operation];
    if (expected !== null && expected !== e.operation_class) {
      ctx.addIssue({
        code: 'custom',
        path: ['operation_class'],
        message: `operation ${e.operation} belongs to class ${expected}, not ${e.operation_class}`,
      });
    }
    if (e.outcome === 'success' && e.error_code !== '') {
      ctx.addIssue({ code: 'custom', path: ['error_code'], message: 'a successful event has no error_code' });
    }
  });
export type KeyEvent = z.infer<typeof KeyEvent>;

/** Column order of `key_events`, taken from the model so the schema test can compare it with the DDL. */
export const KEY_EVENT_COLUMNS = Object.keys(KeyEvent.shape ?? {}) as (keyof KeyEvent)[];
