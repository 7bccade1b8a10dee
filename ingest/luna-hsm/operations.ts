import type { OperationClass, OperationName } from '../../core/operations.ts';

/**
 * Luna HSM event names (the `LUNA_*` names of the Network HSM 7 audit log, which DPoD Luna Cloud
 * HSM reports as `action`) -> [operation, operation_class].
 *
 * Verified names: the "HSM Access" table of "Audit Log Categories and HSM Events" (Luna Network
 * HSM 7 HSM Administration Guide): LUNA_LOGIN, LUNA_LOGOUT, LUNA_LOGOUT_OTHER, LUNA_MODIFY_OBJECT,
 * LUNA_OPEN_SESSION, LUNA_CLOSE_SESSION, LUNA_CLOSE_ALL_SESSIONS, LUNA_OPEN_ACCESS,
 * LUNA_CLEAN_ACCESS, LUNA_CLOSE_ACCESS, the custom-module events and LUNA_HA_LOGIN; from the DPoD
 * Luna Cloud HSM "Service Audit Logs" page LUNA_CANCEL_CRYPTO_OPERATION, LUNA_CREATE_OBJECT and
 * LUNA_VERIFY. The other names follow the same pattern (one per PKCS#11 call) and are assumed;
 * names not listed fall to the prefix rules below, then to `other`.
 */
export const LUNA_OPERATIONS: Record<string, readonly [OperationName, OperationClass]> = {
  LUNA_LOGIN: ['login', 'auth'],
  LUNA_HA_LOGIN: ['login', 'auth'],
  LUNA_LOGOUT: ['logout', 'auth'],
  LUNA_LOGOUT_OTHER: ['logout', 'auth'],
  LUNA_OPEN_SESSION: ['other', 'auth'],
  LUNA_CLOSE_SESSION: ['other', 'auth'],
  LUNA_CLOSE_ALL_SESSIONS: ['other', 'auth'],
  LUNA_OPEN_ACCESS: ['other', 'auth'],
  LUNA_CLOSE_ACCESS: ['other', 'auth'],
  LUNA_CLEAN_ACCESS: ['other', 'auth'],
  LUNA_GENERATE_KEY: ['create_key', 'lifecycle'],
  LUNA_GENERATE_KEY_PAIR: ['create_key', 'lifecycle'],
  LUNA_CREATE_OBJECT: ['create_key', 'lifecycle'],
  LUNA_COPY_OBJECT: ['create_key', 'lifecycle'],
  LUNA_DERIVE_KEY: ['create_key', 'lifecycle'],
  LUNA_DESTROY_OBJECT: ['destroy_version', 'lifecycle'],
  LUNA_DESTROY_MULTIPLE_OBJECTS: ['destroy_version', 'lifecycle'],
  LUNA_MODIFY_OBJECT: ['update_key', 'lifecycle'],
  LUNA_GET_ATTRIBUTE_VALUE: ['describe', 'read'],
  LUNA_GET_OBJECT_SIZE: ['describe', 'read'],
  LUNA_FIND_OBJECTS: ['list', 'read'],
  LUNA_FIND_OBJECTS_INIT: ['list', 'read'],
  LUNA_FIND_OBJECTS_FINAL: ['list', 'read'],
  LUNA_CANCEL_CRYPTO_OPERATION: ['other', 'crypto'],
  LUNA_GENERATE_RANDOM: ['other', 'crypto'],
  LUNA_SEED_RANDOM: ['other', 'crypto'],
  // Cloning moves key material between HSMs or to a backup HSM: out of this one is a backup, into it a restore.
  LUNA_CLONE_AS_SOURCE: ['backup_key', 'lifecycle'],
  LUNA_CLONE_AS_TARGET: ['restore_key', 'lifecycle'],
  LUNA_CLONE_AS_TARGET_INIT: ['restore_key', 'lifecycle'],
  LUNA_CLONE_OBJECT: ['backup_key', 'lifecycle'],
  LUNA_EXTRACT: ['backup_key', 'lifecycle'],
  LUNA_INSERT: ['restore_key', 'lifecycle'],
  // Roles: initialising one creates its credential, changing its PIN updates it.
  LUNA_INIT_PIN: ['create_user', 'admin'],
  LUNA_INIT_ROLE: ['create_user', 'admin'],
  LUNA_SET_PIN: ['update_user', 'admin'],
  LUNA_CHANGE_PIN: ['update_user', 'admin'],
  LUNA_DELETE_ROLE: ['delete_user', 'admin'],
  LUNA_INIT_TOKEN: ['other', 'admin'],
  LUNA_ZEROIZE: ['other', 'admin'],
  LUNA_CREATE_CONTAINER: ['other', 'admin'],
  LUNA_DELETE_CONTAINER: ['other', 'admin'],
  LUNA_LOAD_CUSTOM_MODULE: ['other', 'admin'],
  LUNA_LOAD_ENCRYPTED_CUSTOM_MODULE: ['other', 'admin'],
  LUNA_UNLOAD_CUSTOM_MODULE: ['other', 'admin'],
  LUNA_EXECUTE_CUSTOM_COMMAND: ['other', 'crypto'],
};

/**
 * Prefix rules for names not in the table, first match wins: the multi-part forms
 * (`_INIT`, `_UPDATE`, `_FINAL`, `_SINGLEPART`) of one call map like the call. UNWRAP before
 * WRAP and the `LUNA_LOG` (audit configuration) rule are ordered so that no prefix shadows a
 * longer one.
 */
export const LUNA_PREFIX_OPERATIONS: readonly (readonly [string, OperationName, OperationClass])[] = [
  ['LUNA_ENCRYPT', 'encrypt', 'crypto'],
  ['LUNA_DECRYPT', 'decrypt', 'crypto'],
  ['LUNA_SIGN', 'sign', 'crypto'],
  ['LUNA_VERIFY', 'verify', 'crypto'],
  ['LUNA_UNWRAP', 'unwrap', 'crypto'],
  ['LUNA_WRAP', 'wrap', 'crypto'],
  ['LUNA_DIGEST', 'other', 'crypto'],
  ['LUNA_CLONE', 'backup_key', 'lifecycle'],
  ['LUNA_LOG', 'other', 'admin'],
  ['LUNA_AUDIT', 'other', 'admin'],
  ['LUNA_SET_', 'other', 'admin'],
  ['LUNA_HA_', 'other', 'auth'],
];

/** Class of an unknown LUNA_* event: HSM events outside the tables are administrative. */
export const LUNA_DEFAULT: readonly [OperationName, OperationClass] = ['other', 'admin'];

/** Result codes that mean success: Luna firmware `RC_OK` / `LUNA_RET_OK` (DPoD `status`), PKCS#11 `CKR_OK`. */
export const LUNA_SUCCESS_CODES = ['RC_OK', 'LUNA_RET_OK', 'LUNA_RET_SUCCESS', 'CKR_OK'] as const;
