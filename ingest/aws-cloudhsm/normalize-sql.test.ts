import { describe, expect, it } from 'vitest';
import { OPERATION_CLASS_OF, OPERATIONS } from '../../core/operations.ts';
import { CERT_STORE_OPS, CLOUDHSM_OPCODES, CRITICAL_OPCODES, USER_SUBJECT_OPCODES } from './normalize-sql.ts';

describe('CloudHSM opcode table', () => {
  it('maps every opcode to an operation of the vocabulary, in that operation’s class', () => {
    for (const [opcode, [operation, cls]] of Object.entries({ ...CLOUDHSM_OPCODES, ...CERT_STORE_OPS })) {
      const expected = OPERATION_CLASS_OF[operation];
      if (expected !== null) expect(cls, `${opcode} -> ${operation}`).toBe(expected);
    }
  });

  it('knows every opcode it treats specially', () => {
    for (const opcode of [...USER_SUBJECT_OPCODES, ...CRITICAL_OPCODES]) expect(OPERATIONS, opcode).toContain(CLOUDHSM_OPCODES[opcode]?.[0]);
  });

  it('maps the opcodes of the User Guide’s reference table as the collector README says', () => {
    expect(CLOUDHSM_OPCODES.CN_LOGIN).toEqual(['login', 'auth']);
    expect(CLOUDHSM_OPCODES.CN_CREATE_CO).toEqual(['create_user', 'admin']);
    expect(CLOUDHSM_OPCODES.CN_TOMBSTONE_OBJECT).toEqual(['destroy_version', 'lifecycle']);
    expect(CLOUDHSM_OPCODES.CN_SHARE_OBJECT).toEqual(['create_grant', 'policy']);
    expect(CLOUDHSM_OPCODES.CN_EXTRACT_MASKED_OBJECT_USER).toEqual(['export_key', 'lifecycle']);
    expect(CLOUDHSM_OPCODES.CN_INSERT_MASKED_OBJECT_USER).toEqual(['import_key_material', 'lifecycle']);
    expect(CLOUDHSM_OPCODES.CN_BACKUP_BEGIN).toEqual(['backup_key', 'lifecycle']);
    expect(CLOUDHSM_OPCODES.CN_ZEROIZE).toEqual(['other', 'admin']);
  });
});
