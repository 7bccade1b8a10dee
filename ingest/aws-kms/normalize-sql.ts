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

/**
 * The SELECT. Parameters: {ingest_time:DateTime64(3)}, {batch_id:String},
 * {tenants:Map(String, String)} (account -> tenant), {default_tenant:String}.
 */
export function awsKmsNormalizeSql(stage: string): string {
  return `
SELECT
  seq,
  _status, _reason, _message,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, 'aws-kms' AS source,
  tenant, account, region, key_id, key_version, operation, operation_class, vendor_operation,
  principal, principal_type, source_ip, user_agent, outcome, error_code,
  CAST(NULL AS Nullable(Float64)) AS latency_ms, request_id, attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM
(
  SELECT
    seq,
    -- CloudWatch Logs exports prefix each line with an ISO timestamp and a space.
    if(startsWith(record, '{') OR NOT match(record, '^\\\\d{4}-\\\\d{2}-\\\\d{2}T[^ {]* \\\\{'), record, substring(record, position(record, '{'))) AS line,
    -- EventBridge wraps the CloudTrail record in an envelope; the record is in "detail".
    if(position(line, '"detail-type"') > 0 AND JSONHas(line, 'detail-type') AND JSONHas(line, 'detail'), JSONExtractRaw(line, 'detail'), line) AS ev,
    JSONExtract(ev, '${RECORD_TUPLE}') AS r,
    -- Only records with neither field are checked further (short-circuit keeps this off the hot path).
    if(r.eventSource != '' OR r.eventName != '', true, isValidJSON(ev) AND JSONType(ev) = 'Object') AS is_object,
    r.requestParameters AS rp,
    r.responseElements AS re,
    r.additionalEventData AS xd,
    r.serviceEventDetails AS sd,
    r.userIdentity AS ui,
    -- CloudTrail writes eventTime as YYYY-MM-DDTHH:MM:SSZ. The range check stops best-effort parsing
    -- from rolling an impossible time such as 25:61 over into the next day.
    if(match(r.eventTime, '^\\\\d{4}-\\\\d{2}-\\\\d{2}[T ](?:[01]\\\\d|2[0-3]):[0-5]\\\\d:[0-5]\\\\d(?:\\\\.\\\\d{1,9})?(?:Z|[+-]\\\\d{2}:?\\\\d{2})?$'),
       parseDateTime64BestEffortOrNull(r.eventTime, 3, 'UTC'), NULL) AS parsed_time,

    -- Partition for ARNs built from bare key ids.
    multiIf(startsWith(r.awsRegion, 'cn-'), 'aws-cn', startsWith(r.awsRegion, 'us-gov-'), 'aws-us-gov', 'aws') AS partition,
    -- Some documented records list the key without "type" (developer guide: GenerateDataKey, Encrypt,
    -- CreateGrant examples), so an untyped resource counts when its ARN is a KMS key ARN.
    arrayFirst(x -> x.type = 'AWS::KMS::Key' OR (x.type = '' AND match(x.ARN, '^arn:[^:]+:kms:[^:]*:[^:]*:key/')), r.resources).ARN AS resource_arn,
    -- The key's own account: from its ARN when we have one, else the account that received the event.
    multiIf(resource_arn != '', resource_arn, startsWith(re.keyId, 'arn:'), re.keyId, re.keyMetadata.arn != '', re.keyMetadata.arn, '') AS known_arn,
    coalesce(nullIf(splitByChar(':', known_arn)[5], ''), nullIf(r.recipientAccountId, ''), nullIf(ui.accountId, ''), '') AS account,
    multiIf(
      known_arn != '', known_arn,
      sd.keyId != '', sd.keyId,
      rp.keyId != '', rp.keyId,
      rp.sourceKeyId != '', rp.sourceKeyId,
      '') AS key_ref,
    -- Canonical key id: the key ARN. Bare ids and aliases are qualified with region and account.
    multiIf(
      key_ref = '', '',
      startsWith(key_ref, 'arn:'), key_ref,
      concat('arn:', partition, ':kms:', r.awsRegion, ':', account, ':', if(startsWith(key_ref, 'alias/'), key_ref, concat('key/', key_ref)))) AS key_id,
    -- Key material: used (additionalEventData), made current by a rotation (serviceEventDetails), or
    -- imported / deleted (responseElements and requestParameters of the import operations).
    coalesce(nullIf(xd.keyMaterialId, ''), nullIf(sd.currentKeyMaterialId, ''), nullIf(sd.keyMaterialId, ''),
      nullIf(re.keyMaterialId, ''), nullIf(rp.keyMaterialId, ''), '') AS key_version,

    r.eventName AS vendor_operation,
    transform(r.eventName, ${OPS_KEYS}, ${OPS_VALUES}, '') AS op_pair,
    if(op_pair = '', 'other', splitByChar('|', op_pair)[1]) AS operation,
    if(op_pair = '', 'lifecycle', splitByChar('|', op_pair)[2]) AS operation_class,

    -- Identity. Assumed-role sessions are attributed to the role, so that a new session name is
    -- not a new principal; the session name goes to attributes.
    ui.type AS id_type,
    ui.invokedBy = 'AWS Internal' OR (id_type = '' AND r.eventType = 'AwsServiceEvent') AS is_internal,
    multiIf(
      is_internal, 'AWS Internal',
      id_type = 'AssumedRole' AND ui.sessionContext.sessionIssuer.arn != '', ui.sessionContext.sessionIssuer.arn,
      id_type = 'AWSService', ui.invokedBy,
      id_type = 'AWSAccount' AND ui.arn = '', concat('arn:', partition, ':iam::', ui.accountId, ':root'),
      ui.arn != '', ui.arn,
      ui.principalId != '', ui.principalId,
      '') AS principal,
    multiIf(
      is_internal, 'internal',
      id_type IN ('IAMUser', 'Root', 'FederatedUser', 'SAMLUser', 'WebIdentityUser', 'IdentityCenterUser', 'Unknown'), 'user',
      id_type IN ('AssumedRole', 'Role'), 'role',
      id_type = 'AWSService', 'service',
      'unknown') AS principal_type,
    coalesce(nullIf(ui.sessionContext.sessionIssuer.accountId, ''), nullIf(ui.accountId, ''), '') AS caller_account,
    caller_account != '' AND account != '' AND caller_account != account AND principal_type NOT IN ('internal', 'service') AS cross_account,

    if(isIPv4String(r.sourceIPAddress) OR isIPv6String(r.sourceIPAddress), r.sourceIPAddress, '') AS source_ip,
    r.userAgent AS user_agent,
    if(r.errorCode != '', 'failure', 'success') AS outcome,
    r.errorCode AS error_code,
    r.requestID AS request_id,
    r.awsRegion AS region,
    if(r.eventID != '', r.eventID, concat('sha256:', lower(hex(SHA256(ev))))) AS event_id,
    ifNull(parsed_time, toDateTime64(0, 3, 'UTC')) AS event_time,
    {tenants:Map(String, String)}[account] AS mapped_tenant,
    if(mapped_tenant = '', {default_tenant:String}, mapped_tenant) AS tenant,

    mapUpdate(
      mapFilter((k, v) -> v != '', map(
        'event_type', r.eventType,
        'event_version', r.eventVersion,
        'error_message', r.errorMessage,
        'source_host', if(source_ip = '', r.sourceIPAddress, ''),
        'invoked_by', if(is_internal, '', ui.invokedBy),
        'session_name', if(id_type = 'AssumedRole', splitByChar('/', ui.arn)[-1], ''),
        'principal_id', ui.principalId,
        'access_key_id', ui.accessKeyId,
        'mfa_authenticated', ui.sessionContext.attributes.mfaAuthenticated,
        'caller_account', caller_account,
        'cross_account', if(cross_account, 'true', ''),
        'recipient_account', r.recipientAccountId,
        'shared_event_id', r.sharedEventID,
        'vpc_endpoint_id', r.vpcEndpointId,
        'read_only', r.readOnly,
        -- The reference as given when it is not the canonical id, and an alias the caller named.
        'key_ref', multiIf(key_ref != key_id, key_ref, rp.keyId != key_id AND position(rp.keyId, 'alias/') > 0, rp.keyId, ''),
        'source_key_id', rp.sourceKeyId,
        'destination_key_id', rp.destinationKeyId,
        'encryption_algorithm', rp.encryptionAlgorithm,
        'signing_algorithm', rp.signingAlgorithm,
        'key_spec', coalesce(nullIf(rp.keySpec, ''), re.keyMetadata.keySpec),
        'key_usage', rp.keyUsage,
        'key_origin', coalesce(nullIf(rp.origin, ''), nullIf(re.keyMetadata.origin, ''), sd.keyOrigin),
        'multi_region', coalesce(nullIf(rp.multiRegion, ''), re.keyMetadata.multiRegion),
        'replica_region', rp.replicaRegion,
        'custom_key_store_id', coalesce(nullIf(xd.customKeyStoreId, ''), nullIf(rp.customKeyStoreId, ''), re.keyMetadata.customKeyStoreId),
        'xks_key_id', xd.xksKeyId,
        'backing_key_id', xd.backingKeyId,
        'grantee_principal', rp.granteePrincipal,
        'retiring_principal', rp.retiringPrincipal,
        'grant_operations', arrayStringConcat(rp.operations, ','),
        'grant_constraints', rp.constraints,
        'bypass_policy_lockout_safety_check', rp.bypassPolicyLockoutSafetyCheck,
        'import_type', rp.importType,
        'key_material_description', rp.keyMaterialDescription,
        'grant_id', coalesce(nullIf(re.grantId, ''), rp.grantId),
        'policy_name', rp.policyName,
        'policy', rp.policy,
        'valid_to', rp.validTo,
        'expiration_model', rp.expirationModel,
        'pending_window_days', rp.pendingWindowInDays,
        'deletion_date', re.deletionDate,
        'key_state', re.keyState,
        'rotation_period_days', rp.rotationPeriodInDays,
        'rotation_type', sd.rotationType,
        'previous_key_material_id', sd.previousKeyMaterialId)),
      mapApply((k, v) -> (concat('ec.', k), v), rp.encryptionContext)) AS attributes,

    multiIf(
      NOT is_object, 'quarantined',
      r.digestStartTime != '', 'dropped',
      r.eventSource = '' OR r.eventName = '', 'quarantined',
      r.eventSource != 'kms.amazonaws.com', 'dropped',
      parsed_time IS NULL, 'quarantined',
      'ok') AS _status,
    multiIf(
      NOT is_object, if(isValidJSON(ev), 'not_an_object', 'invalid_json'),
      r.digestStartTime != '', 'cloudtrail_digest',
      r.eventSource = '' OR r.eventName = '', 'missing_field',
      r.eventSource != 'kms.amazonaws.com', 'non_kms_event',
      parsed_time IS NULL, 'bad_event_time',
      '') AS _reason,
    multiIf(
      _reason = 'invalid_json', 'the record is not valid JSON',
      _reason = 'not_an_object', concat('expected a JSON object, got ', JSONType(ev)),
      _reason = 'missing_field', concat('a CloudTrail record needs eventSource and eventName; missing: ',
        arrayStringConcat(arrayFilter(x -> x != '', [if(r.eventSource = '', 'eventSource', ''), if(r.eventName = '', 'eventName', '')]), ', ')),
      _reason = 'bad_event_time', concat('eventTime is not a timestamp: "', substring(r.eventTime, 1, 64), '"'),
      _reason = 'non_kms_event', r.eventSource,
      '') AS _message
  FROM ${stage}
)`;
}
