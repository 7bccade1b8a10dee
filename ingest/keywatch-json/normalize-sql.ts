/**
 * keywatch-json -> KeyEvent: records that already are KeyEvents (the PKCS#11 probes, custom
 * producers, a `SELECT * FROM key_events FORMAT JSONEachRow` export), validated in one ClickHouse
 * SELECT with the rules of `core/key-event.ts`. The vocabulary (operations, their classes,
 * principal types) is generated from `core/` so that the SQL cannot drift from the model.
 *
 * Input relation: `stage` with columns (seq UInt32, origin String, position String, record String).
 * Output: seq, every key_events column, and for classification _status, _reason, _message.
 */
import { KEY_EVENT_COLUMNS, PrincipalType } from '../../core/key-event.ts';
import { OPERATION_CLASSES, OPERATION_CLASS_OF, OPERATIONS } from '../../core/operations.ts';

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const arrayLiteral = (items: readonly string[]) => `[${items.map(sqlString).join(', ')}]`;

/** Fields a record must carry; everything else has a default. */
export const REQUIRED_FIELDS = ['source', 'event_time', 'operation', 'outcome'] as const;
/** Fields that are accepted but always replaced (they describe a store, not the event). */
export const IGNORED_FIELDS = ['ingest_time', 'raw_id'] as const;
/** Fields whose JSON value must be a string (null counts as absent). */
const STRING_FIELDS = KEY_EVENT_COLUMNS.filter((c) => c !== 'latency_ms' && c !== 'attributes' && !(IGNORED_FIELDS as readonly string[]).includes(c));

const KNOWN = arrayLiteral(KEY_EVENT_COLUMNS);
const STRINGS = arrayLiteral(STRING_FIELDS);
const REQUIRED = arrayLiteral(REQUIRED_FIELDS);
const OPS = arrayLiteral(OPERATIONS);
// `other` maps to '' (the producer chooses its class).
const OP_CLASSES = arrayLiteral(OPERATIONS.map((op) => OPERATION_CLASS_OF[op] ?? ''));
const CLASSES = arrayLiteral(OPERATION_CLASSES);
const PRINCIPAL_TYPES = arrayLiteral(PrincipalType.options);

// ClickHouse's own text (`2026-03-02 08:14:52.123`, UTC) or RFC 3339 (`2026-03-02T08:14:52.123Z`,
// any offset). The range check keeps best-effort parsing from rolling 25:61 into the next day.
const TIME_PATTERN = sqlString('^\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])[Tt ](?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?(?:[Zz]|[+-](?:[01]\\d|2[0-3]):?[0-5]\\d)?$');

const LIGHT_TUPLE = `Tuple(event_id String, event_time String, source String, operation String, operation_class String,
  outcome String, error_code String, principal_type String, latency_ms Nullable(Float64))`;

const FULL_TUPLE = `Tuple(event_id String, event_time String, source String, tenant String, account String, region String,
  key_id String, key_version String, operation String, operation_class String, vendor_operation String, principal String,
  principal_type String, source_ip String, user_agent String, outcome String, error_code String,
  latency_ms Nullable(Float64), request_id String, attributes Map(String, String))`;

/**
 * Layers 0-2: one typed parse of the record plus its raw key/value pairs (for the `.strict()`
 * checks: unknown keys, JSON types), then identity and the checks. The layers are subqueries so
 * that the analyzer does not inline alias chains (see ingest/aws-kms/normalize-sql.ts).
 */
