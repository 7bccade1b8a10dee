/**
 * Azure Key Vault and Managed HSM `AuditEvent` diagnostic logs -> KeyEvent, as ClickHouse SELECTs
 * over staged raw records (the same layering as ingest/aws-kms/normalize-sql.ts; see the comments
 * there on tupleElement() and subquery layers). One record layout is read in four shapes:
 *  - storage-account blobs and Event Hub messages: camelCase fields (`time`, `operationName`,
 *    `properties.requestUri` ...), Microsoft Learn "Azure Key Vault logging";
 *  - Managed HSM records: the same, but `identity` is a JSON *string* with nested claim objects and
 *    `clientInfo`, `requestUri`, `httpStatusCode` sit at the top level ("Managed HSM logging");
 *  - Log Analytics rows of the resource-specific table AZKVAuditLogs (PascalCase columns, `Identity`
 *    dynamic, `_ResourceId`);
 *  - Log Analytics rows of the legacy AzureDiagnostics table (flattened `identity_claim_*_g`,
 *    `requestUri_s`, `httpStatusCode_d` ...).
 * JSON keys are case-sensitive in ClickHouse, so the tuple lists each spelling; every record fills
 * only the ones of its shape. Field list and gaps: ./README.md.
 */

/** operationName -> [operation, operation_class]. See `operationPair` for names not listed. */
export const AZURE_KEY_VAULT_OPERATIONS: Record<string, readonly [string, string]> = {
  KeyDecrypt: ['decrypt', 'crypto'],
  KeyEncrypt: ['encrypt', 'crypto'],
  KeyUnwrap: ['unwrap', 'crypto'],
  KeyWrap: ['wrap', 'crypto'],
  KeySign: ['sign', 'crypto'],
  KeyVerify: ['verify', 'crypto'],
  KeyCreate: ['create_key', 'lifecycle'],
  KeyImport: ['import_key_material', 'lifecycle'],
  KeyRotate: ['rotate_key', 'lifecycle'],
  // "Scheduled automated key rotation operation based on defined rotation policy" (logging docs).
  KeyRotateIfDue: ['rotate_key', 'lifecycle'],
  KeyRotationPolicySet: ['update_rotation_policy', 'lifecycle'],
  KeyRotationPolicyGet: ['describe', 'read'],
  // With soft delete (always on for new vaults) KeyDelete only marks the key deleted; KeyPurge
  // destroys it and KeyRecover undoes the delete.
  KeyDelete: ['schedule_deletion', 'lifecycle'],
  KeyRecover: ['cancel_deletion', 'lifecycle'],
  KeyPurge: ['destroy_version', 'lifecycle'],
  KeyBackup: ['backup_key', 'lifecycle'],
  KeyRestore: ['restore_key', 'lifecycle'],
  KeyUpdate: ['update_key', 'lifecycle'],
  // Secure key release hands the key, wrapped for an attested environment, to the caller.
  KeyRelease: ['export_key', 'lifecycle'],
  KeyGet: ['describe', 'read'],
  KeyGetDeleted: ['describe', 'read'],
  KeyList: ['list', 'read'],
  KeyListVersions: ['list', 'read'],
  KeyListDeleted: ['list', 'read'],
  KeyNearExpiryEventGridNotification: ['other', 'lifecycle'],
  KeyExpiredEventGridNotification: ['other', 'lifecycle'],
  Authentication: ['login', 'auth'],
  // Access policies are part of the vault resource: VaultPut and VaultPatch are how they change.
  VaultPut: ['update_policy', 'policy'],
  VaultPatch: ['update_policy', 'policy'],
  VaultAccessPolicyChangedEventGridNotification: ['other', 'policy'],
  VaultGet: ['describe', 'read'],
  VaultGetDeleted: ['describe', 'read'],
  VaultList: ['list', 'read'],
  VaultListDeleted: ['list', 'read'],
  // Deleting, purging or recovering a vault does the same to every key in it.
  VaultDelete: ['schedule_deletion', 'lifecycle'],
  VaultPurge: ['destroy_version', 'lifecycle'],
  VaultRecover: ['cancel_deletion', 'lifecycle'],
  // Managed HSM full backup (the example record of "Managed HSM logging").
  BackupCreate: ['backup_key', 'lifecycle'],
};

