/**
 * AWS CloudHSM audit entries -> KeyEvent, as ClickHouse SELECTs over the staged records that
 * `framing.ts` produced (one JSON document per entry: where it came from, plus the entry's text in
 * `message`). Field meanings: AWS CloudHSM User Guide, "Interpreting AWS CloudHSM audit logs" and
 * "AWS CloudHSM audit log reference" (Opcode table); the SDK 5 certificate-storage records:
 * "Certificate storage audit logs". The field list and the known gaps are in ./README.md.
 *
 * An entry is a few `Name : value` lines. They are split into a key -> value map once per record
 * with extractKeyValuePairs (keys lower-cased, spaces removed, so `Sequence No:` and
 * `Sequence No :` agree); the fields are read from that map. On 50k entries that took 56 ms, one
 * regular expression per field 918 ms (README.md, Speed).
 *
 * Input relation: `stage` with columns (seq UInt32, origin String, position String, record String).
 */
import type { OperationClass, OperationName } from '../../core/operations.ts';

/** Opcode name -> [operation, operation_class]. Opcodes not listed become `other`, classed by their Log type. */
export const CLOUDHSM_OPCODES: Record<string, readonly [OperationName, OperationClass]> = {
  // User login. CN_APP_FINALIZE / CN_CLOSE_SESSION are logged when a session ends without logout.
  CN_LOGIN: ['login', 'auth'],
  CN_LOGOUT: ['logout', 'auth'],
  CN_APP_FINALIZE: ['logout', 'auth'],
  CN_CLOSE_SESSION: ['logout', 'auth'],
  CN_SESSION_CLOSE: ['logout', 'auth'],
  // Quorum (M of N) tokens authorise a user action.
  CN_APPROVE_TOKEN: ['other', 'auth'],
  CN_DELETE_TOKEN: ['other', 'auth'],
  CN_GET_TOKEN: ['other', 'auth'],
  CN_ENCRYPT_SESSION_V2: ['other', 'auth'],
  // User management: User Name / User Type name the user acted on, not the caller.
  CN_CREATE_USER: ['create_user', 'admin'],
  CN_CREATE_CO: ['create_user', 'admin'],
  CN_CREATE_APPLIANCE_USER: ['create_user', 'admin'],
  CN_DELETE_USER: ['delete_user', 'admin'],
  CN_CHANGE_PSWD: ['update_user', 'admin'],
  CN_CHANGE_USER_ROLE: ['update_user', 'admin'],
  CN_SET_M_VALUE: ['other', 'admin'],
  // Key management: Priv/Secret Key Handle and Public Key Handle.
  CN_GENERATE_KEY: ['create_key', 'lifecycle'],
  CN_GENERATE_KEY_PAIR: ['create_key', 'lifecycle'],
  CN_DERIVE_KEY: ['create_key', 'lifecycle'],
  CN_CREATE_OBJECT: ['import_key_material', 'lifecycle'],
  CN_MODIFY_OBJECT: ['update_key', 'lifecycle'],
  CN_SET_ATTRIBUTE: ['update_key', 'lifecycle'],
  CN_DESTROY_OBJECT: ['destroy_version', 'lifecycle'],
  CN_TOMBSTONE_OBJECT: ['destroy_version', 'lifecycle'],
  // Share and unshare are one opcode; the entry does not say which.
  CN_SHARE_OBJECT: ['create_grant', 'policy'],
  CN_WRAP_KEY: ['wrap', 'crypto'],
  CN_UNWRAP_KEY: ['unwrap', 'crypto'],
  // The wrapping key of a wrap or an unwrap; the entry does not say which.
  CN_NIST_AES_WRAP: ['other', 'crypto'],
  CN_FIPS_RAND: ['other', 'crypto'],
  // Cluster synchronisation: a new key travels between the cluster's HSMs as a masked object
  // (attribute masked_object_sync). It never leaves the cluster in the clear.
  CN_EXTRACT_MASKED_OBJECT_USER: ['export_key', 'lifecycle'],
  CN_INSERT_MASKED_OBJECT_USER: ['import_key_material', 'lifecycle'],
  // Backups of the HSM (all keys and users).
  CN_BACKUP_BEGIN: ['backup_key', 'lifecycle'],
  CN_BACKUP_END: ['backup_key', 'lifecycle'],
  CN_RESTORE_BEGIN: ['restore_key', 'lifecycle'],
  CN_RESTORE_END: ['restore_key', 'lifecycle'],
  // Cloning an HSM into the cluster, certificate-based authentication between HSMs.
  CN_CLONE_SOURCE_INIT: ['other', 'admin'],
  CN_CLONE_SOURCE_STAGE1: ['other', 'admin'],
  CN_CLONE_TARGET_INIT: ['other', 'admin'],
  CN_CLONE_TARGET_STAGE1: ['other', 'admin'],
  CN_CERT_AUTH_STORE_CERT: ['other', 'auth'],
  CN_CERT_AUTH_VALIDATE_PEER_CERTS: ['other', 'auth'],
  CN_CERT_AUTH_SOURCE_KEY_EXCHANGE: ['other', 'auth'],
  CN_CERT_AUTH_TARGET_KEY_EXCHANGE: ['other', 'auth'],
  // HSM instance commands.
  CN_INIT_TOKEN: ['other', 'admin'],
  CN_INIT_DONE: ['other', 'admin'],
  CN_GEN_KEY_ENC_KEY: ['other', 'admin'],
  CN_GEN_PSWD_ENC_KEY: ['other', 'admin'],
  CN_CLOSE_PARTITION_SESSIONS: ['other', 'admin'],
  CN_STORE_KBK_SHARE: ['other', 'admin'],
  CN_SET_NODEID: ['other', 'admin'],
  CN_ZEROIZE: ['other', 'admin'],
};

