/**
 * CloudTrail KMS -> KeyEvent, as one ClickHouse SELECT over staged raw records. Normalizing inside
 * ClickHouse keeps the Node side to framing and byte copying, which is what lets ingest run at
 * more than half the engine's own JSONEachRow speed (bench/ingest). Field meanings: AWS KMS
 * developer guide, "Logging AWS KMS API calls with AWS CloudTrail", and the CloudTrail
 * userIdentity element reference. The field list and gaps are in ./README.md.
 *
 * Input relation: `stage` with columns (seq UInt32, position String, record String).
 * Output: one row per input record with every key_events column plus
 *   _status ('ok' | 'dropped' | 'quarantined'), _reason, _message, seq.
 */

/** eventName -> [operation, operation_class]. Names not listed become ('other', 'lifecycle'). */
export const AWS_KMS_OPERATIONS: Record<string, readonly [string, string]> = {
  Encrypt: ['encrypt', 'crypto'],
  Decrypt: ['decrypt', 'crypto'],
  GenerateDataKey: ['generate_data_key', 'crypto'],
  GenerateDataKeyWithoutPlaintext: ['generate_data_key', 'crypto'],
  GenerateDataKeyPair: ['generate_data_key', 'crypto'],
  GenerateDataKeyPairWithoutPlaintext: ['generate_data_key', 'crypto'],
  ReEncrypt: ['re_encrypt', 'crypto'],
  Sign: ['sign', 'crypto'],
  GenerateMac: ['sign', 'crypto'],
  Verify: ['verify', 'crypto'],
  VerifyMac: ['verify', 'crypto'],
  GenerateRandom: ['other', 'crypto'],
  DeriveSharedSecret: ['other', 'crypto'],
  Decapsulate: ['other', 'crypto'],
  CreateKey: ['create_key', 'lifecycle'],
  ReplicateKey: ['create_key', 'lifecycle'],
  ImportKeyMaterial: ['import_key_material', 'lifecycle'],
  DeleteImportedKeyMaterial: ['delete_key_material', 'lifecycle'],
  DeleteExpiredKeyMaterial: ['delete_key_material', 'lifecycle'],
  RotateKey: ['rotate_key', 'lifecycle'],
  RotateKeyOnDemand: ['rotate_key', 'lifecycle'],
  EnableKeyRotation: ['enable_rotation', 'lifecycle'],
  DisableKeyRotation: ['disable_rotation', 'lifecycle'],
  EnableKey: ['enable_key', 'lifecycle'],
  DisableKey: ['disable_key', 'lifecycle'],
  ScheduleKeyDeletion: ['schedule_deletion', 'lifecycle'],
  CancelKeyDeletion: ['cancel_deletion', 'lifecycle'],
  DeleteKey: ['destroy_version', 'lifecycle'],
  PutKeyPolicy: ['update_policy', 'policy'],
  CreateGrant: ['create_grant', 'policy'],
  RetireGrant: ['revoke_grant', 'policy'],
  RevokeGrant: ['revoke_grant', 'policy'],
  DescribeKey: ['describe', 'read'],
  GetKeyPolicy: ['describe', 'read'],
  GetKeyRotationStatus: ['describe', 'read'],
  GetPublicKey: ['describe', 'read'],
  GetParametersForImport: ['other', 'lifecycle'],
  DescribeCustomKeyStores: ['describe', 'read'],
  ListKeys: ['list', 'read'],
  ListAliases: ['list', 'read'],
  ListGrants: ['list', 'read'],
  ListRetirableGrants: ['list', 'read'],
  ListKeyPolicies: ['list', 'read'],
  ListKeyRotations: ['list', 'read'],
  ListResourceTags: ['list', 'read'],
  ConnectCustomKeyStore: ['login', 'auth'],
  DisconnectCustomKeyStore: ['other', 'lifecycle'],
};

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function arrayLiteral(items: string[]): string {
  return `[${items.map(sqlString).join(', ')}]`;
}

const OPS_KEYS = arrayLiteral(Object.keys(AWS_KMS_OPERATIONS));
const OPS_VALUES = arrayLiteral(Object.values(AWS_KMS_OPERATIONS).map(([op, cls]) => `${op}|${cls}`));