/** Operations the service runs itself; with no caller identity their principal is the service. */
const SERVICE_OPERATIONS = [
  'KeyRotateIfDue',
  'KeyNearExpiryEventGridNotification',
  'KeyExpiredEventGridNotification',
  'VaultAccessPolicyChangedEventGridNotification',
];
export const SERVICE_PRINCIPAL = 'Azure Key Vault';

/** Path segments after /keys/<name>/ that are actions, not versions (Key Vault REST API). */
const KEY_ACTIONS = ['create', 'import', 'versions', 'rotate', 'rotationpolicy', 'backup', 'release', 'encrypt', 'decrypt', 'wrapkey', 'unwrapkey', 'sign', 'verify', 'recover', 'restore'];

/** HTTP status -> the resultSignature text Key Vault writes for it, for records that lack one. */
const STATUS_TEXT: readonly (readonly [number, string])[] = [
  [200, 'OK'], [201, 'Created'], [202, 'Accepted'], [204, 'NoContent'],
  [400, 'BadRequest'], [401, 'Unauthorized'], [403, 'Forbidden'], [404, 'NotFound'], [405, 'MethodNotAllowed'],
  [409, 'Conflict'], [429, 'TooManyRequests'], [500, 'InternalServerError'], [502, 'BadGateway'], [503, 'ServiceUnavailable'],
];

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function arrayLiteral(items: readonly string[]): string {
  return `[${items.map(sqlString).join(', ')}]`;
}

const OPS_KEYS = arrayLiteral(Object.keys(AZURE_KEY_VAULT_OPERATIONS));
const OPS_VALUES = arrayLiteral(Object.values(AZURE_KEY_VAULT_OPERATIONS).map(([op, cls]) => `${op}|${cls}`));
const STATUS_CODES = `[${STATUS_TEXT.map(([c]) => c).join(', ')}]`;
const STATUS_NAMES = arrayLiteral(STATUS_TEXT.map(([, t]) => t));

// The caller's token claims. Key Vault writes them under identity.claim with either long URI names
// or short names (oid, upn, appid, tid, idtyp); Managed HSM nests the URI names as objects.
const CLAIMS_TUPLE = `Tuple(claim Tuple(
  \`http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn\` String,
  \`http://schemas.microsoft.com/identity/claims/objectidentifier\` String,
  \`http://schemas.microsoft.com/identity/claims/tenantid\` String,
  upn String, oid String, appid String, tid String, idtyp String,
  http_schemas_microsoft_com_identity Tuple(claims Tuple(objectidentifier String, tenantid String)),
  http_schemas_xmlsoap_org_ws_2005_05_identity Tuple(claims Tuple(upn String))))`;
// An object in vault records, a JSON string in Managed HSM records (and in some Log Analytics
// exports of the dynamic Identity column): the Variant takes either without a second parse of the
// record.
const IDENTITY = `Variant(String, ${CLAIMS_TUPLE})`;
const KEY_PROPS = `Tuple(type String, size String, curve String)`;

/** The fields the event id, the time and the fate of a record depend on, in every shape. */
const IDENTITY_FIELDS = `time String, TimeGenerated String, operationName String, OperationName String,
  category String, Category String, resourceId String, ResourceId String, _ResourceId String,
  callerIpAddress String, CallerIpAddress String, CallerIPAddress String, correlationId String, CorrelationId String,
  requestUri String, RequestUri String, requestUri_s String, httpStatusCode String, HttpStatusCode String, httpStatusCode_d String,
  durationMs String, DurationMs String, id String, Id String, id_s String`;

const LIGHT_TUPLE = `Tuple(${IDENTITY_FIELDS}, properties Tuple(requestUri String, httpStatusCode String, id String))`;

