/**
 * HashiCorp Vault audit device entries -> KeyEvent, as ClickHouse SELECTs over staged raw records.
 * Field meanings: Vault docs "Audit log entry schema" (developer.hashicorp.com/vault/docs/audit/schema),
 * the transit secrets engine API, and the entry struct in hashicorp/vault audit/types.go. The
 * field list, the request/response pairing and the gaps are in ./README.md.
 *
 * Vault writes two entries per API call: `type: "request"` when the call arrives and
 * `type: "response"` when it completes; both carry the same `request.id`, and the response repeats
 * the whole request. The response entry becomes the event (`event_id` `vault:<request.id>`, its
 * `time` the event time, whichever batch it lands in). Request entries are dropped and counted:
 * `vault_request_paired` when their response is in the same batch (it then gives `latency_ms`),
 * `vault_request_unanswered` when it is not.
 *
 * Input relation: `stage` with columns (seq UInt32, origin String, position String, record String).
 */

/** Transit endpoints (first path segment under the mount), from the transit secrets engine API. */
const TRANSIT_ENDPOINTS = [
  'encrypt', 'decrypt', 'rewrap', 'datakey', 'sign', 'verify', 'hmac', 'cmac', 'keys', 'export', 'byok-export',
  'backup', 'restore', 'random', 'hash', 'wrapping_key', 'cache-config', 'config',
];

// Lines from the syslog device (through rsyslog/syslog-ng) or a file device with a `prefix` option
// carry text before the JSON; everything before the first "{" is removed.
const LINE = `if(startsWith(record, '{') OR startsWith(record, '['), record, substring(record, greatest(position(record, '{'), 1)))`;

// RFC 3339 with up to nanoseconds (Vault writes RFC3339Nano). The range check stops best-effort
// parsing from rolling an impossible time such as 25:61 over into the next day.
const TIME_RE = `'^\\\\d{4}-\\\\d{2}-\\\\d{2}T(?:[01]\\\\d|2[0-3]):[0-5]\\\\d:[0-5]\\\\d(?:\\\\.\\\\d{1,9})?(?:Z|[+-]\\\\d{2}:\\\\d{2})$'`;

/** The fields classification needs. */
const LIGHT_TUPLE = `Tuple(time String, type String,
  request Tuple(id String, operation String, mount_type String, path String, namespace Tuple(path String)))`;

// One parse of the whole entry. Values that Vault HMACs arrive as "hmac-sha256:..." strings; the
// numbers and booleans of response data (key_version, valid) are logged in clear. A String element
// receives a JSON number, boolean or object as its text.
const FULL_TUPLE = `Tuple(
  time String, type String, error String, forwarded_from String,
  auth Tuple(display_name String, entity_id String, token_type String, policies Array(String),
    metadata Map(String, String),
    policy_results Tuple(allowed Nullable(Bool), granting_policies Array(Tuple(name String)))),
  request Tuple(id String, operation String, mount_type String, mount_point String, mount_accessor String,
    path String, remote_address String, namespace Tuple(id String, path String),
    headers Map(String, Array(String)),
    data Tuple(batch_input Nullable(String), auto_rotate_period Nullable(String), exportable String,
      allow_plaintext_backup String, deletion_allowed String, type String)),
  response Tuple(
    auth Tuple(display_name String, entity_id String, token_type String, policies Array(String), metadata Map(String, String)),
    data Tuple(key_version String, latest_version String, batch_results Nullable(String), error String, valid String)))`;

/**
 * The path relative to its namespace, and what kind of call it is: `transit` (a transit mount),
 * `policy`, `auth`, `audit`, `mounts` (sys/ administration), `login`, or '' (not a key path).
 * Uses the columns q_path_raw, q_ns_path and q_mount_type.
 */
