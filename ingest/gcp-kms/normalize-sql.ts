/**
 * Cloud Audit Logs entries of Cloud KMS -> KeyEvent, as one ClickHouse SELECT over staged raw
 * records (see ../aws-kms/normalize-sql.ts for why normalization runs inside ClickHouse and why the
 * SQL is layered). Field meanings: Cloud Logging `LogEntry`, the `google.cloud.audit.AuditLog`
 * payload, the Cloud KMS v1 request messages and "Cloud KMS audit logging"; the field list and the
 * gaps are in ./README.md.
 *
 * Input relation: `stage` with columns (seq UInt32, position String, record String); a record is a
 * LogEntry, or a Pub/Sub push envelope whose `message.data` is a base64 LogEntry.
 * Output: one row per input record with every key_events column plus seq (normalizeSql), or
 * seq, event_id, event_time, _status, _reason, _message (classifySql).
 */

/** The short method name (the part after the last `.`) -> [operation, operation_class]. */
export const GCP_KMS_OPERATIONS: Record<string, readonly [string, string]> = {
  Encrypt: ['encrypt', 'crypto'],
  Decrypt: ['decrypt', 'crypto'],
  RawEncrypt: ['encrypt', 'crypto'],
  RawDecrypt: ['decrypt', 'crypto'],
  AsymmetricDecrypt: ['decrypt', 'crypto'],
  AsymmetricSign: ['sign', 'crypto'],
  MacSign: ['sign', 'crypto'],
  MacVerify: ['verify', 'crypto'],
  Decapsulate: ['other', 'crypto'],
  GenerateRandomBytes: ['other', 'crypto'],
  CreateKeyRing: ['other', 'lifecycle'],
  CreateCryptoKey: ['create_key', 'lifecycle'],
  CreateCryptoKeyVersion: ['create_key', 'lifecycle'],
  // Autokey: a key handle provisions a new CryptoKey for a resource.
  CreateKeyHandle: ['create_key', 'lifecycle'],
  // Refined from the request in the SQL: rotation schedule changes, version state changes.
  UpdateCryptoKey: ['update_key', 'lifecycle'],
  UpdateCryptoKeyVersion: ['update_key', 'lifecycle'],
  UpdateCryptoKeyPrimaryVersion: ['rotate_key', 'lifecycle'],
  // GCP schedules destruction: the material is destroyed after destroyScheduledDuration, and the
  // version can be restored until then.
  DestroyCryptoKeyVersion: ['schedule_deletion', 'lifecycle'],
  RestoreCryptoKeyVersion: ['cancel_deletion', 'lifecycle'],
  // Deletion removes the record of a version whose material is already destroyed (or never came
  // to be), or of a key without versions; it cannot be undone.
  DeleteCryptoKeyVersion: ['destroy_version', 'lifecycle'],
  DeleteCryptoKey: ['destroy_version', 'lifecycle'],
  DeleteKeyRing: ['other', 'lifecycle'],
  ImportCryptoKeyVersion: ['import_key_material', 'lifecycle'],
  CreateImportJob: ['other', 'lifecycle'],
  CreateEkmConnection: ['other', 'lifecycle'],
  UpdateEkmConnection: ['other', 'lifecycle'],
  UpdateEkmConfig: ['other', 'lifecycle'],
  SetIamPolicy: ['update_policy', 'policy'],
  GetIamPolicy: ['describe', 'read'],
  TestIamPermissions: ['describe', 'read'],
  GetPublicKey: ['describe', 'read'],
  VerifyConnectivity: ['other', 'read'],
};

