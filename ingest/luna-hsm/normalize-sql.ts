/**
 * Thales Luna -> KeyEvent, as one ClickHouse SELECT over staged raw records. Two producers share
 * the collector, told apart per record:
 *  - DPoD Luna Cloud HSM audit records (JSON objects from the Audit Query API export);
 *  - Luna Network HSM 7 audit lines forwarded by syslog (RFC 5424, RFC 3164, an ISO-timestamped
 *    file format, or no header at all).
 * Audit lines are read by layouts (layouts.ts: named RE2 patterns, the user's first), and every
 * field a layout did not capture is looked for on its own, so that a line in an unexpected order
 * still yields what it has. What is verified and what is assumed is listed in ./README.md.
 *
 * Input relation: `stage` with columns (seq UInt32, origin String, position String, record String).
 * Output: one row per record with every key_events column, or for classification seq, event_id,
 * event_time, _status, _reason, _message. classifySql gets no query parameters (the sink creates
 * its table without them), so nothing it computes may use one.
 */
import type { CompiledLayout, CompiledLayouts, LayoutField } from './layouts.ts';
import { LUNA_DEFAULT, LUNA_OPERATIONS, LUNA_PREFIX_OPERATIONS, LUNA_SUCCESS_CODES } from './operations.ts';

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
const arrayLiteral = (items: readonly string[]) => `[${items.map(sqlString).join(', ')}]`;

// Syslog headers, matched up to the message only (group 1 is the whole header): RE2 extracts
// groups over the matched span, so stopping there keeps the cost independent of the line length.
// RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID, then structured data (SD) and MSG.
const RFC5424 = sqlString('^(<(\\d{1,3})>1 (\\S+) (\\S+) (\\S+) (\\S+) (\\S+) ?)');
const RFC5424_SD = sqlString('^((?:\\[(?:[^\\]\\\\]|\\\\.)*\\])+ ?)');
// RFC 3164 (BSD): [<PRI>]Mmm dd hh:mm:ss HOST [TAG[PID]: ]MSG; rsyslog and the Luna appliance's own
// files put a year first ("2012 Feb 29 12:05:01 myLuna ...", LunaSH "Command Logging").
const RFC3164 = sqlString(
  '^((?:<(\\d{1,3})>)?(?:(\\d{4}) )?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\\d{1,2}) (\\d{2}:\\d{2}:\\d{2})(?:\\.\\d+)? (\\S+) (?:([^\\s:\\[\\]]+)(?:\\[(\\d+)\\])?: )?)',
);
// rsyslog's RSYSLOG_FileFormat / RSYSLOG_ForwardFormat: ISO timestamp, host, tag.
const ISO_SYSLOG = sqlString('^((?:<(\\d{1,3})>)?(\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:Z|[+-]\\d{2}:\\d{2})) (\\S+) (?:([^\\s:\\[\\]]+)(?:\\[(\\d+)\\])?: )?)');

// ISO times (header, DPoD, layouts) are checked before best-effort parsing, which would roll an
// impossible 25:61 over into the next day.
const ISO_TIME = sqlString('^\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])[Tt ](?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?\\s*(?:[Zz]|UTC|[+-](?:[01]\\d|2[0-3]):?[0-5]\\d)?$');
const SLASH_TIME = sqlString('^(\\d{1,4})/(\\d{1,2})/(\\d{1,4})[ T](\\d{1,2}):(\\d{2}):(\\d{2})$');