const PARAMS_TUPLE = `Tuple(keyId String, sourceKeyId String, destinationKeyId String, encryptionAlgorithm String,
  signingAlgorithm String, keySpec String, keyUsage String, origin String, customKeyStoreId String,
  granteePrincipal String, retiringPrincipal String, operations Array(String), grantId String,
  policy String, policyName String, validTo String, expirationModel String, pendingWindowInDays String,
  rotationPeriodInDays String, replicaRegion String, multiRegion String, keyMaterialId String,
  importType String, keyMaterialDescription String, bypassPolicyLockoutSafetyCheck String,
  constraints String, encryptionContext Map(String, String))`;

const RESPONSE_TUPLE = `Tuple(keyId String, grantId String, keyState String, deletionDate String, keyMaterialId String,
  keyMetadata Tuple(arn String, keyId String, origin String, keyManager String, customKeyStoreId String, keySpec String, multiRegion String))`;

const EXTRA_TUPLE = `Tuple(customKeyStoreId String, xksKeyId String, keyMaterialId String, backingKeyId String)`;
// RotateKey service events name the new and the replaced key material (current/previousKeyMaterialId).
const SERVICE_TUPLE = `Tuple(keyId String, keyMaterialId String, currentKeyMaterialId String, previousKeyMaterialId String,
  rotationType String, keyOrigin String)`;

// One parse of the whole record into a typed tuple, nested objects included, so nothing is
// parsed twice.
const RECORD_TUPLE = `Tuple(
  eventVersion String, eventTime String, eventSource String, eventName String, eventType String,
  awsRegion String, sourceIPAddress String, userAgent String, errorCode String, errorMessage String,
  requestID String, eventID String, recipientAccountId String, sharedEventID String, vpcEndpointId String,
  readOnly String, digestStartTime String,
  userIdentity Tuple(type String, principalId String, arn String, accountId String, accessKeyId String,
    userName String, invokedBy String,
    sessionContext Tuple(sessionIssuer Tuple(type String, arn String, accountId String, userName String),
      attributes Tuple(mfaAuthenticated String))),
  requestParameters ${PARAMS_TUPLE}, responseElements ${RESPONSE_TUPLE},
  additionalEventData ${EXTRA_TUPLE}, serviceEventDetails ${SERVICE_TUPLE},
  resources Array(Tuple(ARN String, accountId String, type String)))`;

/** The fields classification needs; parsing only these is several times cheaper than the full tuple. */
const LIGHT_TUPLE = `Tuple(eventTime String, eventSource String, eventName String, eventID String, digestStartTime String)`;

// Tuple fields are read with tupleElement() rather than dot syntax: the analyzer resolves each
// `r.a.b` as a compound identifier first, which cost ~1 ms of planning per field (measured).
// The SQL is built in layers, one subquery per level of dependency. ClickHouse's analyzer inlines
// an alias wherever it is used, so a chain such as key_id -> key_ref -> known_arn -> resource_arn
// written in one SELECT grows into a tree of thousands of nodes and took ~0.6 s to plan per batch.
// A subquery boundary turns each level into plain columns.