/** google.rpc.Code numbers -> names (googleapis google/rpc/code.proto). */
const RPC_CODES: readonly string[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function arrayLiteral(items: readonly string[]): string {
  return `[${items.map(sqlString).join(', ')}]`;
}

const OPS_KEYS = arrayLiteral(Object.keys(GCP_KMS_OPERATIONS));
const OPS_VALUES = arrayLiteral(Object.values(GCP_KMS_OPERATIONS).map(([op, cls]) => `${op}|${cls}`));
const CODE_KEYS = arrayLiteral(RPC_CODES.map((_, i) => String(i)));
const CODE_VALUES = arrayLiteral(RPC_CODES);

const KMS_SERVICE = 'cloudkms.googleapis.com';

// Fields whose JSON type differs between methods are read as String, which gives the raw JSON
// text of an object: `cryptoKeyVersion` is an object in UpdateCryptoKeyVersion and a name in
// ImportCryptoKeyVersion; `importJob` an object in CreateImportJob and a name in
// ImportCryptoKeyVersion; `updateMask` a string ("a,b") or {"paths": [...]}. Key material and
// payloads (plaintext, ciphertext, wrappedKey, digest, data) are never read.
const REQUEST_TUPLE = `Tuple(name String, parent String, resource String, cryptoKeyId String, cryptoKeyVersionId String,
  importJobId String, importJob String, cryptoKeyVersion String, algorithm String, updateMask String,
  cryptoKey Tuple(name String, purpose String, rotationPeriod String, nextRotationTime String, importOnly String,
    destroyScheduledDuration String, cryptoKeyBackend String, versionTemplate Tuple(algorithm String, protectionLevel String)),
  policy Tuple(bindings String))`;

const RESPONSE_TUPLE = `Tuple(name String, state String, algorithm String, protectionLevel String, destroyTime String,
  importMethod String, purpose String)`;

const PAYLOAD_TUPLE = `Tuple(serviceName String, methodName String, resourceName String,
  status Tuple(code String, message String),
  authenticationInfo Tuple(principalEmail String, principalSubject String, serviceAccountKeyName String,
    serviceAccountDelegationInfo Array(Tuple(firstPartyPrincipal Tuple(principalEmail String), principalSubject String))),
  authorizationInfo Array(Tuple(permission String, granted String, permissionType String)),
  requestMetadata Tuple(callerIp String, callerSuppliedUserAgent String, callerNetwork String),
  request ${REQUEST_TUPLE}, response ${RESPONSE_TUPLE},
  serviceData Tuple(policyDelta Tuple(bindingDeltas Array(Tuple(action String, role String, member String)))))`;

const LABELS_TUPLE = `Tuple(project_id String, location String, key_ring_id String, crypto_key_id String, crypto_key_version_id String)`;

/** The whole LogEntry, nested objects included, parsed once. */
const ENTRY_TUPLE = `Tuple(insertId String, logName String, timestamp String, severity String,
  textPayload String, jsonPayload String, operation Tuple(id String, first String, last String),
  resource Tuple(type String, labels ${LABELS_TUPLE}),
  protoPayload ${PAYLOAD_TUPLE})`;

/** What classification needs; several times cheaper to parse than the full tuple. */
const LIGHT_TUPLE = `Tuple(insertId String, logName String, timestamp String, textPayload String, jsonPayload String,
  resource Tuple(labels Tuple(project_id String)), protoPayload Tuple(serviceName String, methodName String))`;

/** A Pub/Sub push (or pull) envelope; `data` is the base64 LogEntry a Cloud Logging sink published. */
const ENVELOPE_TUPLE = `Tuple(message Tuple(data String, messageId String, publishTime String), subscription String)`;

// Planning cost: the analyzer's logical-expression passes hash the arguments of every AND / OR,
// and a column from a subquery hashes with the whole subquery under it. Above the parse, an AND
// cost ~25 ms of planning per batch (measured), so conditions there are written as multiIf chains
// or has() instead, and AND / OR appear only in the layers next to the staged relation.

// RFC 3339 as Cloud Logging writes it (up to nine fractional digits). The range check stops
// best-effort parsing from rolling an impossible clock time such as 25:61 into the next day.
const TIME_RE = `'^\\\\d{4}-\\\\d{2}-\\\\d{2}T(?:[01]\\\\d|2[0-3]):[0-5]\\\\d:[0-5]\\\\d(?:\\\\.\\\\d{1,9})?(?:Z|[+-]\\\\d{2}:\\\\d{2})$'`;

/** Layers 0-2: unwrap Pub/Sub envelopes, parse the entry into `tuple`, derive event_id and event_time. */
function parsed(stage: string, tuple: string): string {
  return `
SELECT *,
  multiIf(
    tupleElement(r, 'insertId') != '' AND tupleElement(r, 'logName') != '', concat('gcp-kms:', tupleElement(r, 'logName'), ':', tupleElement(r, 'insertId')),
    tupleElement(r, 'insertId') != '' AND tupleElement(tupleElement(tupleElement(r, 'resource'), 'labels'), 'project_id') != '',
      concat('gcp-kms:projects/', tupleElement(tupleElement(tupleElement(r, 'resource'), 'labels'), 'project_id'), ':', tupleElement(r, 'insertId')),
    concat('sha256:', lower(hex(SHA256(ev))))) AS event_id,
  ifNull(parsed_time, toDateTime64(0, 3, 'UTC')) AS event_time
FROM
(
  SELECT *,
    -- Only records with none of these fields are checked further (short-circuit keeps this off the
    -- hot path). The '{' test matters: JSONExtract reads a JSON array into a tuple by position.
    if(startsWith(ev, '{') AND (tupleElement(r, 'insertId') != '' OR tupleElement(r, 'logName') != '' OR tupleElement(tupleElement(r, 'protoPayload'), 'methodName') != ''),
      true, isValidJSON(ev) AND JSONType(ev) = 'Object') AS is_object,
    if(match(tupleElement(r, 'timestamp'), ${TIME_RE}), parseDateTime64BestEffortOrNull(tupleElement(r, 'timestamp'), 3, 'UTC'), NULL) AS parsed_time
  FROM
  (
    SELECT seq, is_envelope, env, ev, JSONExtract(ev, '${tuple}') AS r
    FROM
    (
      SELECT seq, is_envelope, env,
        if(is_envelope, tryBase64Decode(tupleElement(tupleElement(env, 'message'), 'data')), record) AS ev
      FROM
      (
        SELECT seq, record, env,
          envelope_candidate AND (tupleElement(tupleElement(env, 'message'), 'data') != '' OR tupleElement(tupleElement(env, 'message'), 'messageId') != ''
            OR tupleElement(env, 'subscription') != '') AS is_envelope
        FROM
        (
          SELECT seq, record,
            -- A LogEntry names protoPayload or logName in clear; an envelope carries it base64-encoded.
            position(record, '"message"') > 0 AND position(record, '"protoPayload"') = 0 AND position(record, '"logName"') = 0 AS envelope_candidate,
            if(envelope_candidate, JSONExtract(record, '${ENVELOPE_TUPLE}'), CAST((('', '', ''), ''), '${ENVELOPE_TUPLE}')) AS env
          FROM ${stage}
        )
      )
    )
  )
)`;
}

/** Layer 3 over `parsed`: the record's fate. */
function classified(stage: string): string {
  return `
SELECT *,
  multiIf(
    _reason = 'bad_pubsub_data', if(tupleElement(tupleElement(env, 'message'), 'data') = '', 'the Pub/Sub envelope has no message.data',
      if(ev = '', 'message.data of the Pub/Sub envelope is not base64', concat('message.data of the Pub/Sub envelope does not decode to a JSON object: "', substring(ev, 1, 64), '"'))),
    _reason = 'invalid_json', 'the record is not valid JSON',
    _reason = 'not_an_object', concat('expected a JSON object, got ', JSONType(ev)),
    _reason = 'not_audit_log', 'a log entry without protoPayload (not a Cloud Audit Logs entry)',
    _reason = 'missing_field', concat('a Cloud Audit Logs entry needs protoPayload.serviceName and protoPayload.methodName; missing: ',
      if(position(ev, '"protoPayload"') = 0, 'protoPayload',
        arrayStringConcat(arrayFilter(x -> x != '', [if(service_name = '', 'protoPayload.serviceName', ''), if(method_name = '', 'protoPayload.methodName', '')]), ', '))),
    _reason = 'non_kms_service', service_name,
    _reason = 'bad_event_time', if(tupleElement(r, 'timestamp') = '', 'timestamp is missing', concat('timestamp is not an RFC 3339 time: "', substring(tupleElement(r, 'timestamp'), 1, 64), '"')),
    '') AS _message
FROM
(
  SELECT *,
    multiIf(
      NOT is_object, 'quarantined',
      not_audit, 'dropped',
      other_service, 'dropped',
      incomplete, 'quarantined',
      parsed_time IS NULL, 'quarantined',
      'ok') AS _status,
    multiIf(
      NOT is_object, multiIf(is_envelope, 'bad_pubsub_data', isValidJSON(ev), 'not_an_object', 'invalid_json'),
      not_audit, 'not_audit_log',
      other_service, 'non_kms_service',
      incomplete, 'missing_field',
      parsed_time IS NULL, 'bad_event_time',
      '') AS _reason
  FROM
  (
    SELECT *,
      tupleElement(tupleElement(r, 'protoPayload'), 'serviceName') AS service_name,
      tupleElement(tupleElement(r, 'protoPayload'), 'methodName') AS method_name,
      -- An entry with a textPayload or jsonPayload and no protoPayload is an application log.
      service_name = '' AND method_name = '' AND (tupleElement(r, 'textPayload') != '' OR tupleElement(r, 'jsonPayload') != '') AS not_audit,
      service_name != '' AND service_name != '${KMS_SERVICE}' AS other_service,
      service_name = '' OR method_name = '' AS incomplete
    FROM (${parsed(stage, LIGHT_TUPLE)})
  )
)`;
}

/**
 * What becomes of each record, without normalizing it: seq, event_id, event_time, _status,
 * _reason, _message, with the same values as the full normalization.
 */
export function gcpKmsClassifySql(stage: string): string {
  return `SELECT seq, event_id, event_time, _status, _reason, _message FROM (${classified(stage)})`;
}

/**
 * The full normalization of records that classification passed ('ok'); what it returns for other
 * records is meaningless. Parameters: {ingest_time:DateTime64(3)}, {batch_id:String},
 * {tenants:Map(String, String)} (project id -> tenant), {default_tenant:String}.
 */
export function gcpKmsNormalizeSql(stage: string): string {
  const pp = (f: string) => `tupleElement(tupleElement(r, 'protoPayload'), '${f}')`;
  const rq = (f: string) => `tupleElement(${pp('request')}, '${f}')`;
  const rs = (f: string) => `tupleElement(${pp('response')}, '${f}')`;
  const ck = (f: string) => `tupleElement(${rq('cryptoKey')}, '${f}')`;
  const au = (f: string) => `tupleElement(${pp('authenticationInfo')}, '${f}')`;
  const md = (f: string) => `tupleElement(${pp('requestMetadata')}, '${f}')`;
  const lb = (f: string) => `tupleElement(tupleElement(tupleElement(r, 'resource'), 'labels'), '${f}')`;

  // Layer 3: every field the upper layers use, as a plain column (carrying the tuple through the
  // layers makes planning slower), and the resource name the event is about.
  const parts = `
SELECT seq, event_id, event_time, is_envelope,
  tupleElement(tupleElement(env, 'message'), 'messageId') AS env_message_id,
  tupleElement(tupleElement(env, 'message'), 'publishTime') AS env_publish_time,
  tupleElement(env, 'subscription') AS env_subscription,
  tupleElement(r, 'logName') AS log_name,
  tupleElement(r, 'severity') AS severity,
  tupleElement(tupleElement(r, 'operation'), 'id') AS request_id,
  -- Long-running operations log a first and a last entry.
  multiIf(tupleElement(tupleElement(r, 'operation'), 'first') = 'true', 'first', tupleElement(tupleElement(r, 'operation'), 'last') = 'true', 'last', '') AS operation_phase,
  tupleElement(tupleElement(r, 'resource'), 'type') AS resource_type,
  ${lb('project_id')} AS lb_project, ${lb('location')} AS lb_location, ${lb('key_ring_id')} AS lb_ring,
  ${lb('crypto_key_id')} AS lb_key, ${lb('crypto_key_version_id')} AS lb_version,
  ${pp('methodName')} AS method_name,
  splitByChar('.', ${pp('methodName')})[-1] AS method,
  ${pp('resourceName')} AS resource_name,
  tupleElement(${pp('status')}, 'code') AS status_code,
  tupleElement(${pp('status')}, 'message') AS status_message,
  ${au('principalEmail')} AS principal_email,
  ${au('principalSubject')} AS principal_subject,
  ${au('serviceAccountKeyName')} AS sa_key_name,
  arrayStringConcat(arrayFilter(x -> x != '', arrayMap(d -> if(tupleElement(tupleElement(d, 'firstPartyPrincipal'), 'principalEmail') != '',
    tupleElement(tupleElement(d, 'firstPartyPrincipal'), 'principalEmail'), tupleElement(d, 'principalSubject')), ${au('serviceAccountDelegationInfo')})), ',') AS delegation_chain,
  ${pp('authorizationInfo')} AS authz,
  ${md('callerIp')} AS caller_ip,
  ${md('callerSuppliedUserAgent')} AS user_agent,
  ${md('callerNetwork')} AS caller_network,
  ${rq('name')} AS rq_name, ${rq('parent')} AS rq_parent, ${rq('resource')} AS rq_resource,
  ${rq('cryptoKeyId')} AS rq_crypto_key_id, ${rq('cryptoKeyVersionId')} AS rq_crypto_key_version_id,
  ${rq('importJobId')} AS rq_import_job_id, ${rq('importJob')} AS rq_import_job, ${rq('cryptoKeyVersion')} AS rq_crypto_key_version,
  ${rq('algorithm')} AS rq_algorithm, ${rq('updateMask')} AS rq_update_mask,
  ${ck('name')} AS ck_name, ${ck('purpose')} AS ck_purpose, ${ck('rotationPeriod')} AS ck_rotation_period,
  ${ck('nextRotationTime')} AS ck_next_rotation_time, ${ck('importOnly')} AS ck_import_only,
  ${ck('destroyScheduledDuration')} AS ck_destroy_scheduled_duration, ${ck('cryptoKeyBackend')} AS ck_backend,
  tupleElement(${ck('versionTemplate')}, 'algorithm') AS ck_algorithm,
  tupleElement(${ck('versionTemplate')}, 'protectionLevel') AS ck_protection_level,
  tupleElement(${rq('policy')}, 'bindings') AS policy_bindings,
  ${rs('name')} AS rs_name, ${rs('state')} AS rs_state, ${rs('algorithm')} AS rs_algorithm,
  ${rs('protectionLevel')} AS rs_protection_level, ${rs('destroyTime')} AS rs_destroy_time,
  ${rs('importMethod')} AS rs_import_method, ${rs('purpose')} AS rs_purpose,
  tupleElement(tupleElement(${pp('serviceData')}, 'policyDelta'), 'bindingDeltas') AS binding_deltas,
  -- The name the event is about: a created key or version (responses of Create*/Import*), else the
  -- audited resource, else the request's own name fields.
  multiIf(position(rs_name, '/cryptoKeys/') > 0, rs_name, resource_name != '', resource_name, rq_name != '', rq_name,
    ck_name != '', ck_name, rq_parent != '', rq_parent, rq_resource != '', rq_resource, '') AS ref_name_raw,
  splitByChar('/', if(startsWith(ref_name_raw, '//'), substring(ref_name_raw, position(substring(ref_name_raw, 3), '/') + 3), ref_name_raw)) AS ref
FROM (${parsed(stage, ENTRY_TUPLE)})`;

  // Layer 4: the key's coordinates, identity, operation before refinement, outcome.
  const coords = `
SELECT *,
  -- The project id (resource names may carry the project number instead); entries of folders and
  -- organizations (Autokey configuration) are accounted to "folders/N" or "organizations/N".
  multiIf(lb_project != '', lb_project, startsWith(log_name, 'projects/'), splitByChar('/', log_name)[2], ref[1] = 'projects', ref[2],
    position(log_name, '/logs/') > 0, substring(log_name, 1, position(log_name, '/logs/') - 1), '') AS account,
  multiIf(ref[3] = 'locations', ref[4], lb_location) AS region,
  multiIf(ref[5] = 'keyRings', ref[6], lb_ring) AS ring,
  -- request.cryptoKeyId is a field of CreateCryptoKey only.
  multiIf(ref[7] = 'cryptoKeys', ref[8], rq_crypto_key_id != '', rq_crypto_key_id, lb_key) AS key_name,
  -- request.cryptoKeyVersion is a name (ImportCryptoKeyVersion) or an object's JSON text.
  multiIf(ref[9] = 'cryptoKeyVersions', ref[10], rq_crypto_key_version_id != '', rq_crypto_key_version_id,
    startsWith(rq_crypto_key_version, 'projects/'), splitByChar('/', rq_crypto_key_version)[-1],
    lb_version) AS key_version,
  transform(method, ${OPS_KEYS}, ${OPS_VALUES}, '') AS op_pair,
  if(principal_email != '', principal_email, principal_subject) AS principal,
  multiIf(
    principal = '', 'unknown',
    -- Google-managed service agents (service-PROJECT_NUMBER@..., bq-PROJECT_NUMBER@bigquery-encryption...,
    -- PROJECT_NUMBER@cloudservices...) act for a Google service, e.g. CMEK use by Cloud Storage.
    endsWith(principal, '.gserviceaccount.com'),
      if(match(principal, '^(?:service|bq)-\\\\d+@|^\\\\d+@cloudservices\\\\.|@gcp-sa-'), 'service', 'service_account'),
    startsWith(principal, 'serviceAccount:'), 'service_account',
    position(principal, '/workloadIdentityPools/') > 0, 'application',
    position(principal, '/workforcePools/') > 0, 'user',
    position(principal, '@') > 0, 'user',
    'unknown') AS principal_type,
  multiIf(isIPv4String(caller_ip), caller_ip, isIPv6String(caller_ip), caller_ip, '') AS source_ip,
  if(has(['', '0', 'OK'], status_code), 'success', 'failure') AS outcome,
  if(outcome = 'success', '', transform(status_code, ${CODE_KEYS}, ${CODE_VALUES}, status_code)) AS error_code,
  -- updateMask as a list of normalized paths ("rotation_period" and "rotationPeriod" alike), for Update* only.
  if(startsWith(method, 'Update'),
    if(startsWith(rq_update_mask, '{'), JSONExtract(rq_update_mask, 'paths', 'Array(String)'), arrayFilter(x -> x != '', splitByChar(',', rq_update_mask))),
    CAST([], 'Array(String)')) AS mask,
  arrayMap(x -> lower(replaceAll(trimBoth(x), '_', '')), mask) AS mask_norm,
  if(method = 'UpdateCryptoKeyVersion', JSONExtractString(rq_crypto_key_version, 'state'), '') AS requested_state
FROM (${parts})`;

  // Layer 5: canonical key id, final operation, tenant.
  const keyed = `
SELECT *,
  multiIf(account = '', '', region = '', '', ring = '', '', key_name = '', '',
    concat('projects/', account, '/locations/', region, '/keyRings/', ring, '/cryptoKeys/', key_name)) AS key_id,
  multiIf(account = '', '', region = '', '', ring = '', '', concat('projects/', account, '/locations/', region, '/keyRings/', ring)) AS key_ring,
  multiIf(
    -- Rotation is on while rotationPeriod (or nextRotationTime) is set: setting it enables or
    -- changes rotation, clearing it (named in updateMask but empty) disables it. Without a mask,
    -- only a period given says anything.
    method = 'UpdateCryptoKey', multiIf(
      has(mask_norm, 'rotationperiod'), if(ck_rotation_period != '', 'enable_rotation', 'disable_rotation'),
      empty(mask_norm), if(ck_rotation_period != '', 'enable_rotation', 'update_key'),
      has(mask_norm, 'nextrotationtime'), if(ck_next_rotation_time != '', 'enable_rotation', 'disable_rotation'),
      'update_key'),
    -- A state change when the mask names the state (or there is no mask).
    method = 'UpdateCryptoKeyVersion', if(has(arrayPushBack(mask_norm, if(empty(mask_norm), 'state', '')), 'state'),
      multiIf(requested_state = 'ENABLED', 'enable_key', requested_state = 'DISABLED', 'disable_key', requested_state = 'DESTROY_SCHEDULED', 'schedule_deletion', 'update_key'),
      'update_key'),
    op_pair != '', splitByChar('|', op_pair)[1],
    startsWith(method, 'Get'), 'describe',
    startsWith(method, 'List'), 'list',
    'other') AS operation,
  multiIf(op_pair != '', splitByChar('|', op_pair)[2], startsWith(method, 'Get'), 'read', startsWith(method, 'List'), 'read', 'lifecycle') AS operation_class,
  coalesce(nullIf({tenants:Map(String, String)}[account], ''), {default_tenant:String}) AS tenant,
  multiIf(endsWith(log_name, 'activity'), 'activity', endsWith(log_name, 'data_access'), 'data_access',
    endsWith(log_name, 'system_event'), 'system_event', endsWith(log_name, 'policy'), 'policy', '') AS log_type,
  -- The resource name as logged, when it says more than key_id (a version, key ring, import job,
  -- location, or a project number instead of the id).
  if(resource_name != key_id, resource_name, '') AS resource_name_attr,
  -- request.importJob is a name (ImportCryptoKeyVersion) or an object's JSON text (CreateImportJob).
  multiIf(ref[7] = 'importJobs', arrayStringConcat(arraySlice(ref, 1, 8), '/'),
    position(rs_name, '/importJobs/') > 0, rs_name,
    startsWith(rq_import_job, 'projects/'), rq_import_job,
    rq_import_job_id = '', '',
    key_ring = '', '',
    concat(key_ring, '/importJobs/', rq_import_job_id)) AS import_job
FROM (${coords})`;

  // Layer 6: policy details of SetIamPolicy (the new policy's bindings and the logged delta).
  const policy = `
SELECT *,
  -- request.policy.bindings is a field of SetIamPolicy only.
  if(policy_bindings != '', JSONExtract(policy_bindings, 'Array(Tuple(role String, members Array(String)))'),
    CAST([], 'Array(Tuple(role String, members Array(String)))')) AS bindings,
  arraySort(arrayDistinct(arrayFlatten(arrayMap(b -> tupleElement(b, 'members'), bindings)))) AS members,
  arraySort(arrayDistinct(arrayMap(b -> tupleElement(b, 'role'), bindings))) AS roles,
  arraySort(arrayDistinct(arrayMap(d -> tupleElement(d, 'member'), arrayFilter(d -> tupleElement(d, 'action') = 'ADD', binding_deltas)))) AS added_members,
  arraySort(arrayDistinct(arrayMap(d -> tupleElement(d, 'member'), arrayFilter(d -> tupleElement(d, 'action') = 'REMOVE', binding_deltas)))) AS removed_members
FROM (${keyed})`;

  // Layer 7: the row.
  return `
SELECT
  seq,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, 'gcp-kms' AS source,
  tenant, account, region, key_id, key_version, operation, operation_class, method AS vendor_operation,
  principal, principal_type, source_ip, user_agent, outcome, error_code,
  CAST(NULL AS Nullable(Float64)) AS latency_ms, request_id,
  mapUpdate(
    mapFilter((k, v) -> v != '', map(
      'log_type', log_type,
      'method_name', if(method_name != method, method_name, ''),
      'severity', severity,
      'operation_phase', operation_phase,
      'resource_type', resource_type,
      'resource_name', resource_name_attr,
      'key_ring', if(key_id = '', key_ring, ''),
      'permission', arrayStringConcat(arrayDistinct(arrayFilter(x -> x != '', arrayMap(a -> tupleElement(a, 'permission'), authz))), ','),
      'permission_type', arrayStringConcat(arrayDistinct(arrayFilter(x -> x != '', arrayMap(a -> tupleElement(a, 'permissionType'), authz))), ','),
      -- proto3 JSON leaves out false booleans, so an entry without "granted": true was denied.
      'granted', if(empty(authz), '', if(arrayAll(a -> tupleElement(a, 'granted') = 'true', authz), 'true', 'false')),
      'error_message', status_message,
      'caller_ip', if(source_ip = '', caller_ip, ''),
      'caller_network', caller_network,
      'principal_subject', if(principal != principal_subject, principal_subject, ''),
      'service_account_key', sa_key_name,
      'delegation_chain', delegation_chain,
      'pubsub_message_id', env_message_id,
      'pubsub_publish_time', env_publish_time,
      'pubsub_subscription', env_subscription)),
    -- Request and response fields of key management and policy calls; data-plane calls have none,
    -- and short-circuit evaluation skips this map for them.
    if(operation_class = 'crypto', map(), mapFilter((k, v) -> v != '', map(
      'update_mask', arrayStringConcat(mask, ','),
      'rotation_period', ck_rotation_period,
      'rotation_period_days', if(match(ck_rotation_period, '^\\\\d+(?:\\\\.\\\\d+)?s$'), toString(round(toFloat64(trimRight(ck_rotation_period, 's')) / 86400, 3)), ''),
      'next_rotation_time', ck_next_rotation_time,
      'key_state', if(requested_state != '', requested_state, rs_state),
      'destroy_time', rs_destroy_time,
      'purpose', coalesce(nullIf(ck_purpose, ''), rs_purpose),
      'algorithm', coalesce(nullIf(rq_algorithm, ''), nullIf(ck_algorithm, ''), rs_algorithm),
      'protection_level', coalesce(nullIf(ck_protection_level, ''), nullIf(rs_protection_level, ''),
        if(method = 'CreateImportJob', JSONExtractString(rq_import_job, 'protectionLevel'), '')),
      'import_only', ck_import_only,
      'destroy_scheduled_duration', ck_destroy_scheduled_duration,
      'crypto_key_backend', ck_backend,
      'import_job', import_job,
      'import_method', coalesce(nullIf(rs_import_method, ''), if(method = 'CreateImportJob', JSONExtractString(rq_import_job, 'importMethod'), '')),
      'policy_bindings', if(method = 'SetIamPolicy', policy_bindings, ''),
      'members', arrayStringConcat(members, ','),
      'roles', arrayStringConcat(roles, ','),
      'added_members', arrayStringConcat(added_members, ','),
      'removed_members', arrayStringConcat(removed_members, ','),
      'member_domains', arrayStringConcat(arraySort(arrayDistinct(arrayFilter(x -> x != '', arrayMap(
        m -> multiIf(startsWith(m, 'domain:'), substring(m, 8), position(m, '@') > 0, splitByChar('?', splitByChar('@', m)[-1])[1], ''),
        arrayConcat(members, added_members))))), ','),
      'public_member', if(hasAny(arrayConcat(members, added_members), ['allUsers', 'allAuthenticatedUsers']), 'true', ''))))) AS attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM (${policy})`;
}