const RECORD_TUPLE = `Tuple(${IDENTITY_FIELDS},
  operationVersion String, OperationVersion String, resultType String, ResultType String,
  resultSignature String, ResultSignature String, resultDescription String, ResultDescription String,
  identity ${IDENTITY}, Identity ${IDENTITY}, location String, TenantId String, Type String,
  clientInfo String, ClientInfo String, clientInfo_s String,
  SubscriptionId String, _SubscriptionId String, Resource String, ResourceGroup String,
  subnetId String, SubnetId String, subnetId_s String,
  IsRbacAuthorized String, isRbacAuthorized_b String, IsAccessPolicyMatch String, isAccessPolicyMatch_b String,
  AppliedAssignmentId String, appliedAssignmentId_s String, TrustedService String, trustedService_s String,
  Tlsversion String, tlsVersion_s String, AddressAuthorizationType String, addressAuthorizationType_s String,
  KeyProperties ${KEY_PROPS}, keyProperties_type_s String, keyProperties_size_d String, keyProperties_curve_s String,
  EnableSoftDelete String, EnablePurgeProtection String, EnableRbacAuthorization String,
  properties_enableSoftDelete_b String, properties_enablePurgeProtection_b String, properties_enableRbacAuthorization_b String,
  addedAccessPolicy_ObjectId_g String, addedAccessPolicy_Permissions_keys_s String,
  removedAccessPolicy_ObjectId_g String, removedAccessPolicy_Permissions_keys_s String,
  identity_claim_upn_s String, identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s String,
  identity_claim_oid_g String, identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g String,
  identity_claim_appid_g String, identity_claim_tid_g String,
  identity_claim_http_schemas_microsoft_com_identity_claims_tenantid_g String, identity_claim_idtyp_s String,
  properties Tuple(requestUri String, httpStatusCode String, id String, clientInfo String, requestId String,
    isAccessPolicyMatch String, isRbacAuthorized String, appliedAssignmentId String, trustedService String,
    subnetId String, tlsVersion String, addressAuthorizationType String, keyProperties ${KEY_PROPS},
    addedAccessPolicy String, removedAccessPolicy String,
    properties Tuple(enableSoftDelete String, enablePurgeProtection String, enableRbacAuthorization String)))`;

/**
 * The analyzer's AND-chain pass (optimize_and_compare_chain) cost about 0.5 s of CPU per batch on
 * these queries (measured with EXPLAIN QUERY TREE), more than normalizing 10,000 records; the
 * chains here compare against constants only within a row, so the pass has nothing to gain.
 */
const ANALYSIS_SETTINGS = 'SETTINGS optimize_and_compare_chain = 0';

/** The first non-empty of some String expressions. */
function firstOf(...exprs: string[]): string {
  return `coalesce(${exprs.map((e) => `nullIf(${e}, '')`).join(', ')}, '')`;
}
const el = (name: string) => `tupleElement(r, '${name}')`;
const prop = (name: string) => `tupleElement(tupleElement(r, 'properties'), '${name}')`;

/**
 * Layers 0-2: parse each record once into `tuple`, take the identity fields of every shape as plain
 * columns, and derive event_id and event_time. `extra` adds more columns read from `r`.
 *
 * event_id: the log has no id per record, so the id is a hash of what identifies the request: time
 * (to 100 ns, as Azure writes it), resource, operation, caller IP, correlation id, request URI,
 * object id, HTTP status and duration. Unlike a hash of the bytes, it is the same for one request
 * whether it came from a storage blob, an Event Hub or a Log Analytics export.
 */
function identified(stage: string, tuple: string, extra: string): string {
  return `
SELECT *,
  concat('akv:', lower(hex(SHA256(concat(ifNull(toString(time7), f_time), '\\n', f_resource_id, '\\n', f_op, '\\n', f_ip, '\\n',
    f_correlation_id, '\\n', f_request_uri, '\\n', f_object_id, '\\n', toString(status_num), '\\n', f_duration))))) AS event_id,
  ifNull(toDateTime64(time7, 3, 'UTC'), toDateTime64(0, 3, 'UTC')) AS event_time
FROM
(
  SELECT *,
    -- JSONExtract maps a JSON array onto the tuple by position, so an array can fill f_op too.
    if(f_op != '' AND startsWith(ev, '{'), true, isValidJSON(ev) AND JSONType(ev) = 'Object') AS is_object,
    -- ISO 8601 only (storage: 2026-03-02T08:16:40.1180000Z); the range check keeps best-effort
    -- parsing from rolling an impossible clock time into the next day.
    if(match(f_time, '^\\\\d{4}-\\\\d{2}-\\\\d{2}[T ](?:[01]\\\\d|2[0-3]):[0-5]\\\\d:[0-5]\\\\d(?:\\\\.\\\\d{1,9})?(?:Z|[+-]\\\\d{2}:?\\\\d{2})?$'),
       parseDateTime64BestEffortOrNull(f_time, 7, 'UTC'), NULL) AS time7,
    -- httpStatusCode_d is a real in AzureDiagnostics ("200" or "200.0").
    toUInt16OrZero(splitByChar('.', f_status)[1]) AS status_num
  FROM
  (
    SELECT seq, ev,
      ${firstOf(el('time'), el('TimeGenerated'))} AS f_time,
      ${firstOf(el('operationName'), el('OperationName'))} AS f_op,
      ${firstOf(el('category'), el('Category'))} AS f_category,
      lower(${firstOf(el('resourceId'), el('ResourceId'), el('_ResourceId'))}) AS f_resource_id,
      ${firstOf(el('callerIpAddress'), el('CallerIpAddress'), el('CallerIPAddress'))} AS f_ip,
      ${firstOf(el('correlationId'), el('CorrelationId'))} AS f_correlation_id,
      ${firstOf(prop('requestUri'), el('requestUri'), el('RequestUri'), el('requestUri_s'))} AS f_request_uri,
      ${firstOf(prop('id'), el('id'), el('Id'), el('id_s'))} AS f_object_id,
      ${firstOf(prop('httpStatusCode'), el('httpStatusCode'), el('HttpStatusCode'), el('httpStatusCode_d'))} AS f_status,
      ${firstOf(el('durationMs'), el('DurationMs'))} AS f_duration${extra}
    FROM (SELECT seq, record AS ev, JSONExtract(record, '${tuple}') AS r FROM ${stage})
  )
)`;
}