const PATH = `if(q_ns_path != '' AND startsWith(q_path_raw, q_ns_path), substring(q_path_raw, length(q_ns_path) + 1), q_path_raw)`;
const KIND = `multiIf(
  q_mount_type = 'transit', 'transit',
  path = 'sys/policy' OR startsWith(path, 'sys/policy/') OR match(path, '^sys/policies/(acl|rgp|egp)(/|$)'), 'policy',
  path = 'sys/auth' OR startsWith(path, 'sys/auth/'), 'auth',
  path = 'sys/audit' OR startsWith(path, 'sys/audit/'), 'audit',
  path = 'sys/mounts' OR startsWith(path, 'sys/mounts/') OR path = 'sys/remount', 'mounts',
  startsWith(path, 'auth/') AND match(path, '^auth/.+/(login(/|$)|oidc/callback$)'), 'login',
  '')`;

/** Layers 0-2: unwrap the line, parse it into `tuple`, and derive the entry's identity and time. */
function parsed(stage: string, tuple: string): string {
  return `
SELECT *,
  concat('vault:', tupleElement(tupleElement(r, 'request'), 'id')) AS event_id,
  ifNull(parsed_time, toDateTime64(0, 3, 'UTC')) AS event_time
FROM
(
  SELECT *,
    -- Only entries with neither field are checked further (short-circuit keeps this off the hot path).
    if(tupleElement(r, 'type') != '' OR tupleElement(tupleElement(r, 'request'), 'id') != '', true, isValidJSON(ev) AND JSONType(ev) = 'Object') AS is_object,
    if(match(tupleElement(r, 'time'), ${TIME_RE}), parseDateTime64BestEffortOrNull(tupleElement(r, 'time'), 3, 'UTC'), NULL) AS parsed_time
  FROM
  (
    SELECT seq, ev, JSONExtract(ev, '${tuple}') AS r
    FROM (SELECT seq, ${LINE} AS ev FROM ${stage})
  )
)`;
}

/** Layer 3-5 over `parsed`: the entry's fate. */
function classified(stage: string): string {
  const light = `
SELECT seq, ev, event_id, event_time, is_object, parsed_time,
  tupleElement(r, 'time') AS e_time,
  tupleElement(r, 'type') AS e_type,
  tupleElement(tupleElement(r, 'request'), 'id') AS q_id,
  tupleElement(tupleElement(r, 'request'), 'operation') AS q_operation,
  tupleElement(tupleElement(r, 'request'), 'mount_type') AS q_mount_type,
  tupleElement(tupleElement(r, 'request'), 'path') AS q_path_raw,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'namespace'), 'path') AS q_ns_path
FROM (${parsed(stage, LIGHT_TUPLE)})`;
  const pathed = `SELECT *, ${PATH} AS path FROM (${light})`;
  const kinded = `SELECT *, ${KIND} AS kind FROM (${pathed})`;
  const status = `
SELECT *,
  multiIf(
    NOT is_object, 'quarantined',
    e_type = '' OR q_id = '', 'quarantined',
    e_type NOT IN ('request', 'response'), 'quarantined',
    parsed_time IS NULL, 'quarantined',
    kind = '', 'dropped',
    e_type = 'request', 'dropped',
    'ok') AS _status,
  multiIf(
    NOT is_object, if(isValidJSON(ev), 'not_an_object', 'invalid_json'),
    e_type = '' OR q_id = '', 'missing_field',
    e_type NOT IN ('request', 'response'), 'unknown_entry_type',
    parsed_time IS NULL, 'bad_event_time',
    kind = '', 'non_key_path',
    e_type = 'request', if(answered, 'vault_request_paired', 'vault_request_unanswered'),
    '') AS _reason
FROM
(
  -- Whether the batch holds a response entry for the same request id. Only entries that mention
  -- "response" are looked at again (request entries do not), which costs less than a window
  -- over the whole batch.
  SELECT *, q_id IN (
    SELECT JSONExtractString(${LINE}, 'request', 'id') FROM ${stage}
    WHERE position(record, '"response"') > 0 AND JSONExtractString(${LINE}, 'type') = 'response') AS answered
  FROM (${kinded})
)`;
  return `
SELECT *,
  multiIf(
    _reason = 'invalid_json', 'the record is not valid JSON',
    _reason = 'not_an_object', concat('expected a JSON object, got ', JSONType(ev)),
    _reason = 'missing_field', concat('a Vault audit entry needs type and request.id; missing: ',
      arrayStringConcat(arrayFilter(x -> x != '', [if(e_type = '', 'type', ''), if(q_id = '', 'request.id', '')]), ', ')),
    _reason = 'unknown_entry_type', concat('type is neither "request" nor "response": "', substring(e_type, 1, 64), '"'),
    _reason = 'bad_event_time', concat('time is not an RFC 3339 timestamp: "', substring(e_time, 1, 64), '"'),
    _reason = 'non_key_path', concat(q_operation, ' ', path, if(q_mount_type != '', concat(' (mount type ', q_mount_type, ')'), '')),
    _reason = 'vault_request_paired', 'the response entry of this request is in the same batch and is the event',
    _reason = 'vault_request_unanswered', 'no response entry with this request.id in the batch; the event comes from the response when it is ingested',
    '') AS _message
FROM (${status})`;
}