// The tolerant search: each field on its own, wherever it is in the line.
const T_DATETIME = sqlString('(\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:Z|[+-]\\d{2}:?\\d{2})?|\\d{1,2}/\\d{1,2}/\\d{2,4}[ T]\\d{1,2}:\\d{2}:\\d{2})');
const T_SEQ = sqlString('(?i)\\bseq(?:uence)?(?:\\s*(?:no\\.?|number))?\\s*[:=#]?\\s*(\\d+)');
const T_SERIAL = sqlString('(?i)(?:\\bS/N|\\bserial(?:\\s*(?:number|no\\.?))?)\\s*[:=#]?\\s*(\\d+)');
const T_SESSION = sqlString('(?i)\\bsession\\s*[:=#]?\\s*(\\d+)');
const T_ACCESS = sqlString('(?i)\\baccess\\s*[:=#]?\\s*(\\d+(?::\\d+)?)');
const T_ROLE = sqlString('\\b(SO|CO|CU|PO|LCO|AU|Auditor|Admin|Administrator)(?:\\s*\\((\\d+)\\)|\\s+container\\b)');
const T_ROLE_KV = sqlString('(?i)\\brole\\s*[:=]\\s*([A-Za-z]+)(?:\\s*\\((\\d+)\\))?');
const T_OPERATION = sqlString('(?i)\\boperation\\s*[:=]?\\s*(LUNA_[A-Z0-9_]+)');
const T_LUNA_NAME = sqlString('\\bLUNA_[A-Z0-9_]+');
const T_RESULT = sqlString('\\b((?:RC|LUNA_RET|CKR)_[A-Z0-9_]+)(?:\\s*\\(\\s*(0x[0-9A-Fa-f]+)\\s*\\))?');
const T_RESULT_HEX = sqlString('(?i)\\b(?:returned|result|status|rc)\\s*[:=]?\\s*\\(?\\s*(0x[0-9A-Fa-f]+)');
const T_HANDLE = sqlString('(?i)\\b(?:key\\s*)?handle\\s*[:=#]?\\s*\\(?\\s*(\\d+)');
// The record's HMAC closes a record copied from an audit log file.
const T_MAC = sqlString(',\\s*([0-9A-Fa-f]{32,128})\\s*$');
const T_OUID = sqlString('(?i)\\bouid\\s*[:=#]?\\s*\\(?\\s*([0-9A-Fa-f]+)');
// Audit log files are named hsm_<serial>_<number>.log (LunaSH "audit log verify" example).
const ORIGIN_SERIAL = sqlString('(?:^|/)hsm_(\\d+)_\\d+\\.log');

// DPoD Luna Cloud HSM Service audit records. The service docs spell the keys resourceid/actorid,
// exports and the tenant UI resourceID/actorID/tenantID; both are read. `meta` is an object or a
// JSON-encoded string (as the Splunk add-on reads it); read as String it is JSON text either way.
const DPOD_TUPLE = `Tuple(time String, timestamp String, source String, resourceID String, resourceid String,
  actorID String, actorid String, tenantID String, tenantid String, action String, status String,
  traceID String, traceid String, meta String)`;
const META_TUPLE = `Tuple(clientip String, hsmid String, partid String, role String, ouid String, OUID String,
  objectouid String, keyouid String, handle String, keyhandle String, objecthandle String)`;

const OPS_KEYS = arrayLiteral(Object.keys(LUNA_OPERATIONS));
const OPS_VALUES = arrayLiteral(Object.values(LUNA_OPERATIONS).map(([op, cls]) => `${op}|${cls}`));
const PREFIX_RULES = LUNA_PREFIX_OPERATIONS.map(([p, op, cls]) => `startsWith(u_operation, ${sqlString(p)}), '${op}|${cls}'`).join(',\n    ');
const SUCCESS = arrayLiteral(LUNA_SUCCESS_CODES);

/** `lg_<i>[<group>]` of every layout that captures `field`, else ''. */
function layoutField(layouts: readonly CompiledLayout[], field: LayoutField): string {
  const branches = layouts.flatMap((l, i) => (l.groups[field] === undefined ? [] : [`layout_index = ${i}, lg_${i}[${l.groups[field]}]`]));
  return branches.length === 0 ? `''` : `multiIf(${branches.join(', ')}, '')`;
}

/** True when the matched layout has a group for `field`: then an empty group means "not in the line". */
function layoutDefines(layouts: readonly CompiledLayout[], fields: readonly LayoutField[]): string {
  const ids = layouts.flatMap((l, i) => (fields.some((f) => l.groups[f] !== undefined) ? [i] : []));
  return ids.length === 0 ? 'false' : `layout_index IN (${ids.join(', ')})`;
}