/** Layers 0-2: unwrap the record, parse it into `tuple`, and derive its identity (event_id, event_time). */
function parsed(stage: string, tuple: string): string {
  return `
SELECT *,
  if(tupleElement(r, 'eventID') != '', tupleElement(r, 'eventID'), concat('sha256:', lower(hex(SHA256(ev))))) AS event_id,
  ifNull(parsed_time, toDateTime64(0, 3, 'UTC')) AS event_time
FROM
(
  SELECT *,
    -- Only records with neither field are checked further (short-circuit keeps this off the hot path).
    -- JSONExtract fills a named tuple from an array by position, so only a record that starts as an
    -- object takes the short cut.
    if(startsWith(ev, '{') AND (tupleElement(r, 'eventSource') != '' OR tupleElement(r, 'eventName') != ''), true, isValidJSON(ev) AND JSONType(ev) = 'Object') AS is_object,
    -- CloudTrail writes eventTime as YYYY-MM-DDTHH:MM:SSZ. The range check stops best-effort parsing
    -- from rolling an impossible time such as 25:61 over into the next day.
    if(match(tupleElement(r, 'eventTime'), '^\\\\d{4}-\\\\d{2}-\\\\d{2}[T ](?:[01]\\\\d|2[0-3]):[0-5]\\\\d:[0-5]\\\\d(?:\\\\.\\\\d{1,9})?(?:Z|[+-]\\\\d{2}:?\\\\d{2})?$'),
       parseDateTime64BestEffortOrNull(tupleElement(r, 'eventTime'), 3, 'UTC'), NULL) AS parsed_time
  FROM
  (
    SELECT seq, ev, JSONExtract(ev, '${tuple}') AS r
    FROM
    (
      SELECT seq,
        -- CloudWatch Logs exports prefix each line with an ISO timestamp and a space.
        if(startsWith(record, '{') OR NOT match(record, '^\\\\d{4}-\\\\d{2}-\\\\d{2}T[^ {]* \\\\{'), record, substring(record, position(record, '{'))) AS line,
        -- EventBridge wraps the CloudTrail record in an envelope; the record is in "detail".
        if(position(line, '"detail-type"') > 0 AND JSONHas(line, 'detail-type') AND JSONHas(line, 'detail'), JSONExtractRaw(line, 'detail'), line) AS ev
      FROM ${stage}
    )
  )
)`;
}

/** Layer 3 over `parsed`: the record's fate. */
function classified(stage: string): string {
  return `
SELECT *,
  multiIf(
    _reason = 'invalid_json', 'the record is not valid JSON',
    _reason = 'not_an_object', concat('expected a JSON object, got ', JSONType(ev)),
    _reason = 'missing_field', concat('a CloudTrail record needs eventSource and eventName; missing: ',
      arrayStringConcat(arrayFilter(x -> x != '', [if(tupleElement(r, 'eventSource') = '', 'eventSource', ''), if(tupleElement(r, 'eventName') = '', 'eventName', '')]), ', ')),
    _reason = 'bad_event_time', concat('eventTime is not a timestamp: "', substring(tupleElement(r, 'eventTime'), 1, 64), '"'),
    _reason = 'non_kms_event', tupleElement(r, 'eventSource'),
    '') AS _message
FROM
(
  SELECT *,
    multiIf(
      NOT is_object, 'quarantined',
      tupleElement(r, 'digestStartTime') != '', 'dropped',
      tupleElement(r, 'eventSource') = '' OR tupleElement(r, 'eventName') = '', 'quarantined',
      tupleElement(r, 'eventSource') != 'kms.amazonaws.com', 'dropped',
      parsed_time IS NULL, 'quarantined',
      'ok') AS _status,
    multiIf(
      NOT is_object, if(isValidJSON(ev), 'not_an_object', 'invalid_json'),
      tupleElement(r, 'digestStartTime') != '', 'cloudtrail_digest',
      tupleElement(r, 'eventSource') = '' OR tupleElement(r, 'eventName') = '', 'missing_field',
      tupleElement(r, 'eventSource') != 'kms.amazonaws.com', 'non_kms_event',
      parsed_time IS NULL, 'bad_event_time',
      '') AS _reason
  FROM (${parsed(stage, LIGHT_TUPLE)})
)`;
}

/**
 * What becomes of each record, without normalizing it: seq, event_id, event_time,
 * _status, _reason, _message, with the same values as the full normalization. Used for counts,
 * deduplication and quarantine.
 */
export function awsKmsClassifySql(stage: string): string {
  return `SELECT seq, event_id, event_time, _status, _reason, _message FROM (${classified(stage)})`;
}

/**
 * The full normalization of records that classification passed ('ok'); what it returns for other
 * records is meaningless. Parameters: {ingest_time:DateTime64(3)}, {batch_id:String},
 * {tenants:Map(String, String)} (account -> tenant), {default_tenant:String}.
 */