function checked(stage: string, tuple: string): string {
  return `
SELECT *,
  if(tupleElement(r, 'event_id') != '', tupleElement(r, 'event_id'), concat('sha256:', lower(hex(SHA256(record))))) AS event_id,
  ifNull(parsed_time, toDateTime64(0, 3, 'UTC')) AS event_time,
  indexOf(${OPS}, tupleElement(r, 'operation')) AS op_index,
  if(op_index = 0, '', arrayElement(${OP_CLASSES}, op_index)) AS class_of_op,
  multiIf(tupleElement(r, 'operation_class') != '', tupleElement(r, 'operation_class'), class_of_op) AS operation_class
FROM
(
  SELECT *,
    arrayMap(x -> tupleElement(x, 1), kv) AS keys,
    -- null counts as absent for every field.
    arrayMap(x -> tupleElement(x, 1), arrayFilter(x -> tupleElement(x, 2) != 'null', kv)) AS present,
    length(kv) > 0 OR (isValidJSON(record) AND JSONType(record) = 'Object') AS is_object,
    arrayFilter(k -> NOT has(${KNOWN}, k), keys) AS unknown_keys,
    arrayMap(x -> tupleElement(x, 1), arrayFilter(x -> multiIf(
      tupleElement(x, 2) = 'null', false,
      tupleElement(x, 1) = 'latency_ms', NOT match(tupleElement(x, 2), '^-?[0-9]'),
      tupleElement(x, 1) = 'attributes', NOT (startsWith(tupleElement(x, 2), '{')
        AND arrayAll(v -> startsWith(tupleElement(v, 2), '"'), JSONExtractKeysAndValuesRaw(tupleElement(x, 2)))),
      has(${STRINGS}, tupleElement(x, 1)), NOT startsWith(tupleElement(x, 2), '"'),
      false), kv)) AS bad_type_keys,
    if(match(tupleElement(r, 'event_time'), ${TIME_PATTERN}), parseDateTime64BestEffortOrNull(tupleElement(r, 'event_time'), 3, 'UTC'), NULL) AS parsed_time
  FROM
  (
    SELECT seq, record, JSONExtract(record, '${tuple}') AS r, JSONExtractKeysAndValuesRaw(record) AS kv
    FROM ${stage}
  )
)`;
}

/** Layer 3: the record's fate, in the order the checks are listed in README.md. */
function classified(stage: string, tuple: string): string {
  return `
SELECT *,
  multiIf(
    _reason = 'invalid_json', 'the record is not valid JSON',
    _reason = 'not_an_object', concat('expected a JSON object, got ', JSONType(record)),
    _reason = 'unknown_field', concat('fields that are not KeyEvent columns: ', arrayStringConcat(unknown_keys, ', ')),
    _reason = 'bad_field_type', concat('fields of the wrong JSON type (strings expected; latency_ms a number; attributes an object of strings): ', arrayStringConcat(bad_type_keys, ', ')),
    _reason = 'missing_field', concat('a keywatch-json record needs ', arrayStringConcat(${REQUIRED}, ', '), '; missing: ', arrayStringConcat(missing, ', ')),
    _reason = 'bad_event_time', concat('event_time is not an RFC 3339 or "YYYY-MM-DD hh:mm:ss.sss" UTC time: "', substring(tupleElement(r, 'event_time'), 1, 64), '"'),
    _reason = 'unknown_operation', concat('operation "', substring(tupleElement(r, 'operation'), 1, 64), '" is not in the keywatch vocabulary (core/operations.ts)'),
    _reason = 'bad_operation_class', concat('operation_class "', substring(tupleElement(r, 'operation_class'), 1, 64), '" is not one of ', arrayStringConcat(${CLASSES}, ', ')),
    _reason = 'operation_class_mismatch', concat('operation ', tupleElement(r, 'operation'), ' belongs to class ', class_of_op, ', not ', tupleElement(r, 'operation_class')),
    _reason = 'bad_outcome', concat('outcome must be success or failure, not "', substring(tupleElement(r, 'outcome'), 1, 64), '"'),
    _reason = 'error_code_on_success', concat('a successful event has no error_code, but this one has "', substring(tupleElement(r, 'error_code'), 1, 64), '"'),
    _reason = 'bad_principal_type', concat('principal_type "', substring(tupleElement(r, 'principal_type'), 1, 64), '" is not one of ', arrayStringConcat(${PRINCIPAL_TYPES}, ', ')),
    _reason = 'bad_latency', concat('latency_ms must not be negative: ', toString(tupleElement(r, 'latency_ms'))),
    '') AS _message,
  if(_reason = '', 'ok', 'quarantined') AS _status
FROM
(
  SELECT *,
    arrayConcat(arrayFilter(k -> NOT has(present, k), ${REQUIRED}),
      -- \`other\` has no class of its own, so the producer must name one.
      if(tupleElement(r, 'operation') = 'other' AND tupleElement(r, 'operation_class') = '', ['operation_class'], [])) AS missing,
    multiIf(
      NOT is_object, if(isValidJSON(record), 'not_an_object', 'invalid_json'),
      length(unknown_keys) > 0, 'unknown_field',
      length(bad_type_keys) > 0, 'bad_field_type',
      length(missing) > 0 OR tupleElement(r, 'source') = '', 'missing_field',
      parsed_time IS NULL, 'bad_event_time',
      op_index = 0, 'unknown_operation',
      NOT has(${CLASSES}, operation_class), 'bad_operation_class',
      class_of_op != '' AND operation_class != class_of_op, 'operation_class_mismatch',
      tupleElement(r, 'outcome') NOT IN ('success', 'failure'), 'bad_outcome',
      tupleElement(r, 'outcome') = 'success' AND tupleElement(r, 'error_code') != '', 'error_code_on_success',
      tupleElement(r, 'principal_type') != '' AND NOT has(${PRINCIPAL_TYPES}, tupleElement(r, 'principal_type')), 'bad_principal_type',
      ifNull(tupleElement(r, 'latency_ms'), 0) < 0, 'bad_latency',
      '') AS _reason
  FROM (${checked(stage, tuple)})
)`;
}