/** Layer 3 over `identified`: the record's fate. */
function classified(stage: string): string {
  return `
SELECT *,
  multiIf(
    _reason = 'invalid_json', 'the record is not valid JSON',
    _reason = 'not_an_object', concat('expected a JSON object, got ', JSONType(ev)),
    _reason = 'records_wrapper', 'a whole {"records":[...]} document arrived as one record; ingest it as a file (or split it) so that each element is a record',
    _reason = 'missing_field', 'an AuditEvent record needs operationName (OperationName in Log Analytics rows); it has none',
    _reason = 'non_audit_event', concat('category ', f_category, ' is not AuditEvent'),
    _reason = 'non_key_operation', f_op,
    _reason = 'bad_event_time', if(f_time = '', 'the record has no time (time or TimeGenerated)', concat('time is not an ISO 8601 timestamp: "', substring(f_time, 1, 64), '"')),
    '') AS _message
FROM
(
  SELECT *,
    multiIf(_reason = '', 'ok', _reason IN ('non_audit_event', 'non_key_operation'), 'dropped', 'quarantined') AS _status
  FROM
  (
    SELECT *,
      multiIf(
        NOT is_object, if(isValidJSON(ev), 'not_an_object', 'invalid_json'),
        f_op = '' AND JSONHas(ev, 'records'), 'records_wrapper',
        f_op = '', 'missing_field',
        f_category != '' AND f_category != 'AuditEvent', 'non_audit_event',
        startsWith(f_op, 'Secret') OR startsWith(f_op, 'Certificate'), 'non_key_operation',
        time7 IS NULL, 'bad_event_time',
        '') AS _reason
    FROM (${identified(stage, LIGHT_TUPLE, '')})
  )
)`;
}

/**
 * What becomes of each record, without normalizing it: seq, event_id, event_time, _status,
 * _reason, _message, with the same values as the full normalization.
 */
export function azureKeyVaultClassifySql(stage: string): string {
  return `SELECT seq, event_id, event_time, _status, _reason, _message FROM (${classified(stage)}) ${ANALYSIS_SETTINGS}`;
}

/** The claims of `identity` (or `Identity`), whichever shape it came in. */
const CLAIMS = `tupleElement(
    if(variantType(id_v) = 'String', JSONExtract(ifNull(variantElement(id_v, 'String'), ''), '${CLAIMS_TUPLE}'), variantElement(id_v, '${CLAIMS_TUPLE}')),
    'claim')`;

/**
 * The full normalization of records that classification passed ('ok'); what it returns for other
 * records is meaningless. Parameters: {ingest_time:DateTime64(3)}, {batch_id:String},
 * {tenants:Map(String, String)} (subscription id -> tenant), {default_tenant:String}.
 */