/** Layers 1-2: JSON or syslog, the header's parts, and the body the layouts read. */
function headers(stage: string): string {
  return `
SELECT seq, origin, record, is_json, d_time, d_action, d_status, d_service, d_actor, d_tenant, d_trace, d_source, d_meta, h_kind,
  if(startsWith(msg0, '\\xEF\\xBB\\xBF'), substring(msg0, 4), msg0) AS msg,
  if(position(msg, '^') > 0, splitByChar('^', msg)[2], msg) AS body,
  -- Luna's remote-logging guide keeps the second ^-separated field of the message (rsyslog
  -- template %msg:F,94:2%); the first is kept as an attribute.
  if(position(msg, '^') > 0, splitByChar('^', msg)[1], '') AS msg_prefix,
  multiIf(h_kind = '5424', if(h5[4] = '-', '', h5[4]), h_kind = '3164', h3[7], h_kind = 'iso', hi[4], '') AS syslog_host,
  multiIf(h_kind = '5424', if(h5[5] = '-', '', h5[5]), h_kind = '3164', h3[8], h_kind = 'iso', hi[5], '') AS syslog_app,
  multiIf(
    h_kind = '5424' OR h_kind = 'iso', if(match(if(h_kind = 'iso', hi[3], h5[3]), ${ISO_TIME}), parseDateTime64BestEffortOrNull(if(h_kind = 'iso', hi[3], h5[3]), 3, 'UTC'), NULL),
    h_kind = '3164', toDateTime64(parseDateTimeOrNull(concat(if(h3[3] != '', h3[3], toString(toYear(now()))), ' ', h3[4], ' ', leftPad(h3[5], 2, '0'), ' ', h3[6]), '%Y %b %d %H:%i:%s', 'UTC'), 3, 'UTC'),
    NULL) AS header_time0,
  -- RFC 3164 has no year: the current one, or the last if that puts the line in the future.
  if(h_kind = '3164' AND h3[3] = '' AND header_time0 > now() + INTERVAL 1 DAY, header_time0 - INTERVAL 1 YEAR, header_time0) AS header_time
FROM
(
  SELECT seq, origin, record, is_json, h5, h3, hi,
    -- The DPoD fields as plain columns: a parsed tuple carried through the layers makes
    -- planning several times slower (see ingest/aws-kms/normalize-sql.ts).
    if(tupleElement(d, 'time') != '', tupleElement(d, 'time'), tupleElement(d, 'timestamp')) AS d_time,
    upper(tupleElement(d, 'action')) AS d_action,
    tupleElement(d, 'status') AS d_status,
    if(tupleElement(d, 'resourceID') != '', tupleElement(d, 'resourceID'), tupleElement(d, 'resourceid')) AS d_service,
    if(tupleElement(d, 'actorID') != '', tupleElement(d, 'actorID'), tupleElement(d, 'actorid')) AS d_actor,
    if(tupleElement(d, 'tenantID') != '', tupleElement(d, 'tenantID'), tupleElement(d, 'tenantid')) AS d_tenant,
    if(tupleElement(d, 'traceID') != '', tupleElement(d, 'traceID'), tupleElement(d, 'traceid')) AS d_trace,
    tupleElement(d, 'source') AS d_source,
    tupleElement(d, 'meta') AS d_meta,
    multiIf(notEmpty(h5), '5424', notEmpty(h3), '3164', notEmpty(hi), 'iso', 'none') AS h_kind,
    multiIf(notEmpty(h5), substring(record, length(h5[1]) + 1), notEmpty(h3), substring(record, length(h3[1]) + 1),
      notEmpty(hi), substring(record, length(hi[1]) + 1), record) AS rest,
    -- After an RFC 5424 header: "-" or structured data, then the message.
    multiIf(h_kind != '5424', rest, startsWith(rest, '-'), substring(rest, 3),
      startsWith(rest, '['), substring(rest, length(extract(rest, ${RFC5424_SD})) + 1), rest) AS msg0
  FROM
  (
    SELECT seq, origin, record, is_json,
      -- Parsing a syslog line as JSON fails at its first byte, which is cheaper than a condition.
      JSONExtract(record, '${DPOD_TUPLE}') AS d,
      if(NOT is_json AND startsWith(record, '<'), extractGroups(record, ${RFC5424}), []) AS h5,
      if(is_json OR notEmpty(h5), [], extractGroups(record, ${RFC3164})) AS h3,
      if(is_json OR notEmpty(h5) OR notEmpty(h3), [], extractGroups(record, ${ISO_SYSLOG})) AS hi
    FROM
    (
      SELECT seq, origin, record, startsWith(trimLeft(record), '{') AS is_json
      FROM ${stage}
    )
  )
)`;
}