/** Opcodes whose User Name is the user acted on (kept as target_user), not the caller. */
export const USER_SUBJECT_OPCODES = ['CN_CREATE_USER', 'CN_CREATE_CO', 'CN_CREATE_APPLIANCE_USER', 'CN_DELETE_USER', 'CN_CHANGE_PSWD', 'CN_CHANGE_USER_ROLE'];

/** Opcodes flagged `critical` in attributes: they wipe or replace what the HSM holds. */
export const CRITICAL_OPCODES = ['CN_ZEROIZE', 'CN_INIT_TOKEN', 'CN_RESTORE_BEGIN', 'CN_CLONE_TARGET_INIT'];

/** SDK 5 certificate-storage op_code -> [operation, operation_class]. */
export const CERT_STORE_OPS: Record<string, readonly [OperationName, OperationClass]> = {
  CreateObject: ['other', 'lifecycle'],
  DestroyObject: ['destroy_version', 'lifecycle'],
  SetAttributeValues: ['update_key', 'lifecycle'],
};

/** `User Type` -> the role's usual short name (User Guide, "HSM users"). */
const USER_ROLES: Record<string, string> = {
  CN_CRYPTO_USER: 'CU',
  CN_CRYPTO_OFFICER: 'CO',
  CN_APPLIANCE_USER: 'AU',
  CN_CRYPTO_PRE_OFFICER: 'PRECO',
};

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
const arrayLiteral = (items: readonly string[]) => `[${items.map(sqlString).join(', ')}]`;

const OP_KEYS = arrayLiteral(Object.keys(CLOUDHSM_OPCODES));
const OP_VALUES = arrayLiteral(Object.values(CLOUDHSM_OPCODES).map(([op, cls]) => `${op}|${cls}`));
const CERT_KEYS = arrayLiteral(Object.keys(CERT_STORE_OPS));
const CERT_VALUES = arrayLiteral(Object.values(CERT_STORE_OPS).map(([op, cls]) => `${op}|${cls}`));
const ROLE_KEYS = arrayLiteral(Object.keys(USER_ROLES));
const ROLE_VALUES = arrayLiteral(Object.values(USER_ROLES));

/** The entry fields the normalizer reads (normalized key names); any other line goes to attributes as `log.<name>`. */
const KNOWN_KEYS = ['time', 'sequenceno', 'rebootcounter', 'commandtype(hex)', 'opcode', 'sessionhandle', 'response', 'logtype', 'username', 'usertype', 'priv/secretkeyhandle', 'publickeyhandle'];
const REQUIRED = [
  ['time', 'Time'],
  ['sequenceno', 'Sequence No'],
  ['rebootcounter', 'Reboot counter'],
  ['opcode', 'Opcode'],
  ['response', 'Response'],
] as const;