export function azureKeyVaultNormalizeSql(stage: string): string {
  // Every further field as a plain column; the parsed tuple does not travel up the layers.
  const extra = `,
      ${firstOf(el('operationVersion'), el('OperationVersion'))} AS f_operation_version,
      ${firstOf(el('resultType'), el('ResultType'))} AS f_result_type,
      ${firstOf(el('resultSignature'), el('ResultSignature'))} AS f_result_signature,
      ${firstOf(el('resultDescription'), el('ResultDescription'))} AS f_result_description,
      if(variantType(${el('identity')}) != 'None', ${el('identity')}, ${el('Identity')}) AS id_v,
      lower(${el('location')}) AS f_location,
      ${el('TenantId')} AS f_tenant_column,
      ${el('TimeGenerated')} != '' AS is_log_analytics,
      ${firstOf(prop('clientInfo'), el('clientInfo'), el('ClientInfo'), el('clientInfo_s'))} AS f_client_info,
      ${prop('requestId')} AS f_request_id,
      lower(${firstOf(el('SubscriptionId'), el('_SubscriptionId'))}) AS f_subscription,
      lower(${el('Resource')}) AS f_resource,
      lower(${el('ResourceGroup')}) AS f_resource_group,
      ${firstOf(prop('subnetId'), el('subnetId'), el('SubnetId'), el('subnetId_s'))} AS f_subnet_id,
      ${firstOf(prop('isRbacAuthorized'), el('IsRbacAuthorized'), el('isRbacAuthorized_b'))} AS f_is_rbac_authorized,
      ${firstOf(prop('isAccessPolicyMatch'), el('IsAccessPolicyMatch'), el('isAccessPolicyMatch_b'))} AS f_is_access_policy_match,
      ${firstOf(prop('appliedAssignmentId'), el('AppliedAssignmentId'), el('appliedAssignmentId_s'))} AS f_applied_assignment_id,
      ${firstOf(prop('trustedService'), el('TrustedService'), el('trustedService_s'))} AS f_trusted_service,
      ${firstOf(prop('tlsVersion'), el('Tlsversion'), el('tlsVersion_s'))} AS f_tls_version,
      ${firstOf(prop('addressAuthorizationType'), el('AddressAuthorizationType'), el('addressAuthorizationType_s'))} AS f_address_authorization_type,
      ${firstOf(`tupleElement(${prop('keyProperties')}, 'type')`, `tupleElement(${el('KeyProperties')}, 'type')`, el('keyProperties_type_s'))} AS f_key_type,
      ${firstOf(`tupleElement(${prop('keyProperties')}, 'size')`, `tupleElement(${el('KeyProperties')}, 'size')`, el('keyProperties_size_d'))} AS f_key_size,
      ${firstOf(`tupleElement(${prop('keyProperties')}, 'curve')`, `tupleElement(${el('KeyProperties')}, 'curve')`, el('keyProperties_curve_s'))} AS f_key_curve,
      ${firstOf(`tupleElement(${prop('properties')}, 'enableSoftDelete')`, el('EnableSoftDelete'), el('properties_enableSoftDelete_b'))} AS f_soft_delete,
      ${firstOf(`tupleElement(${prop('properties')}, 'enablePurgeProtection')`, el('EnablePurgeProtection'), el('properties_enablePurgeProtection_b'))} AS f_purge_protection,
      ${firstOf(`tupleElement(${prop('properties')}, 'enableRbacAuthorization')`, el('EnableRbacAuthorization'), el('properties_enableRbacAuthorization_b'))} AS f_rbac_authorization,
      ${prop('addedAccessPolicy')} AS f_added_access_policy,
      ${prop('removedAccessPolicy')} AS f_removed_access_policy,
      ${el('addedAccessPolicy_ObjectId_g')} AS f_added_policy_object_id,
      ${el('addedAccessPolicy_Permissions_keys_s')} AS f_added_policy_key_permissions,
      ${el('removedAccessPolicy_ObjectId_g')} AS f_removed_policy_object_id,
      ${el('removedAccessPolicy_Permissions_keys_s')} AS f_removed_policy_key_permissions,
      ${firstOf(el('identity_claim_upn_s'), el('identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s'))} AS d_upn,
      ${firstOf(el('identity_claim_oid_g'), el('identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g'))} AS d_oid,
      ${el('identity_claim_appid_g')} AS d_appid,
      ${firstOf(el('identity_claim_tid_g'), el('identity_claim_http_schemas_microsoft_com_identity_claims_tenantid_g'))} AS d_tid,
      ${el('identity_claim_idtyp_s')} AS d_idtyp`;

  // Layer 3: claims, the key reference split into its parts, the resource id split into its parts.
  const parts = `
SELECT * EXCEPT (id_v, c),
  ${firstOf("tupleElement(c, 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn')", "tupleElement(c, 'upn')",
    "tupleElement(tupleElement(tupleElement(c, 'http_schemas_xmlsoap_org_ws_2005_05_identity'), 'claims'), 'upn')", 'd_upn')} AS upn,
  ${firstOf("tupleElement(c, 'http://schemas.microsoft.com/identity/claims/objectidentifier')", "tupleElement(c, 'oid')",
    "tupleElement(tupleElement(tupleElement(c, 'http_schemas_microsoft_com_identity'), 'claims'), 'objectidentifier')", 'd_oid')} AS oid,
  ${firstOf("tupleElement(c, 'appid')", 'd_appid')} AS appid,
  ${firstOf("tupleElement(c, 'http://schemas.microsoft.com/identity/claims/tenantid')", "tupleElement(c, 'tid')",
    "tupleElement(tupleElement(tupleElement(c, 'http_schemas_microsoft_com_identity'), 'claims'), 'tenantid')", 'd_tid')} AS tid,
  ${firstOf("tupleElement(c, 'idtyp')", 'd_idtyp')} AS idtyp,
  -- The key as the returned object's id names it (https://<vault>.vault.azure.net/keys/<name>/<version>),
  -- else as the request URI does (.../keys/<name>[/<version>]/<action>, .../deletedkeys/<name>[/recover]).
  if(position(f_object_id, '/keys/') > 0 OR position(f_object_id, '/deletedkeys/') > 0, f_object_id, f_request_uri) AS key_ref,
  lower(domain(key_ref)) AS key_host,
  splitByChar('/', path(key_ref)) AS key_path,
  key_path[2] AS key_collection,
  key_path[3] AS key_name,
  key_path[4] AS key_segment,
  length(key_path) AS key_depth,
  splitByChar('/', f_resource_id) AS rid_path
FROM (SELECT *, ${CLAIMS} AS c FROM (${identified(stage, RECORD_TUPLE, extra)}))`;

  // Layers 4-6: key, account, operation, identity, outcome. Each alias that others use comes from
  // the layer below: inlined within one SELECT, these chains (op_pair -> operation ->
  // operation_class, http_status -> outcome -> error_code) took seconds to plan per batch.
  const facts = `
SELECT *,
  -- /keys/restore (KeyRestore) names no key; the restored key is in the object id when logged.
  key_collection IN ('keys', 'deletedkeys') AND key_name != '' AND NOT (key_collection = 'keys' AND key_name = 'restore' AND key_depth = 3) AS has_key,
  if(rid_path[2] = 'subscriptions', rid_path[3], f_subscription) AS account,
  if(rid_path[4] = 'resourcegroups', rid_path[5], f_resource_group) AS resource_group,
  transform(f_op, ${OPS_KEYS}, ${OPS_VALUES}, '') AS op_pair,
  startsWith(f_op, 'RoleAssignment') OR startsWith(f_op, 'RoleDefinition') AS is_role_op,
  multiIf(upn != '', upn, appid != '', appid, oid != '', oid, f_op IN ${arrayLiteral(SERVICE_OPERATIONS)}, ${sqlString(SERVICE_PRINCIPAL)}, '') AS principal,
  -- The HTTP status decides: Key Vault writes resultType "Success" for some 4xx responses too.
  if(status_num != 0, status_num,
    transform(f_result_signature, ${STATUS_NAMES}, ${STATUS_CODES}, toUInt16OrZero(f_result_signature))) AS http_status
FROM (${parts})`;

  const keyed = `
SELECT *,
  if(has_key, concat('https://', key_host, '/keys/', key_name), '') AS key_id,
  if(has_key AND key_collection = 'keys' AND lower(key_segment) NOT IN ${arrayLiteral(KEY_ACTIONS)}, key_segment, '') AS key_version,
  multiIf(rid_path[7] = 'microsoft.keyvault' AND rid_path[9] != '', rid_path[9], f_resource != '', f_resource,
    has_key, splitByChar('.', key_host)[1], '') AS vault,
  multiIf(rid_path[8] = 'managedhsms' OR endsWith(key_host, '.managedhsm.azure.net'), 'managed_hsm',
    rid_path[8] = 'vaults' OR has_key, 'vault', '') AS vault_type,
  -- Managed HSM local RBAC: role assignments and role definitions are its access policy.
  multiIf(
    op_pair != '', splitByChar('|', op_pair)[1],
    is_role_op AND endsWith(f_op, 'Get'), 'describe',
    is_role_op AND endsWith(f_op, 'List'), 'list',
    is_role_op, 'update_policy',
    'other') AS operation,
  multiIf(
    op_pair != '', splitByChar('|', op_pair)[2],
    is_role_op AND (endsWith(f_op, 'Get') OR endsWith(f_op, 'List')), 'read',
    is_role_op, 'policy',
    startsWith(f_op, 'Key'), 'lifecycle',
    'admin') AS operation_class,
  multiIf(
    upn != '', 'user',
    appid != '', 'application',
    oid != '' AND idtyp = 'user', 'user',
    oid != '' AND idtyp = 'app', 'application',
    oid != '', 'unknown',
    principal != '', 'internal',
    'unknown') AS principal_type,
  multiIf(http_status != 0, if(http_status >= 200 AND http_status < 300, 'success', 'failure'),
    f_result_type = '' OR f_result_type = 'Success', 'success', 'failure') AS outcome,
  coalesce(nullIf({tenants:Map(String, String)}[account], ''), {default_tenant:String}) AS tenant
FROM (${facts})`;

  const judged = `
SELECT *,
  multiIf(
    outcome = 'success', '',
    f_result_signature != '' AND toUInt16OrZero(f_result_signature) = 0 AND f_result_signature NOT IN ('OK', 'Created', 'Accepted', 'NoContent'), f_result_signature,
    http_status != 0, transform(toUInt32(http_status), ${STATUS_CODES}, ${STATUS_NAMES}, toString(http_status)),
    f_result_type) AS error_code
FROM (${keyed})`;

  // Layer 5: the row.
  return `
SELECT
  seq,
  event_id, event_time, {ingest_time:DateTime64(3)} AS ingest_time, 'azure-key-vault' AS source,
  tenant, account, f_location AS region, key_id, key_version, operation, operation_class, f_op AS vendor_operation,
  principal, principal_type,
  if(isIPv4String(f_ip) OR isIPv6String(f_ip), f_ip, '') AS source_ip,
  f_client_info AS user_agent, outcome, error_code,
  -- A duration that is no finite, non-negative number is not a latency (KeyEvent.latency_ms >= 0).
  if(isFinite(ifNull(toFloat64OrNull(f_duration), -1)) AND ifNull(toFloat64OrNull(f_duration), -1) >= 0, toFloat64OrNull(f_duration), NULL) AS latency_ms,
  ${firstOf('f_correlation_id', 'f_request_id')} AS request_id,
  mapFilter((k, v) -> v != '', map(
    'vault', vault,
    'vault_type', vault_type,
    'resource_group', resource_group,
    'resource_id', f_resource_id,
    'request_uri', f_request_uri,
    'object_id', if(has_key AND key_ref = f_object_id, '', f_object_id),
    'operation_version', f_operation_version,
    'http_status', if(http_status = 0, '', toString(http_status)),
    'result_type', f_result_type,
    'result_signature', f_result_signature,
    'result_description', f_result_description,
    'caller_ip', if(isIPv4String(f_ip) OR isIPv6String(f_ip), '', f_ip),
    'oid', oid,
    'appid', appid,
    'tenant_id', if(tid != '' OR is_log_analytics, tid, f_tenant_column),
    'workspace_id', if(is_log_analytics, f_tenant_column, ''),
    'identity_type', idtyp,
    'scheduled', if(f_op = 'KeyRotateIfDue', 'true', ''),
    'key_type', f_key_type,
    'key_size', f_key_size,
    'key_curve', f_key_curve,
    'is_rbac_authorized', f_is_rbac_authorized,
    'is_access_policy_match', f_is_access_policy_match,
    'applied_assignment_id', f_applied_assignment_id,
    'trusted_service', f_trusted_service,
    'subnet_id', f_subnet_id,
    'tls_version', f_tls_version,
    'address_authorization_type', f_address_authorization_type,
    'soft_delete', f_soft_delete,
    'purge_protection', f_purge_protection,
    'rbac_authorization', f_rbac_authorization,
    'added_access_policy', f_added_access_policy,
    'removed_access_policy', f_removed_access_policy,
    'added_policy_object_id', f_added_policy_object_id,
    'added_policy_key_permissions', f_added_policy_key_permissions,
    'removed_policy_object_id', f_removed_policy_object_id,
    'removed_policy_key_permissions', f_removed_policy_key_permissions)) AS attributes,
  concat({batch_id:String}, ':', toString(seq)) AS raw_id
FROM (${judged})
${ANALYSIS_SETTINGS}`;
}