/** Layer 3: the first layout whose pattern matches the body. */
function matched(stage: string, layouts: readonly CompiledLayout[]): string {
  const groups = layouts.map((l, i) => {
    const before = layouts.slice(0, i).map((_, j) => ` OR notEmpty(lg_${j})`).join('');
    return `if(is_json${before}, [], extractGroups(body, ${sqlString(l.pattern)})) AS lg_${i}`;
  });
  const index = layouts.length === 0 ? '-1' : `multiIf(${layouts.map((_, i) => `notEmpty(lg_${i}), ${i}`).join(', ')}, -1)`;
  return `
SELECT *, ${index} AS layout_index
FROM
(
  SELECT *${groups.map((g) => `,\n    ${g}`).join('')}
  FROM (${headers(stage)})
)`;
}

/**
 * Layer 4: each field from the layout; a field the layout has no group for is looked for on its
 * own (each search behind a cheap substring test). DPoD fields come from the JSON.
 */
function fields(stage: string, compiled: CompiledLayouts): string {
  const L = compiled.layouts;
  const lf = (f: LayoutField) => layoutField(L, f);
  const has = (...f: LayoutField[]) => layoutDefines(L, f);
  const names = arrayLiteral(L.map((l) => l.name));
  const orders = arrayLiteral(L.map((l) => l.dateOrder));
  return `
SELECT *,
  -- The event name, whatever the producer.
  if(is_json, d_action, t_operation) AS u_operation,
  if(is_json, d_status, t_result) AS u_result,
  if(is_json, '', t_result_code) AS u_result_code
FROM
(
  SELECT seq, origin, record, is_json, d_time, d_action, d_status, d_service, d_actor, d_tenant, d_trace, d_source, d_meta, h_kind, body, msg_prefix, syslog_host, syslog_app, header_time, layout_index,
    if(layout_index < 0, '', arrayElement(${names}, layout_index + 1)) AS layout_name,
    if(layout_index < 0, ${sqlString(compiled.dateOrder)}, arrayElement(${orders}, layout_index + 1)) AS date_order,
    multiIf(is_json, '', ${has('seq')}, ${lf('seq')},
      positionCaseInsensitive(body, 'seq') > 0, extract(body, ${T_SEQ}), '') AS t_seq,
    multiIf(is_json, '', ${has('datetime', 'date')}, trim(concat(${lf('datetime')}, ' ', ${lf('date')}, ' ', ${lf('time')})),
      extract(body, ${T_DATETIME})) AS t_datetime,
    multiIf(is_json, '',
      ${has('serial')} AND ${lf('serial')} != '', ${lf('serial')},
      NOT ${has('serial')} AND (position(body, 'S/N') > 0 OR positionCaseInsensitive(body, 'serial') > 0) AND extract(body, ${T_SERIAL}) != '', extract(body, ${T_SERIAL}),
      -- Audit log files copied off the appliance carry the serial in their name.
      extract(origin, ${ORIGIN_SERIAL})) AS t_serial,
    multiIf(is_json, '', ${has('session')}, ${lf('session')},
      positionCaseInsensitive(body, 'session') > 0, extract(body, ${T_SESSION}), '') AS t_session,
    multiIf(is_json, '', ${has('access')}, ${lf('access')},
      positionCaseInsensitive(body, 'access') > 0, extract(body, ${T_ACCESS}), '') AS t_access,
    multiIf(is_json, ['', ''], ${has('role', 'role_id')}, [${lf('role')}, ${lf('role_id')}],
      position(body, '(') > 0 OR position(body, 'container') > 0, extractGroups(body, ${T_ROLE}), []) AS role_groups,
    multiIf(notEmpty(role_groups), role_groups,
      positionCaseInsensitive(body, 'role') > 0, extractGroups(body, ${T_ROLE_KV}), ['', '']) AS t_role_pair,
    multiIf(is_json, '', ${has('operation')}, upper(${lf('operation')}),
      position(body, 'LUNA_') = 0, '',
      coalesce(nullIf(upper(extract(body, ${T_OPERATION})), ''),
        arrayFirst(x -> NOT startsWith(x, 'LUNA_RET_') AND NOT startsWith(x, 'LUNA_ENTRY_'), extractAll(body, ${T_LUNA_NAME})), '')) AS t_operation,
    multiIf(is_json, ['', ''], ${has('result', 'result_code')}, [${lf('result')}, ${lf('result_code')}],
      position(body, 'RC_') > 0 OR position(body, 'LUNA_RET_') > 0 OR position(body, 'CKR_') > 0, extractGroups(body, ${T_RESULT}), []) AS result_groups,
    if(notEmpty(result_groups), result_groups, ['', if(position(body, '0x') > 0 OR position(body, '0X') > 0, extract(body, ${T_RESULT_HEX}), '')]) AS t_result_pair,
    t_result_pair[1] AS t_result,
    t_result_pair[2] AS t_result_code,
    multiIf(is_json, '', ${has('key_handle')}, ${lf('key_handle')},
      positionCaseInsensitive(body, 'handle') > 0, extract(body, ${T_HANDLE}), '') AS t_key_handle,
    multiIf(is_json, '', ${has('ouid')}, ${lf('ouid')},
      positionCaseInsensitive(body, 'ouid') > 0, extract(body, ${T_OUID}), '') AS t_ouid,
    multiIf(is_json, '', ${has('mac')}, ${lf('mac')}, position(body, ',') > 0, extract(body, ${T_MAC}), '') AS t_mac,
    if(${lf('host')} != '', ${lf('host')}, syslog_host) AS t_host
  FROM (${matched(stage, L)})
)`;
}