const RECORD_TUPLE = `Tuple(via String, stream String, hsm String, cluster String, log_group String, owner String,
  message_type String, subscription_filters Array(String), cw_id String, cw_timestamp Nullable(Int64),
  cw_ingestion_time Nullable(Int64), line_prefix String, error_reason String, error String, message String)`;
const CERT_TUPLE = `Tuple(object_handle Nullable(UInt64), op_code String, response String, attributes Array(String), timestamp Nullable(Int64))`;

/** `0x1f` -> 31; NULL unless it is a hex number of at most 64 bits. */
const hexToUInt64 = (e: string) => `if(match(${e}, '^0[xX][0-9a-fA-F]{1,16}$'), reinterpretAsUInt64(reverse(unhex(leftPad(substring(${e}, 3), 16, '0')))), NULL)`;
/** 31 -> '0x1f' (the entry's own spelling, without leading zeros). */
const uint64ToHex = (e: string) => `concat('0x', if(${e} = 0, '0', trimLeft(lower(hex(${e})), '0')))`;
/** `CN_LOGIN (0xd)` -> `CN_LOGIN`. */
const nameOf = (e: string) => `trimBoth(substringIndex(${e}, '(', 1))`;
/** `CN_LOGIN (0xd)` -> `0xd`. */
const codeOf = (e: string) => `if(position(${e}, '(') > 0, trimBoth(replaceAll(substringIndex(${e}, '(', -1), ')', '')), '')`;

/**
 * Layers 0-3: the staged record's parts, the entry's fields, and the record's identity
 * (event_id, event_time). Each layer is a subquery so that aliases do not inline into one another.
 */
function parsed(stage: string): string {
  // Layer 0: the framing's JSON. A record that is not one (it reached keywatch already framed, e.g.
  // one entry per Kafka message) is taken as the entry's text, its stream named by its origin.
  const layer0 = `
SELECT seq, origin, record, c,
  tupleElement(c, 'via') != '' AS framed,
  NOT framed AND match(record, '^\\\\s*Time\\\\s*:') AS bare_text
FROM (SELECT seq, origin, record, JSONExtract(record, '${RECORD_TUPLE}') AS c FROM ${stage})`;

  // Layer 1: the entry's text split into fields once.
  const layer1 = `
SELECT seq, record, framed, bare_text,
  if(framed, tupleElement(c, 'message'), if(bare_text, record, '')) AS message,
  -- The rule of framing.ts streamFromOrigin: the last hsm-<id> / cluster-<id> of the origin.
  if(framed, tupleElement(c, 'hsm'), extractAll(origin, '(?:^|[^A-Za-z0-9])(hsm-[A-Za-z0-9]{3,})')[-1]) AS hsm,
  if(framed, tupleElement(c, 'cluster'), extractAll(origin, '(?:^|[^A-Za-z0-9])(cluster-[A-Za-z0-9]{3,})')[-1]) AS cluster,
  if(framed, tupleElement(c, 'stream'), coalesce(nullIf(hsm, ''), nullIf(splitByChar('/', replaceAll(origin, char(92), '/'))[-1], ''), origin)) AS stream,
  tupleElement(c, 'via') AS via,
  tupleElement(c, 'log_group') AS log_group,
  tupleElement(c, 'owner') AS owner,
  tupleElement(c, 'message_type') AS message_type,
  tupleElement(c, 'subscription_filters') AS subscription_filters,
  tupleElement(c, 'cw_id') AS cw_id,
  tupleElement(c, 'cw_timestamp') AS cw_timestamp,
  tupleElement(c, 'error_reason') AS error_reason,
  tupleElement(c, 'error') AS error,
  startsWith(trimLeft(message), 'Time') AS is_entry,
  startsWith(message, '{') AS is_cert,
  CAST(if(is_entry,
    mapApply((k, v) -> (replaceAll(lower(trimBoth(k)), ' ', ''), trimBoth(v)), extractKeyValuePairs(message, ':', '\\n\\r', '"')),
    map()), 'Map(String, String)') AS kv,
  JSONExtract(if(is_cert, message, '{}'), '${CERT_TUPLE}') AS cert
FROM (${layer0})`;

  // Layer 2: the fields as typed columns.
  const layer2 = `
SELECT *,
  kv['time'] AS f_time,
  kv['sequenceno'] AS f_seq,
  kv['rebootcounter'] AS f_reboot,
  kv['opcode'] AS f_opcode,
  kv['response'] AS f_response,
  ${hexToUInt64("kv['sequenceno']")} AS seq_no,
  ${hexToUInt64("kv['rebootcounter']")} AS reboot,
  -- usecs (microseconds since the epoch) is exact; the readable part (MM/DD/YY) is only the fallback.
  if(position(f_time, 'usecs:') > 0, toUInt64OrNull(trimBoth(substring(f_time, position(f_time, 'usecs:') + 6))), NULL) AS usecs_raw,
  if(usecs_raw BETWEEN 946684800000000 AND 4102444800000000, usecs_raw,
    if(match(trimBoth(substringIndex(f_time, ',', 1)), '^\\\\d{2}/\\\\d{2}/\\\\d{2} \\\\d{2}:\\\\d{2}:\\\\d{2}(\\\\.\\\\d{1,6})?$'),
      toUInt64OrNull(toString(toUnixTimestamp64Micro(parseDateTime64BestEffortUSOrNull(trimBoth(substringIndex(f_time, ',', 1)), 6, 'UTC')))), NULL)) AS usecs,
  if(is_cert, tupleElement(cert, 'timestamp'), NULL) AS cert_ms,
  if(is_cert, tupleElement(cert, 'op_code'), '') AS cert_op
FROM (${layer1})`;

  // Layer 3: identity. event_id = HSM stream, reboot counter, Sequence No and the entry's own
  // microsecond time: the first three are unique within a stream between resets, the time keeps a
  // restarted sequence from colliding with the entries it repeats.
  return `
SELECT *,
  multiIf(
    is_entry AND seq_no IS NOT NULL AND reboot IS NOT NULL AND usecs IS NOT NULL,
      concat('cloudhsm:', stream, ':', ${uint64ToHex('assumeNotNull(reboot)')}, ':', ${uint64ToHex('assumeNotNull(seq_no)')}, ':', toString(assumeNotNull(usecs))),
    is_cert, concat('cloudhsm:', stream, ':cert:', lower(hex(SHA256(message)))),
    concat('sha256:', lower(hex(SHA256(record))))) AS event_id,
  multiIf(
    is_entry AND usecs IS NOT NULL, toDateTime64(fromUnixTimestamp64Micro(toInt64(assumeNotNull(usecs)), 'UTC'), 3, 'UTC'),
    is_cert AND cert_ms BETWEEN 946684800000 AND 4102444800000, fromUnixTimestamp64Milli(assumeNotNull(cert_ms), 'UTC'),
    toDateTime64(0, 3, 'UTC')) AS event_time
FROM (${layer2})`;
}