export function awsKmsNormalizeSql(stage: string): string {
  // Layer 3: the record's parts, and what depends only on them.
  const parts = `
SELECT seq, event_id, event_time,
  -- Every field the upper layers use, as a plain column: carrying the parsed tuple through the
  -- layers made planning several times slower (its type is large).
  tupleElement(r, 'errorMessage') AS r_errorMessage,
  tupleElement(r, 'eventType') AS r_eventType,
  tupleElement(r, 'eventVersion') AS r_eventVersion,
  tupleElement(r, 'readOnly') AS r_readOnly,
  tupleElement(r, 'recipientAccountId') AS r_recipientAccountId,
  tupleElement(r, 'sharedEventID') AS r_sharedEventID,
  tupleElement(r, 'sourceIPAddress') AS r_sourceIPAddress,
  tupleElement(r, 'vpcEndpointId') AS r_vpcEndpointId,
  tupleElement(tupleElement(r, 'responseElements'), 'deletionDate') AS re_deletionDate,
  tupleElement(tupleElement(r, 'responseElements'), 'grantId') AS re_grantId,
  tupleElement(tupleElement(r, 'responseElements'), 'keyId') AS re_keyId,
  tupleElement(tupleElement(tupleElement(r, 'responseElements'), 'keyMetadata'), 'arn') AS re_keyMetadata_arn,
  tupleElement(tupleElement(tupleElement(r, 'responseElements'), 'keyMetadata'), 'customKeyStoreId') AS re_keyMetadata_customKeyStoreId,
  tupleElement(tupleElement(tupleElement(r, 'responseElements'), 'keyMetadata'), 'keySpec') AS re_keyMetadata_keySpec,
  tupleElement(tupleElement(tupleElement(r, 'responseElements'), 'keyMetadata'), 'multiRegion') AS re_keyMetadata_multiRegion,
  tupleElement(tupleElement(tupleElement(r, 'responseElements'), 'keyMetadata'), 'origin') AS re_keyMetadata_origin,
  tupleElement(tupleElement(r, 'responseElements'), 'keyState') AS re_keyState,
  tupleElement(tupleElement(r, 'requestParameters'), 'bypassPolicyLockoutSafetyCheck') AS rp_bypassPolicyLockoutSafetyCheck,
  tupleElement(tupleElement(r, 'requestParameters'), 'constraints') AS rp_constraints,
  tupleElement(tupleElement(r, 'requestParameters'), 'customKeyStoreId') AS rp_customKeyStoreId,
  tupleElement(tupleElement(r, 'requestParameters'), 'destinationKeyId') AS rp_destinationKeyId,
  tupleElement(tupleElement(r, 'requestParameters'), 'encryptionAlgorithm') AS rp_encryptionAlgorithm,
  tupleElement(tupleElement(r, 'requestParameters'), 'encryptionContext') AS rp_encryptionContext,
  tupleElement(tupleElement(r, 'requestParameters'), 'expirationModel') AS rp_expirationModel,
  tupleElement(tupleElement(r, 'requestParameters'), 'grantId') AS rp_grantId,
  tupleElement(tupleElement(r, 'requestParameters'), 'granteePrincipal') AS rp_granteePrincipal,
  tupleElement(tupleElement(r, 'requestParameters'), 'importType') AS rp_importType,
  tupleElement(tupleElement(r, 'requestParameters'), 'keyId') AS rp_keyId,
  tupleElement(tupleElement(r, 'requestParameters'), 'keyMaterialDescription') AS rp_keyMaterialDescription,
  tupleElement(tupleElement(r, 'requestParameters'), 'keySpec') AS rp_keySpec,
  tupleElement(tupleElement(r, 'requestParameters'), 'keyUsage') AS rp_keyUsage,
  tupleElement(tupleElement(r, 'requestParameters'), 'multiRegion') AS rp_multiRegion,
  tupleElement(tupleElement(r, 'requestParameters'), 'operations') AS rp_operations,
  tupleElement(tupleElement(r, 'requestParameters'), 'origin') AS rp_origin,
  tupleElement(tupleElement(r, 'requestParameters'), 'pendingWindowInDays') AS rp_pendingWindowInDays,
  tupleElement(tupleElement(r, 'requestParameters'), 'policy') AS rp_policy,
  tupleElement(tupleElement(r, 'requestParameters'), 'policyName') AS rp_policyName,
  tupleElement(tupleElement(r, 'requestParameters'), 'replicaRegion') AS rp_replicaRegion,
  tupleElement(tupleElement(r, 'requestParameters'), 'retiringPrincipal') AS rp_retiringPrincipal,
  tupleElement(tupleElement(r, 'requestParameters'), 'rotationPeriodInDays') AS rp_rotationPeriodInDays,
  tupleElement(tupleElement(r, 'requestParameters'), 'signingAlgorithm') AS rp_signingAlgorithm,
  tupleElement(tupleElement(r, 'requestParameters'), 'sourceKeyId') AS rp_sourceKeyId,
  tupleElement(tupleElement(r, 'requestParameters'), 'validTo') AS rp_validTo,
  tupleElement(tupleElement(r, 'serviceEventDetails'), 'keyId') AS sd_keyId,
  tupleElement(tupleElement(r, 'serviceEventDetails'), 'keyOrigin') AS sd_keyOrigin,
  tupleElement(tupleElement(r, 'serviceEventDetails'), 'previousKeyMaterialId') AS sd_previousKeyMaterialId,
  tupleElement(tupleElement(r, 'serviceEventDetails'), 'rotationType') AS sd_rotationType,
  tupleElement(tupleElement(r, 'userIdentity'), 'accessKeyId') AS ui_accessKeyId,
  tupleElement(tupleElement(r, 'userIdentity'), 'accountId') AS ui_accountId,
  tupleElement(tupleElement(r, 'userIdentity'), 'arn') AS ui_arn,
  tupleElement(tupleElement(r, 'userIdentity'), 'invokedBy') AS ui_invokedBy,
  tupleElement(tupleElement(r, 'userIdentity'), 'principalId') AS ui_principalId,
  tupleElement(tupleElement(tupleElement(tupleElement(r, 'userIdentity'), 'sessionContext'), 'attributes'), 'mfaAuthenticated') AS ui_sessionContext_attributes_mfaAuthenticated,
  tupleElement(tupleElement(tupleElement(tupleElement(r, 'userIdentity'), 'sessionContext'), 'sessionIssuer'), 'arn') AS ui_sessionContext_sessionIssuer_arn,
  tupleElement(tupleElement(r, 'additionalEventData'), 'backingKeyId') AS xd_backingKeyId,
  tupleElement(tupleElement(r, 'additionalEventData'), 'customKeyStoreId') AS xd_customKeyStoreId,
  tupleElement(tupleElement(r, 'additionalEventData'), 'xksKeyId') AS xd_xksKeyId,
  -- Partition for ARNs built from bare key ids.
  multiIf(startsWith(tupleElement(r, 'awsRegion'), 'cn-'), 'aws-cn', startsWith(tupleElement(r, 'awsRegion'), 'us-gov-'), 'aws-us-gov', 'aws') AS partition,
  -- Some documented records list the key without "type" (developer guide: GenerateDataKey, Encrypt,
  -- CreateGrant examples), so an untyped resource counts when its ARN is a KMS key ARN.
  tupleElement(arrayFirst(x -> tupleElement(x, 'type') = 'AWS::KMS::Key' OR (tupleElement(x, 'type') = '' AND match(tupleElement(x, 'ARN'), '^arn:[^:]+:kms:[^:]*:[^:]*:key/')), tupleElement(r, 'resources')), 'ARN') AS resource_arn,
  -- Key material: used (additionalEventData), made current by a rotation (serviceEventDetails), or
  -- imported / deleted (responseElements and requestParameters of the import operations).
  coalesce(nullIf(tupleElement(tupleElement(r, 'additionalEventData'), 'keyMaterialId'), ''), nullIf(tupleElement(tupleElement(r, 'serviceEventDetails'), 'currentKeyMaterialId'), ''), nullIf(tupleElement(tupleElement(r, 'serviceEventDetails'), 'keyMaterialId'), ''),
    nullIf(tupleElement(tupleElement(r, 'responseElements'), 'keyMaterialId'), ''), nullIf(tupleElement(tupleElement(r, 'requestParameters'), 'keyMaterialId'), ''), '') AS key_version,
  tupleElement(r, 'eventName') AS vendor_operation,
  transform(tupleElement(r, 'eventName'), ${OPS_KEYS}, ${OPS_VALUES}, '') AS op_pair,
  tupleElement(tupleElement(r, 'userIdentity'), 'type') AS id_type,
  tupleElement(tupleElement(r, 'userIdentity'), 'invokedBy') = 'AWS Internal' OR (tupleElement(tupleElement(r, 'userIdentity'), 'type') = '' AND tupleElement(r, 'eventType') = 'AwsServiceEvent') AS is_internal,
  coalesce(nullIf(tupleElement(tupleElement(tupleElement(tupleElement(r, 'userIdentity'), 'sessionContext'), 'sessionIssuer'), 'accountId'), ''), nullIf(tupleElement(tupleElement(r, 'userIdentity'), 'accountId'), ''), '') AS caller_account,
  if(isIPv4String(tupleElement(r, 'sourceIPAddress')) OR isIPv6String(tupleElement(r, 'sourceIPAddress')), tupleElement(r, 'sourceIPAddress'), '') AS source_ip,
  tupleElement(r, 'userAgent') AS user_agent,
  if(tupleElement(r, 'errorCode') != '', 'failure', 'success') AS outcome,
  tupleElement(r, 'errorCode') AS error_code,
  tupleElement(r, 'requestID') AS request_id,
  tupleElement(r, 'awsRegion') AS region
FROM (${parsed(stage, RECORD_TUPLE)})`;

  // Layer 4: the key's ARN as far as the record states it, its account (from the ARN when known,
  // else the account that received the event), the key as the record refers to it, the canonical
  // key id (bare ids and aliases qualified with region and account), operation, identity, tenant
  // and cross-account use. The aliases here chain only over small expressions, so one layer does.
  const keyed = `
SELECT *,
  multiIf(resource_arn != '', resource_arn, startsWith(re_keyId, 'arn:'), re_keyId, re_keyMetadata_arn != '', re_keyMetadata_arn, '') AS known_arn,
  if(op_pair = '', 'other', splitByChar('|', op_pair)[1]) AS operation,
  if(op_pair = '', 'lifecycle', splitByChar('|', op_pair)[2]) AS operation_class,
  -- Assumed-role sessions are attributed to the role, so that a new session name is not a new
  -- principal; the session name goes to attributes.
  multiIf(
    is_internal, 'AWS Internal',
    id_type = 'AssumedRole' AND ui_sessionContext_sessionIssuer_arn != '', ui_sessionContext_sessionIssuer_arn,
    id_type = 'AWSService', ui_invokedBy,
    id_type = 'AWSAccount' AND ui_arn = '', concat('arn:', partition, ':iam::', ui_accountId, ':root'),
    ui_arn != '', ui_arn,
    ui_principalId != '', ui_principalId,
    '') AS principal,
  multiIf(
    is_internal, 'internal',
    id_type IN ('IAMUser', 'Root', 'FederatedUser', 'SAMLUser', 'WebIdentityUser', 'IdentityCenterUser', 'Unknown'), 'user',
    id_type IN ('AssumedRole', 'Role'), 'role',
    id_type = 'AWSService', 'service',
    'unknown') AS principal_type,
  coalesce(nullIf(splitByChar(':', known_arn)[5], ''), nullIf(r_recipientAccountId, ''), nullIf(ui_accountId, ''), '') AS account,
  multiIf(known_arn != '', known_arn, sd_keyId != '', sd_keyId, rp_keyId != '', rp_keyId, rp_sourceKeyId != '', rp_sourceKeyId, '') AS key_ref,
  multiIf(
    key_ref = '', '',
    startsWith(key_ref, 'arn:'), key_ref,
    concat('arn:', partition, ':kms:', region, ':', account, ':', if(startsWith(key_ref, 'alias/'), key_ref, concat('key/', key_ref)))) AS key_id,
  coalesce(nullIf({tenants:Map(String, String)}[account], ''), {default_tenant:String}) AS tenant,
  caller_account != '' AND account != '' AND caller_account != account AND principal_type NOT IN ('internal', 'service') AS cross_account
FROM (${parts})`;

  // Layer 5: the row.
  return `
SELECT
  seq,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, 'aws-kms' AS source,
  tenant, account, region, key_id, key_version, operation, operation_class, vendor_operation,
  principal, principal_type, source_ip, user_agent, outcome, error_code,
  CAST(NULL AS Nullable(Float64)) AS latency_ms, request_id,
  mapUpdate(
    mapFilter((k, v) -> v != '', map(
      'event_type', r_eventType,
      'event_version', r_eventVersion,
      'error_message', r_errorMessage,
      'source_host', if(source_ip = '', r_sourceIPAddress, ''),
      'invoked_by', if(is_internal, '', ui_invokedBy),
      'session_name', if(id_type = 'AssumedRole', splitByChar('/', ui_arn)[-1], ''),
      'principal_id', ui_principalId,
      'access_key_id', ui_accessKeyId,
      'mfa_authenticated', ui_sessionContext_attributes_mfaAuthenticated,
      'caller_account', caller_account,
      'cross_account', if(cross_account, 'true', ''),
      'recipient_account', r_recipientAccountId,
      'shared_event_id', r_sharedEventID,
      'vpc_endpoint_id', r_vpcEndpointId,
      'read_only', r_readOnly,
      -- The reference as given when it is not the canonical id, and an alias the caller named.
      'key_ref', multiIf(key_ref != key_id, key_ref, rp_keyId != key_id AND position(rp_keyId, 'alias/') > 0, rp_keyId, ''),
      'source_key_id', rp_sourceKeyId,
      'destination_key_id', rp_destinationKeyId,
      'encryption_algorithm', rp_encryptionAlgorithm,
      'signing_algorithm', rp_signingAlgorithm,
      'key_spec', coalesce(nullIf(rp_keySpec, ''), re_keyMetadata_keySpec),
      'custom_key_store_id', coalesce(nullIf(xd_customKeyStoreId, ''), nullIf(rp_customKeyStoreId, ''), re_keyMetadata_customKeyStoreId),
      'xks_key_id', xd_xksKeyId,
      'backing_key_id', xd_backingKeyId)),
    mapUpdate(
      -- Request fields of key management and policy calls; data-plane calls (95% of traffic) have
      -- none of them, and short-circuit evaluation skips building this map for those rows.
      if(operation_class = 'crypto', map(), mapFilter((k, v) -> v != '', map(
        'key_usage', rp_keyUsage,
        'key_origin', coalesce(nullIf(rp_origin, ''), nullIf(re_keyMetadata_origin, ''), sd_keyOrigin),
        'multi_region', coalesce(nullIf(rp_multiRegion, ''), re_keyMetadata_multiRegion),
        'replica_region', rp_replicaRegion,
        'grantee_principal', rp_granteePrincipal,
        'retiring_principal', rp_retiringPrincipal,
        'grant_operations', arrayStringConcat(rp_operations, ','),
        'grant_constraints', rp_constraints,
        'bypass_policy_lockout_safety_check', rp_bypassPolicyLockoutSafetyCheck,
        'import_type', rp_importType,
        'key_material_description', rp_keyMaterialDescription,
        'grant_id', coalesce(nullIf(re_grantId, ''), rp_grantId),
        'policy_name', rp_policyName,
        'policy', rp_policy,
        'valid_to', rp_validTo,
        'expiration_model', rp_expirationModel,
        'pending_window_days', rp_pendingWindowInDays,
        'deletion_date', re_deletionDate,
        'key_state', re_keyState,
        'rotation_period_days', rp_rotationPeriodInDays,
        'rotation_type', sd_rotationType,
        'previous_key_material_id', sd_previousKeyMaterialId))),
      mapApply((k, v) -> (concat('ec.', k), v), rp_encryptionContext))) AS attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM (${keyed})`;
}