/**
 * What becomes of each entry, without normalizing it: seq, event_id, event_time, _status, _reason,
 * _message, with the same values as the full normalization. Used for counts, deduplication and
 * quarantine.
 */
export function vaultClassifySql(stage: string): string {
  return `SELECT seq, event_id, event_time, _status, _reason, _message FROM (${classified(stage)})`;
}

/**
 * The full normalization of the response entries that classification passed ('ok'); what it
 * returns for other records is meaningless. `stage` may hold only some of the batch's records (the
 * sink passes the new ones); the request entries that give latency are looked up among all records
 * of the batch: `batch` when given, else the batch's rows in `raw_events` (the sink stores every
 * record there before it normalizes). Parameters: {ingest_time:DateTime64(3)}, {batch_id:String},
 * {tenants:Map(String, String)} (account -> tenant), {default_tenant:String}.
 */
export function vaultNormalizeSql(stage: string, batch?: string): string {
  const batchRecords = batch ?? `(SELECT seq, record FROM raw_events WHERE batch_id = {batch_id:String})`;

  // Layers: each SELECT adds columns that the next one reads. Two costs are balanced here. An
  // alias used in the SELECT that defines it is inlined at every use, so long alias chains in one
  // SELECT (segs -> mount -> kind -> path) grow into large trees; and every subquery level makes
  // the analyser's work on the levels above it dearer (measured: 13 levels took 470 ms of CPU to
  // analyse, these 8 about 330 ms, against about 100 ms of execution for a 16 MiB batch).

  // Layer 1: one parse of each entry.
  const rec = `SELECT seq, JSONExtract(${LINE}, '${FULL_TUPLE}') AS r FROM ${stage}`;

  // Layer 2: the entry's parts as plain columns, the path relative to its namespace, and who called.
  const parts = `
SELECT seq,
  concat('vault:', q_id) AS event_id,
  ifNull(parseDateTime64BestEffortOrNull(tupleElement(r, 'time'), 3, 'UTC'), toDateTime64(0, 3, 'UTC')) AS event_time,
  parseDateTime64BestEffortOrNull(tupleElement(r, 'time'), 6, 'UTC') AS resp_time,
  tupleElement(r, 'error') AS e_error,
  tupleElement(r, 'forwarded_from') AS e_forwarded_from,
  tupleElement(tupleElement(tupleElement(r, 'auth'), 'policy_results'), 'allowed') AS a_allowed,
  arrayMap(x -> tupleElement(x, 'name'), tupleElement(tupleElement(tupleElement(r, 'auth'), 'policy_results'), 'granting_policies')) AS a_granting,
  tupleElement(tupleElement(r, 'request'), 'id') AS q_id,
  tupleElement(tupleElement(r, 'request'), 'operation') AS q_operation,
  tupleElement(tupleElement(r, 'request'), 'mount_type') AS q_mount_type,
  tupleElement(tupleElement(r, 'request'), 'mount_accessor') AS q_mount_accessor,
  tupleElement(tupleElement(r, 'request'), 'path') AS q_path_raw,
  tupleElement(tupleElement(r, 'request'), 'remote_address') AS q_remote_address,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'namespace'), 'id') AS q_ns_id,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'namespace'), 'path') AS q_ns_path,
  -- Present only when user-agent is an audited request header (sys/config/auditing/request-headers).
  tupleElement(tupleElement(r, 'request'), 'headers')['user-agent'][1] AS q_user_agent,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'data'), 'batch_input') AS d_batch_input,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'data'), 'auto_rotate_period') AS d_auto_rotate_period,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'data'), 'exportable') AS d_exportable,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'data'), 'allow_plaintext_backup') AS d_allow_plaintext_backup,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'data'), 'deletion_allowed') AS d_deletion_allowed,
  tupleElement(tupleElement(tupleElement(r, 'request'), 'data'), 'type') AS d_type,
  tupleElement(tupleElement(tupleElement(r, 'response'), 'data'), 'key_version') AS p_key_version,
  tupleElement(tupleElement(tupleElement(r, 'response'), 'data'), 'latest_version') AS p_latest_version,
  tupleElement(tupleElement(tupleElement(r, 'response'), 'data'), 'batch_results') AS p_batch_results,
  tupleElement(tupleElement(tupleElement(r, 'response'), 'data'), 'error') AS p_error,
  tupleElement(tupleElement(tupleElement(r, 'response'), 'data'), 'valid') AS p_valid,
  ${PATH} AS path,
  if(q_ns_path != '' AND startsWith(tupleElement(tupleElement(r, 'request'), 'mount_point'), q_ns_path),
    substring(tupleElement(tupleElement(r, 'request'), 'mount_point'), length(q_ns_path) + 1),
    tupleElement(tupleElement(r, 'request'), 'mount_point')) AS mount_given,
  -- The token's identity; a login response's new token when the call itself had none.
  if(tupleElement(tupleElement(r, 'auth'), 'display_name') != '', tupleElement(tupleElement(r, 'auth'), 'display_name'), tupleElement(tupleElement(tupleElement(r, 'response'), 'auth'), 'display_name')) AS display_name,
  if(tupleElement(tupleElement(r, 'auth'), 'entity_id') != '', tupleElement(tupleElement(r, 'auth'), 'entity_id'), tupleElement(tupleElement(tupleElement(r, 'response'), 'auth'), 'entity_id')) AS entity_id,
  if(tupleElement(tupleElement(r, 'auth'), 'token_type') != '', tupleElement(tupleElement(r, 'auth'), 'token_type'), tupleElement(tupleElement(tupleElement(r, 'response'), 'auth'), 'token_type')) AS token_type,
  if(notEmpty(tupleElement(tupleElement(r, 'auth'), 'policies')), tupleElement(tupleElement(r, 'auth'), 'policies'), tupleElement(tupleElement(tupleElement(r, 'response'), 'auth'), 'policies')) AS policies,
  if(notEmpty(tupleElement(tupleElement(r, 'auth'), 'metadata')), tupleElement(tupleElement(r, 'auth'), 'metadata'), tupleElement(tupleElement(tupleElement(r, 'response'), 'auth'), 'metadata')) AS md,
  multiIf(q_ns_path != '', trimRight(q_ns_path, '/'), q_ns_id NOT IN ('', 'root'), q_ns_id, 'root') AS account,
  if(q_ns_path = '' OR endsWith(q_ns_path, '/'), q_ns_path, concat(q_ns_path, '/')) AS ns_prefix,
  trimBoth(e_error, ' \\n\\t') AS error_text
FROM (${rec})`;

  // Request entries of the batch, for latency. Entries that are plainly responses are skipped
  // before parsing; the rest are parsed for three fields only.
  const requests = `
SELECT rid, CAST(min(t) AS Nullable(DateTime64(6, 'UTC'))) AS request_time
FROM
(
  SELECT tupleElement(x, 'type') AS typ, tupleElement(tupleElement(x, 'request'), 'id') AS rid,
    parseDateTime64BestEffortOrNull(tupleElement(x, 'time'), 6, 'UTC') AS t
  FROM
  (
    SELECT JSONExtract(${LINE}, 'Tuple(time String, type String, request Tuple(id String))') AS x
    FROM ${batchRecords}
    WHERE position(record, '"type":"response"') = 0
  )
)
WHERE typ = 'request' AND rid != '' AND t IS NOT NULL
GROUP BY rid`;

  // Layer 3: the request entry's time beside each response, the kind of call, and the pieces of
  // the caller's identity.
  const kinded = `
SELECT p.*, rq.request_time AS request_time,
  ${KIND} AS kind,
  md['role_name'] AS md_role_name,
  md['username'] AS md_username,
  md['service_account_name'] AS md_sa_name,
  -- Vault's multierror text ("1 error occurred:\\n\\t* permission denied\\n\\n") reduced to its first error.
  if(error_text = '', '', trimBoth(splitByChar('\\n', replaceRegexpOne(error_text, '^\\\\d+ errors? occurred:\\\\s*\\\\*\\\\s*', ''))[1])) AS first_error
FROM (${parts}) AS p
LEFT JOIN (${requests}) AS rq ON p.q_id = rq.rid`;

  // Layer 4: the mount. A denied call never reaches the router, so its entries have mount_type but
  // no mount_point; the mount is then the shortest path prefix that a transit endpoint or a login
  // path follows.
  const mounted = `
SELECT *,
  multiIf(
    mount_given != '', mount_given,
    kind = 'transit', extract(path, '^(.*?/)(?:${TRANSIT_ENDPOINTS.join('|')})(?:/|$)'),
    kind = 'login', extract(path, '^(auth/.+?/)(?:login|oidc/callback)(?:/|$)'),
    '') AS mount,
  -- A failed login has no token; its path names the user for userpass, ldap and the like.
  if(kind = 'login' AND display_name = '' AND match(path, '/login/[^/]+$'), splitByChar('/', path)[-1], '') AS login_name,
  -- The last path segment names the policy, auth method or audit device; '' for the collection.
  multiIf(
    kind = 'policy', if(match(path, '^sys/(policy|policies/[a-z]+)/?$'), '', splitByChar('/', path)[-1]),
    kind = 'auth', replaceRegexpOne(replaceRegexpOne(substring(path, length('sys/auth/') + 1), '/tune$', ''), '/$', ''),
    kind = 'audit', replaceRegexpOne(substring(path, length('sys/audit/') + 1), '/$', ''),
    kind = 'mounts', if(path = 'sys/remount', '', replaceRegexpOne(replaceRegexpOne(substring(path, length('sys/mounts/') + 1), '/tune$', ''), '/$', '')),
    '') AS path_leaf,
  e_error != '' OR ifNull(a_allowed, true) = false OR p_error != '' AS failed,
  multiIf(
    kind = 'login', q_mount_type,
    display_name = '', '',
    display_name = 'root' OR has(policies, 'root'), 'root',
    md_sa_name != '', 'kubernetes',
    md_role_name != '' AND md_username = '', 'approle',
    splitByChar('-', display_name)[1]) AS auth_method
FROM (${kinded})`;

  // Layer 5: the transit endpoint's path segments under the mount, and the principal.
  const segment = (i: number) => `if(kind = 'transit' AND startsWith(path, mount), splitByChar('/', substring(path, length(mount) + 1)), [])[${i}]`;
  const segmented = `
SELECT *,
  ${segment(1)} AS s1, ${segment(2)} AS s2, ${segment(3)} AS s3, ${segment(4)} AS s4,
  -- Vault's display name for an AppRole login is the mount path alone ("approle"), the same for
  -- every role; the role name is appended so that each application is its own principal.
  multiIf(
    display_name != '' AND md_role_name != '' AND NOT endsWith(display_name, md_role_name), concat(display_name, '-', md_role_name),
    display_name != '', display_name,
    login_name != '', concat(replaceAll(trimRight(substring(mount, length('auth/') + 1), '/'), '/', '-'), '-', login_name),
    '') AS principal
FROM (${mounted})`;

  // Layer 6: operation, key and the vendor's name for the call.
  const op = `
SELECT *,
  multiIf(
    kind = 'transit', multiIf(
      s1 = 'encrypt', 'encrypt',
      s1 = 'decrypt', 'decrypt',
      s1 = 'rewrap', 're_encrypt',
      s1 = 'datakey', 'generate_data_key',
      s1 IN ('sign', 'hmac', 'cmac'), 'sign',
      s1 = 'verify', 'verify',
      s1 = 'keys' AND s2 = '', 'list',
      s1 = 'keys' AND s3 = '', multiIf(q_operation IN ('create', 'update'), 'create_key', q_operation = 'read', 'describe', q_operation = 'delete', 'destroy_version', q_operation = 'list', 'list', 'other'),
      s1 = 'keys' AND s3 = 'rotate', 'rotate_key',
      -- auto_rotate_period is HMAC'd unless the mount lists it in audit_non_hmac_request_keys: then
      -- only the fact that the rotation period changed is known.
      s1 = 'keys' AND s3 = 'config', multiIf(
        q_operation = 'read', 'describe',
        d_auto_rotate_period IS NULL, 'update_key',
        startsWith(d_auto_rotate_period, 'hmac-sha256:'), 'update_rotation_policy',
        match(d_auto_rotate_period, '^0+(\\\\.0+)?[smhd]?$'), 'disable_rotation',
        'enable_rotation'),
      s1 = 'keys' AND s3 = 'trim', 'destroy_version',
      s1 = 'keys' AND s3 IN ('import', 'import_version'), 'import_key_material',
      s1 IN ('export', 'byok-export'), 'export_key',
      s1 = 'backup', 'backup_key',
      s1 = 'restore', 'restore_key',
      s1 = 'wrapping_key', 'describe',
      q_operation = 'list', 'list',
      'other'),
    kind = 'policy', multiIf(q_operation = 'list' OR path_leaf = '', 'list', q_operation = 'read', 'describe', 'update_policy'),
    kind IN ('auth', 'audit', 'mounts'), multiIf(q_operation = 'list' OR (path_leaf = '' AND q_operation = 'read'), 'list', q_operation = 'read', 'describe', 'other'),
    kind = 'login', 'login',
    'other') AS operation,
  multiIf(
    s1 IN ('encrypt', 'decrypt', 'rewrap', 'sign', 'verify', 'hmac', 'cmac', 'backup', 'keys', 'restore'), s2,
    s1 IN ('datakey', 'export', 'byok-export'), s3,
    '') AS key_name,
  multiIf(
    kind = 'transit', concat(q_operation, ' transit/', multiIf(s1 = 'keys' AND s3 != '', concat('keys/', s3), s1 IN ('datakey', 'export') AND s2 != '', concat(s1, '/', s2), s1)),
    kind = 'policy', concat(q_operation, ' ', if(startsWith(path, 'sys/policy'), 'sys/policy', concat('sys/policies/', splitByChar('/', path)[3]))),
    kind = 'auth', concat(q_operation, ' sys/auth', if(endsWith(path, '/tune'), '/tune', '')),
    kind = 'audit', concat(q_operation, ' sys/audit'),
    kind = 'mounts', concat(q_operation, if(path = 'sys/remount', ' sys/remount', concat(' sys/mounts', if(endsWith(path, '/tune'), '/tune', '')))),
    kind = 'login', concat(q_operation, ' auth/', if(q_mount_type != '', concat(q_mount_type, '/'), ''), 'login'),
    concat(q_operation, ' ', path)) AS vendor_operation
FROM (${segmented})`;

  // Layer 7: the derived columns of the row.
  const derived = `
SELECT *,
  multiIf(
    operation IN ('encrypt', 'decrypt', 're_encrypt', 'generate_data_key', 'sign', 'verify'), 'crypto',
    operation IN ('create_key', 'rotate_key', 'update_key', 'enable_rotation', 'disable_rotation', 'update_rotation_policy',
      'destroy_version', 'import_key_material', 'export_key', 'backup_key', 'restore_key'), 'lifecycle',
    operation = 'update_policy', 'policy',
    operation IN ('describe', 'list'), 'read',
    operation = 'login', 'auth',
    kind = 'transit', multiIf(s1 IN ('random', 'hash'), 'crypto', s1 IN ('cache-config', 'config'), 'admin', 'lifecycle'),
    'admin') AS operation_class,
  if(kind = 'transit' AND key_name != '', concat(ns_prefix, mount, key_name), '') AS key_id,
  multiIf(
    s1 IN ('export', 'byok-export') AND s4 != '', s4,
    operation = 'rotate_key' AND NOT startsWith(p_latest_version, 'hmac-sha256:'), p_latest_version,
    startsWith(p_key_version, 'hmac-sha256:'), '',
    p_key_version) AS key_version,
  multiIf(
    principal = '', 'unknown',
    auth_method IN ('root', 'userpass', 'ldap', 'oidc', 'okta', 'radius', 'github', 'saml', 'kerberos') OR md['username'] != '', 'user',
    auth_method = 'kubernetes', 'service_account',
    -- JWT (CI pipelines, workload identity) and TLS-certificate logins are workloads of the
    -- customer's own; 'service' is kept for provider-internal callers, which detectors leave out.
    auth_method IN ('approle', 'token', 'jwt', 'cert'), 'application',
    auth_method IN ('aws', 'gcp', 'azure', 'alicloud', 'oci'), 'role',
    'unknown') AS principal_type,
  if(failed, 'failure', 'success') AS outcome,
  multiIf(
    NOT failed, '',
    first_error = '', if(ifNull(a_allowed, true) = false, 'permission_denied', 'error_response'),
    positionCaseInsensitive(first_error, 'permission denied') > 0, 'permission_denied',
    positionCaseInsensitive(first_error, 'rate limit quota exceeded') > 0, 'rate_limited',
    positionCaseInsensitive(first_error, 'vault is sealed') > 0, 'sealed',
    positionCaseInsensitive(first_error, 'invalid username or password') > 0 OR positionCaseInsensitive(first_error, 'invalid role or secret id') > 0, 'invalid_credentials',
    -- Otherwise the error's leading words: "encryption key not found" -> encryption_key_not_found.
    coalesce(nullIf(arrayStringConcat(arraySlice(splitByChar(' ', trimBoth(extract(lower(first_error), '^[a-z][a-z ]*'))), 1, 5), '_'), ''), 'error')) AS error_code,
  if(isIPv4String(q_remote_address) OR isIPv6String(q_remote_address), q_remote_address, '') AS source_ip,
  coalesce(nullIf({tenants:Map(String, String)}[account], ''), {default_tenant:String}) AS tenant,
  multiIf(
    d_batch_input IS NOT NULL AND startsWith(d_batch_input, '['), toString(JSONLength(assumeNotNull(d_batch_input))),
    p_batch_results IS NOT NULL AND startsWith(p_batch_results, '['), toString(JSONLength(assumeNotNull(p_batch_results))),
    '') AS batch_size
FROM (${op})`;

  // Request data values are kept only when the mount logs them in clear.
  const clear = (col: string) => `if(startsWith(${col}, 'hmac-sha256:'), '', ${col})`;

  // Layer 8: the row.
  return `
SELECT
  seq,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, 'vault' AS source,
  tenant, account, '' AS region, key_id, key_version, operation, operation_class, vendor_operation,
  principal, principal_type, source_ip, q_user_agent AS user_agent, outcome, error_code,
  if(request_time IS NULL OR resp_time IS NULL OR resp_time < request_time, NULL,
    round(dateDiff('microsecond', assumeNotNull(request_time), assumeNotNull(resp_time)) / 1000, 3)) AS latency_ms,
  q_id AS request_id,
  mapUpdate(mapUpdate(
    mapFilter((k, v) -> v != '', map(
      'entity_id', entity_id,
      'display_name', if(display_name != principal, display_name, ''),
      'auth_method', auth_method,
      'role_name', if(md['role_name'] != '', md['role_name'], md['role']),
      'username', md['username'],
      'service_account', if(md['service_account_name'] != '', concat(md['service_account_namespace'], '/', md['service_account_name']), ''),
      'login_name', login_name,
      'token_type', token_type,
      'root_token', if(auth_method = 'root', 'true', ''),
      'policies', arrayStringConcat(policies, ','),
      'granting_policies', arrayStringConcat(a_granting, ','),
      'policy_allowed', if(ifNull(a_allowed, true) = false, 'false', ''),
      'namespace', trimRight(q_ns_path, '/'),
      'namespace_id', if(q_ns_id != 'root', q_ns_id, ''),
      'path', path,
      'mount_point', mount,
      'mount_type', q_mount_type,
      'mount_accessor', q_mount_accessor,
      'source_address', if(source_ip = '', q_remote_address, ''),
      'forwarded_from', e_forwarded_from,
      'error_message', error_text,
      'response_error', p_error)),
    if(kind = 'transit', mapFilter((k, v) -> v != '', map(
      'batch', if(d_batch_input IS NOT NULL OR p_batch_results IS NOT NULL, 'true', ''),
      'batch_size', batch_size,
      'datakey_type', if(s1 = 'datakey', s2, ''),
      'export_type', if(s1 = 'export', s2, ''),
      'destination_key', if(s1 = 'byok-export', s2, ''),
      'hash_algorithm', if(s1 IN ('sign', 'verify', 'hmac'), s3, ''),
      'signature_valid', if(s1 = 'verify', ${clear('p_valid')}, ''),
      'auto_rotate_period', ifNull(d_auto_rotate_period, ''),
      'key_type', if(s1 = 'keys', ${clear('d_type')}, ''),
      'exportable', ${clear('d_exportable')},
      'allow_plaintext_backup', ${clear('d_allow_plaintext_backup')},
      'deletion_allowed', ${clear('d_deletion_allowed')})), map())),
    mapFilter((k, v) -> v != '', map(
      'policy_name', if(kind = 'policy', path_leaf, ''),
      'audit_device', if(kind = 'audit', path_leaf, ''),
      'audit_device_change', if(kind = 'audit' AND path_leaf != '' AND operation = 'other', if(q_operation = 'delete', 'disable', 'enable'), ''),
      'auth_path', if(kind = 'auth', path_leaf, ''),
      'auth_change', if(kind = 'auth' AND operation = 'other', multiIf(endsWith(path, '/tune'), 'tune', q_operation = 'delete', 'disable', 'enable'), ''),
      'mount_path', if(kind = 'mounts', path_leaf, ''),
      'mount_change', if(kind = 'mounts' AND operation = 'other', multiIf(path = 'sys/remount', 'remount', endsWith(path, '/tune'), 'tune', q_operation = 'delete', 'disable', 'enable'), '')))) AS attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM (${derived})`;
}