const MISSING = `arrayStringConcat(arrayFilter(x -> x != '', [${REQUIRED.map(([k, name]) => `if(kv['${k}'] = '', '${name}', '')`).join(', ')}]), ', ')`;

/** Layer 4: the record's fate. */
function classified(stage: string): string {
  return `
SELECT *,
  multiIf(
    _reason = '', '',
    -- A framed error record always says why; one that does not (it came by Kafka) still gets a message.
    _reason = error_reason, if(error != '', error, concat('the framing rejected this record (', error_reason, ')')),
    _reason = 'unrecognized_record', concat('not a record of the aws-cloudhsm framing, nor an audit entry: "', substring(record, 1, 64), '"'),
    _reason = 'cloudwatch_control_message', concat('CloudWatch Logs control message: ', substring(message, 1, 200)),
    _reason = 'unknown_message_type', concat('CloudWatch Logs messageType "', message_type, '" is neither DATA_MESSAGE nor CONTROL_MESSAGE'),
    _reason = 'missing_message', 'the log event has an empty message',
    _reason = 'not_an_audit_record', concat('neither a CloudHSM audit entry (starting "Time:") nor a certificate-storage record: "', substring(message, 1, 64), '"'),
    _reason = 'missing_field' AND is_cert, 'a certificate-storage record needs op_code and timestamp',
    _reason = 'missing_field', concat('a CloudHSM audit entry needs Time, Sequence No, Reboot counter, Opcode and Response; missing: ', ${MISSING}),
    _reason = 'bad_field', concat('Sequence No and Reboot counter must be hex numbers (0x...); got "', substring(f_seq, 1, 40), '" and "', substring(f_reboot, 1, 40), '"'),
    _reason = 'bad_event_time' AND is_cert, concat('timestamp is not a time in ms: ', toString(cert_ms)),
    _reason = 'bad_event_time', concat('Time is not a timestamp: "', substring(f_time, 1, 80), '"'),
    '') AS _message
FROM
(
  SELECT *,
    multiIf(_reason = '', 'ok', _reason = 'cloudwatch_control_message', 'dropped', 'quarantined') AS _status
  FROM
  (
    SELECT *,
      multiIf(
        -- Only the framing's own reasons: a record that arrives already framed (Kafka) names its own.
        error_reason IN ('invalid_json', 'not_an_object', 'undecodable_payload', 'missing_message'), error_reason,
        error_reason != '' OR (NOT framed AND NOT bare_text), 'unrecognized_record',
        message_type = 'CONTROL_MESSAGE', 'cloudwatch_control_message',
        message_type NOT IN ('', 'DATA_MESSAGE'), 'unknown_message_type',
        message = '', 'missing_message',
        is_cert AND cert_op = '', 'not_an_audit_record',
        is_cert AND cert_ms IS NULL, 'missing_field',
        is_cert AND event_time = toDateTime64(0, 3, 'UTC'), 'bad_event_time',
        is_cert, '',
        NOT is_entry, 'not_an_audit_record',
        f_time = '' OR f_seq = '' OR f_reboot = '' OR f_opcode = '' OR f_response = '', 'missing_field',
        seq_no IS NULL OR reboot IS NULL, 'bad_field',
        usecs IS NULL, 'bad_event_time',
        '') AS _reason
    FROM (${parsed(stage)})
  )
)`;
}