/** Layer 5: time, identity and the record's fate. */
function classified(stage: string, compiled: CompiledLayouts): string {
  return `
SELECT *,
  multiIf(
    _reason = 'invalid_json', 'the record starts like JSON but is not valid JSON',
    _reason = 'unrecognized_luna_line', concat('no Luna audit layout matches and no LUNA_* event name was found (layouts tried: ', arrayStringConcat(${arrayLiteral(compiled.layouts.map((l) => l.name))}, ', '), '): "', substring(body, 1, 96), '"'),
    _reason = 'missing_field', concat(if(is_json, 'a DPoD audit record needs time, action and status', 'a Luna audit line needs an event name (LUNA_*), a time and a result code'), '; missing: ', arrayStringConcat(missing, ', ')),
    _reason = 'bad_event_time', if(time_text = '', 'no timestamp in the record', concat('not a valid time (', if(is_json, 'DPoD', concat('date order ', date_order)), '): "', substring(time_text, 1, 64), '"')),
    '') AS _message
FROM
(
  SELECT *,
    multiIf(
      NOT is_object, 'quarantined',
      NOT is_json AND layout_index < 0 AND u_operation = '', 'quarantined',
      notEmpty(missing), 'quarantined',
      parsed_time IS NULL, 'quarantined',
      'ok') AS _status,
    multiIf(
      NOT is_object, 'invalid_json',
      NOT is_json AND layout_index < 0 AND u_operation = '', 'unrecognized_luna_line',
      notEmpty(missing), 'missing_field',
      parsed_time IS NULL, 'bad_event_time',
      '') AS _reason
  FROM
  (
    SELECT *,
      if(serial_seq != '', serial_seq, concat('sha256:', lower(hex(SHA256(record))))) AS event_id,
      ifNull(parsed_time, toDateTime64(0, 3, 'UTC')) AS event_time
    FROM
    (
      SELECT *,
        -- A line starting with { must be valid JSON; checked in full only when the usual fields are absent.
        NOT is_json OR u_operation != '' OR u_result != '' OR isValidJSON(record) AS is_object,
        if(is_json, d_time, t_datetime) AS time_text,
        arrayFilter(x -> x != '', [
          if(u_operation = '', if(is_json, 'action', 'event name'), ''),
          if(u_result = '' AND u_result_code = '', if(is_json, 'status', 'result code'), ''),
          if(is_json AND time_text = '', 'time', '')]) AS missing,
        multiIf(
          time_text = '', if(is_json, NULL, header_time),
          match(time_text, ${ISO_TIME}), parseDateTime64BestEffortOrNull(time_text, 3, 'UTC'),
          match(time_text, '^\\\\d{10}$'), toDateTime64(toUInt32OrZero(time_text), 3, 'UTC'),
          match(time_text, '^\\\\d{13}$'), fromUnixTimestamp64Milli(toInt64OrZero(time_text), 'UTC'),
          notEmpty(slash), toDateTime64(parseDateTimeOrNull(format('{}-{}-{} {}:{}:{}',
            if(length(y) = 2, concat('20', y), y), leftPad(m, 2, '0'), leftPad(dd, 2, '0'), leftPad(slash[4], 2, '0'), slash[5], slash[6]),
            '%Y-%m-%d %H:%i:%s', 'UTC'), 3, 'UTC'),
          NULL) AS parsed_time,
        -- The HSM numbers its records; with the serial that names one record of one HSM.
        if(NOT is_json AND t_serial != '' AND t_seq != '', concat('luna:', t_serial, ':', t_seq), '') AS serial_seq
      FROM
      (
        SELECT *,
          if(is_json, [], extractGroups(t_datetime, ${SLASH_TIME})) AS slash,
          multiIf(date_order = 'YMD', slash[1], slash[3]) AS y,
          multiIf(date_order = 'DMY', slash[2], date_order = 'YMD', slash[2], slash[1]) AS m,
          multiIf(date_order = 'DMY', slash[1], date_order = 'YMD', slash[3], slash[2]) AS dd
        FROM (${fields(stage, compiled)})
      )
    )
  )
)`;
}

