import { z } from 'zod';

/**
 * The normalized operation vocabulary shared by every source. Each operation belongs to exactly one
 * class, except `other`, whose class the collector chooses from what the vendor call does.
 */
export const OPERATION_CLASSES = ['crypto', 'lifecycle', 'policy', 'read', 'auth'] as const;
export const OperationClass = z.enum(OPERATION_CLASSES);
export type OperationClass = z.infer<typeof OperationClass>;

export const OPERATION_CLASS_OF = {
  encrypt: 'crypto',
  decrypt: 'crypto',
  generate_data_key: 'crypto',
  re_encrypt: 'crypto',
  sign: 'crypto',
  verify: 'crypto',
  wrap: 'crypto',
  unwrap: 'crypto',
  create_key: 'lifecycle',
  import_key_material: 'lifecycle',
  delete_key_material: 'lifecycle',
  rotate_key: 'lifecycle',
  enable_rotation: 'lifecycle',
  disable_rotation: 'lifecycle',
  enable_key: 'lifecycle',
  disable_key: 'lifecycle',
  schedule_deletion: 'lifecycle',
  cancel_deletion: 'lifecycle',
  destroy_version: 'lifecycle',
  update_policy: 'policy',
  create_grant: 'policy',
  revoke_grant: 'policy',
  describe: 'read',
  list: 'read',
  login: 'auth',
  other: null,
} as const satisfies Record<string, OperationClass | null>;

export type OperationName = keyof typeof OPERATION_CLASS_OF;
export const OPERATIONS = Object.keys(OPERATION_CLASS_OF) as [OperationName, ...OperationName[]];
export const Operation = z.enum(OPERATIONS);
export type Operation = z.infer<typeof Operation>;

/** What each operation means, for the README and `keywatch sql` users. */
export const OPERATION_DOC: Record<Operation, string> = {
  encrypt: 'Encrypt data under the key',
  decrypt: 'Decrypt data under the key',
  generate_data_key: 'Generate a data key (or data key pair) protected by the key',
  re_encrypt: 'Decrypt and re-encrypt under another key or version (Vault rewrap)',
  sign: 'Create a signature or MAC',
  verify: 'Verify a signature or MAC',
  wrap: 'Wrap (export encrypted) another key',
  unwrap: 'Unwrap (import encrypted) another key',
  create_key: 'Create a key, key version or replica',
  import_key_material: 'Import external key material (BYOK)',
  delete_key_material: 'Delete imported key material (takes effect at once on AWS)',
  rotate_key: 'Rotate: a new key version or new key material becomes primary',
  enable_rotation: 'Turn automatic rotation on or change its period',
  disable_rotation: 'Turn automatic rotation off',
  enable_key: 'Enable a key or key version',
  disable_key: 'Disable a key or key version',
  schedule_deletion: 'Schedule a key or version for deletion (a waiting period applies)',
  cancel_deletion: 'Cancel a scheduled deletion, restore or recover a key',
  destroy_version: 'Key material destroyed or purged: the end of a deletion',
  update_policy: 'Change the key policy or IAM policy on the key',
  create_grant: 'Grant a principal use of the key',
  revoke_grant: 'Revoke or retire a grant',
  describe: 'Read key metadata, policy or public key',
  list: 'List keys, aliases, grants or versions',
  login: 'Authenticate to the HSM or key service',
  other: 'Anything else; vendor_operation keeps the raw name and operation_class says what kind it is',
};