/**
 * What becomes of each record: seq, event_id, event_time, _status, _reason, _message, with the
 * same values the full normalization gives.
 */
export function keywatchJsonClassifySql(stage: string): string {
  return `SELECT seq, event_id, event_time, _status, _reason, _message FROM (${classified(stage, LIGHT_TUPLE)})`;
}

/**
 * The rows of records that classification passed ('ok'). `source` is the record's own (a probe
 * writes `pkcs11-probe`); `tenant` is the record's, else the tenant of its account, else the
 * default; `ingest_time` and `raw_id` are this ingest's.
 */
export function keywatchJsonNormalizeSql(stage: string): string {
  return `
SELECT
  seq,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, tupleElement(r, 'source') AS source,
  multiIf(tupleElement(r, 'tenant') != '', tupleElement(r, 'tenant'),
    coalesce(nullIf({tenants:Map(String, String)}[tupleElement(r, 'account')], ''), {default_tenant:String})) AS tenant,
  tupleElement(r, 'account') AS account,
  tupleElement(r, 'region') AS region,
  tupleElement(r, 'key_id') AS key_id,
  tupleElement(r, 'key_version') AS key_version,
  tupleElement(r, 'operation') AS operation,
  operation_class,
  if(tupleElement(r, 'vendor_operation') != '', tupleElement(r, 'vendor_operation'), tupleElement(r, 'operation')) AS vendor_operation,
  tupleElement(r, 'principal') AS principal,
  if(tupleElement(r, 'principal_type') != '', tupleElement(r, 'principal_type'), 'unknown') AS principal_type,
  tupleElement(r, 'source_ip') AS source_ip,
  tupleElement(r, 'user_agent') AS user_agent,
  tupleElement(r, 'outcome') AS outcome,
  tupleElement(r, 'error_code') AS error_code,
  tupleElement(r, 'latency_ms') AS latency_ms,
  tupleElement(r, 'request_id') AS request_id,
  tupleElement(r, 'attributes') AS attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM (${checked(stage, FULL_TUPLE)})`;
}