export interface LunaSql {
  classify(stage: string): string;
  normalize(stage: string): string;
}

/** The collector's two SELECTs for a set of layouts. */
export function lunaSql(compiled: CompiledLayouts): LunaSql {
  const classify = (stage: string) => `SELECT seq, event_id, event_time, _status, _reason, _message FROM (${classified(stage, compiled)})`;

  const normalize = (stage: string) => {
    // Layer 6: what the row says, per producer.
    const parts = `
SELECT seq, event_id, event_time, is_json, layout_name, h_kind, msg_prefix, syslog_app, t_seq, t_serial,
  t_session, t_access, t_key_handle, t_ouid, t_mac, t_host, u_operation, u_result, u_result_code,
  t_role_pair[1] AS t_role, t_role_pair[2] AS t_role_id,
  transform(u_operation, ${OPS_KEYS}, ${OPS_VALUES}, '') AS exact_pair,
  if(exact_pair != '', exact_pair, multiIf(
    ${PREFIX_RULES},
    '${LUNA_DEFAULT[0]}|${LUNA_DEFAULT[1]}')) AS op_pair,
  has(${SUCCESS}, upper(u_result)) OR (u_result = '' AND match(u_result_code, '^0[xX]0+$')) AS ok,
  d_service AS dp_service, d_actor AS dp_actor, d_tenant AS dp_tenant, d_trace AS dp_trace, d_source AS dp_source,
  JSONExtract(d_meta, '${META_TUPLE}') AS meta
FROM (${classified(stage, compiled)})`;

    const keyed = `
SELECT *,
  splitByChar('|', op_pair)[1] AS operation,
  splitByChar('|', op_pair)[2] AS operation_class,
  tupleElement(meta, 'clientip') AS m_clientip,
  tupleElement(meta, 'hsmid') AS m_hsmid,
  coalesce(nullIf(tupleElement(meta, 'partid'), ''), if(startsWith(dp_source, 'thales/cloudhsm/'), substring(dp_source, 17), '')) AS m_partition,
  tupleElement(meta, 'role') AS m_role,
  coalesce(nullIf(tupleElement(meta, 'ouid'), ''), nullIf(tupleElement(meta, 'OUID'), ''), nullIf(tupleElement(meta, 'objectouid'), ''), tupleElement(meta, 'keyouid')) AS m_ouid,
  coalesce(nullIf(tupleElement(meta, 'handle'), ''), nullIf(tupleElement(meta, 'keyhandle'), ''), tupleElement(meta, 'objecthandle')) AS m_handle,
  -- DPoD: the service is the account; an audit line: the HSM, by serial, else by syslog host.
  if(is_json, dp_service, coalesce(nullIf(t_serial, ''), t_host)) AS account,
  if(is_json, if(m_ouid != '', m_ouid, m_handle), if(t_ouid != '', t_ouid, t_key_handle)) AS key_ref
FROM (${parts})`;

    return `
SELECT
  seq,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, 'luna-hsm' AS source,
  coalesce(nullIf({tenants:Map(String, String)}[account], ''), nullIf({tenants:Map(String, String)}[dp_tenant], ''),
    nullIf({tenants:Map(String, String)}[t_host], ''), {default_tenant:String}) AS tenant,
  account, '' AS region,
  multiIf(key_ref = '', '', account = '', key_ref, concat(account, '/', key_ref)) AS key_id,
  '' AS key_version, operation, operation_class, u_operation AS vendor_operation,
  -- DPoD names the client (actorid); an audit line only the role, so the role is the principal.
  multiIf(is_json, dp_actor, t_role != '', t_role, t_access != '', concat('access:', t_access), '') AS principal,
  multiIf(is_json AND dp_actor != '', 'application', NOT is_json AND (t_role != '' OR t_access != ''), 'hsm_user', 'unknown') AS principal_type,
  if(isIPv4String(m_clientip) OR isIPv6String(m_clientip), m_clientip, '') AS source_ip,
  '' AS user_agent,
  if(ok, 'success', 'failure') AS outcome,
  if(ok, '', if(u_result != '', u_result, u_result_code)) AS error_code,
  CAST(NULL AS Nullable(Float64)) AS latency_ms,
  dp_trace AS request_id,
  mapFilter((k, v) -> v != '', map(
    'layout', if(is_json, 'dpod-json', if(layout_name != '', layout_name, 'tolerant')),
    'sequence', t_seq,
    'hsm_serial', t_serial,
    'session', t_session,
    'access_id', t_access,
    'role', if(is_json, m_role, t_role),
    'role_id', t_role_id,
    'result_code', u_result_code,
    'key_handle', if(is_json, m_handle, t_key_handle),
    'ouid', if(is_json, m_ouid, t_ouid),
    'record_mac', t_mac,
    'syslog_host', if(is_json, '', t_host),
    'syslog_app', syslog_app,
    'syslog_header', if(is_json OR h_kind = 'none', '', h_kind),
    'msg_prefix', msg_prefix,
    'dpod_source', dp_source,
    'dpod_tenant_id', dp_tenant,
    'partition_id', m_partition,
    'hsm_id', m_hsmid,
    'client_ip', if(isIPv4String(m_clientip) OR isIPv6String(m_clientip), '', m_clientip))) AS attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM (${keyed})`;
  };

  return { classify, normalize };
}

