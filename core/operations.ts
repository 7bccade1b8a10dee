import { z } from 'zod';

/**
 * The normalized operation vocabulary shared by every source. Each operation belongs to exactly one
 * class, except `other`, whose class the collector chooses from what the vendor call does.
 */
export const OPERATION_CLASSES = ['crypto', 'lifecycle', 'policy', 'read', 'auth', 'admin'] as const;
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
  update_key: 'lifecycle',
  update_rotation_policy: 'lifecycle',
  backup_key: 'lifecycle',
  restore_key: 'lifecycle',
  export_key: 'lifecycle',
  update_policy: 'policy',
  create_grant: 'policy',
  revoke_grant: 'policy',
  describe: 'read',
  list: 'read',
  login: 'auth',
  logout: 'auth',
  create_user: 'admin',
  delete_user: 'admin',
  update_user: 'admin',
  other: null,
} as const satisfies Record<string, OperationClass | null>;

export type OperationName = keyof typeof OPERATION_CLASS_OF;
export const OPERATIONS = Object.keys(OPERATION_CLASS_OF) as [OperationName, ...OperationName[]];
export const Operation = z.enum(OPERATIONS);
export type Operation = z.infer<typeof Operation>;