/**
 * What becomes of each record, without normalizing it: seq, event_id, event_time, _status,
 * _reason, _message, with the same values as the full normalization.
 */
export function cloudHsmClassifySql(stage: string): string {
  return `SELECT seq, event_id, event_time, _status, _reason, _message FROM (${classified(stage)})`;
}

/**
 * The full normalization of records that classification passed ('ok'). Parameters:
 * {ingest_time:DateTime64(3)}, {batch_id:String}, {tenants:Map(String, String)} (cluster id, AWS
 * account or HSM id -> tenant), {default_tenant:String}.
 */
export function cloudHsmNormalizeSql(stage: string): string {
  // Layer 4: the entry's fields as the event needs them.
  const fields = `
SELECT seq, event_id, event_time, stream, hsm, cluster, via, log_group, owner, subscription_filters, cw_id, cw_timestamp,
  is_cert, seq_no, reboot, usecs, kv,
  if(is_cert, cert_op, ${nameOf('f_opcode')}) AS opcode,
  ${codeOf('f_opcode')} AS opcode_hex,
  kv['sessionhandle'] AS session_handle,
  ${nameOf("kv['commandtype(hex)']")} AS command_type,
  ${nameOf("kv['logtype']")} AS log_type,
  kv['username'] AS user_name,
  ${nameOf("kv['usertype']")} AS user_type,
  if(is_cert, ifNull(toString(tupleElement(cert, 'object_handle')), ''), kv['priv/secretkeyhandle']) AS key_handle,
  kv['publickeyhandle'] AS public_key_handle,
  -- Response: "<code>:HSM Return: SUCCESS" or "<code>:HSM Error: <text>".
  if(is_cert, '', if(match(f_response, '^\\\\d+\\\\s*:'), trimBoth(substringIndex(f_response, ':', 1)), '')) AS response_code,
  if(is_cert, tupleElement(cert, 'response'),
    trimBoth(if(match(f_response, '^\\\\d+\\\\s*:'), substring(f_response, position(f_response, ':') + 1), f_response))) AS response_full,
  if(is_cert, response_full, trimBoth(replaceRegexpOne(response_full, '^HSM (?:Return|Error)\\\\s*:\\\\s*', ''))) AS response_text,
  if(is_cert, response_full = 'OK', response_code = '0' OR (response_code = '' AND startsWith(response_full, 'HSM Return'))) AS ok,
  if(is_cert, arrayStringConcat(tupleElement(cert, 'attributes'), ','), '') AS cert_attributes
FROM (${parsed(stage)})`;

  // Layer 5: operation, principal, key, tenant.
  const mapped = `
SELECT *,
  transform(opcode, ${OP_KEYS}, ${OP_VALUES}, '') AS op_pair_entry,
  transform(opcode, ${CERT_KEYS}, ${CERT_VALUES}, 'other|lifecycle') AS op_pair_cert,
  if(is_cert, op_pair_cert,
    if(op_pair_entry != '', op_pair_entry,
      concat('other|', multiIf(log_type = 'MGMT_KEY_DETAILS_LOG', 'lifecycle', 'admin')))) AS op_pair,
  splitByChar('|', op_pair)[1] AS operation,
  splitByChar('|', op_pair)[2] AS operation_class,
  opcode IN ${arrayLiteral(USER_SUBJECT_OPCODES)} AS user_is_subject,
  if(user_is_subject, '', user_name) AS principal,
  if(principal != '', 'hsm_user', 'unknown') AS principal_type,
  -- Key handles are shared by the cluster's HSMs (a new key is synchronised under the same handle),
  -- so a key is named by its cluster, or by its HSM stream when the cluster is unknown.
  if(key_handle NOT IN ('', '0'), concat(if(cluster != '', cluster, stream), '/', key_handle), '') AS key_id,
  if(ok, 'success', 'failure') AS outcome,
  if(ok, '', multiIf(match(response_text, '^[A-Z][A-Z0-9_]+$'), response_text, response_code != '', response_code, response_text != '', substring(response_text, 1, 64), 'unknown')) AS error_code,
  coalesce(nullIf({tenants:Map(String, String)}[cluster], ''), nullIf({tenants:Map(String, String)}[owner], ''),
    nullIf({tenants:Map(String, String)}[hsm], ''), {default_tenant:String}) AS tenant,
  transform(user_type, ${ROLE_KEYS}, ${ROLE_VALUES}, '') AS user_role
FROM (${fields})`;

  // Layer 6: the row.
  return `
SELECT
  seq,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, 'aws-cloudhsm' AS source,
  tenant, cluster AS account, '' AS region, key_id, '' AS key_version, operation, operation_class,
  if(opcode != '', opcode, if(opcode_hex != '', opcode_hex, 'unknown')) AS vendor_operation,
  principal, principal_type, '' AS source_ip, '' AS user_agent, outcome, error_code,
  CAST(NULL AS Nullable(Float64)) AS latency_ms, '' AS request_id,
  mapUpdate(
    mapFilter((k, v) -> v != '', map(
      'stream', stream,
      'hsm_id', hsm,
      'cluster_id', cluster,
      'log_group', log_group,
      'aws_account', owner,
      'via', via,
      'subscription_filters', arrayStringConcat(subscription_filters, ','),
      'cw_event_id', cw_id,
      'cw_timestamp', if(cw_timestamp IS NULL, '', toString(fromUnixTimestamp64Milli(assumeNotNull(cw_timestamp), 'UTC'))),
      'sequence_no', ifNull(toString(seq_no), ''),
      'reboot_counter', ifNull(toString(reboot), ''),
      'usecs', if(is_cert, '', ifNull(toString(usecs), '')),
      'opcode_hex', opcode_hex,
      'command_type', command_type,
      'session_handle', session_handle,
      'log_type', log_type,
      'response_code', response_code,
      'response', response_text,
      'user_name', if(user_is_subject, '', user_name),
      'user_type', if(user_is_subject, '', user_type),
      'user_role', if(user_is_subject, '', user_role),
      'target_user', if(user_is_subject, user_name, ''),
      'target_user_type', if(user_is_subject, user_type, ''),
      'target_user_role', if(user_is_subject, user_role, ''),
      'key_handle', if(key_handle = '0', '', key_handle),
      'public_key_handle', if(public_key_handle = '0', '', public_key_handle),
      'masked_object_sync', if(opcode IN ('CN_EXTRACT_MASKED_OBJECT_USER', 'CN_INSERT_MASKED_OBJECT_USER'), 'true', ''),
      'critical', if(opcode IN ${arrayLiteral(CRITICAL_OPCODES)}, 'true', ''),
      'record_type', if(is_cert, 'certificate_storage', 'hsm_audit'),
      'changed_attributes', cert_attributes)),
    -- Lines this normalizer does not know, kept as log.<name>.
    mapApply((k, v) -> (concat('log.', replaceRegexpAll(k, '[^a-z0-9]+', '_')), v),
      mapFilter((k, v) -> k NOT IN ${arrayLiteral(KNOWN_KEYS)} AND v != '', kv))) AS attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM (${mapped})`;
}
