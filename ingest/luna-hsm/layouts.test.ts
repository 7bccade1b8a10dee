import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKeywatchError } from '../../core/errors.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { BUILT_IN_LAYOUTS, captureGroups, compileLayouts, LAYOUTS_ENV, layoutsFromEnv } from './layouts.ts';

const dir = tempDir('keywatch-luna-layouts-');
afterAll(() => dir.remove());

function configError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isKeywatchError(e) && e.code === 'CONFIG_INVALID') return e.message;
    throw e;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

describe('captureGroups', () => {
  it('numbers plain and named groups in order and skips non-capturing groups, classes and escapes', () => {
    const g = captureGroups('^(a)(?:b)(?P<seq>\\d+)[(](?<operation>LUNA_\\w+)\\((x)\\)(?i:y)\\Q(z)\\E(?P<mac>[0-9A-F]+)');
    expect(g.count).toBe(5);
    expect(Object.fromEntries(g.names)).toEqual({ seq: 2, operation: 3, mac: 5 });
  });

  it('refuses what RE2 cannot run', () => {
    expect(() => captureGroups('(?=a)b')).toThrow(/look-around/);
    expect(() => captureGroups('(?<!a)b')).toThrow(/look-around/);
    expect(() => captureGroups('(a)\\1')).toThrow(/back-references/);
    expect(() => captureGroups('(?P<seq>a)(?P<seq>b)')).toThrow(/twice/);
  });
});

describe('compileLayouts', () => {
  it('puts user layouts before the built-in ones and gives each the file date order unless it has its own', () => {
    const c = compileLayouts({ dateOrder: 'DMY', layouts: [{ name: 'a', pattern: '^(?P<seq>\\d+) (?P<operation>LUNA_\\w+)' }, { name: 'b', pattern: '(?P<serial>\\d+)', dateOrder: 'YMD' }] });
    expect(c.layouts.map((l) => [l.name, l.dateOrder, l.builtIn])).toEqual([
      ['a', 'DMY', false],
      ['b', 'YMD', false],
      ...BUILT_IN_LAYOUTS.map((l) => [l.name, 'DMY', true]),
    ]);
    expect(c.layouts[0]?.groups).toEqual({ seq: 1, operation: 2 });
  });

  it('reads the fields of the built-in record layout', () => {
    const c = compileLayouts({});
    expect(c.dateOrder).toBe('MDY');
    expect(Object.keys(c.layouts[0]?.groups ?? {}).sort()).toEqual(['access', 'datetime', 'operation', 'result', 'result_code', 'role', 'role_id', 'seq', 'serial', 'session']);
    // The same pattern, in JavaScript terms, reads the verified record.
    const js = new RegExp((BUILT_IN_LAYOUTS[0]?.pattern ?? '').replace(/\(\?P</g, '(?<').replace(/\(\?i:(\w+)\)/g, (_, w: string) => `[${w[0]?.toUpperCase()}${w[0]}]${w.slice(1)}`));
    const m = js.exec('23        ,04/08/24 15:00:18,session 12 Access 234:456 operation LUNA_MODIFY_OBJECT returned LUNA_RET_SUCCESS      ,89487E5E');
    expect(m?.groups).toMatchObject({ seq: '23', datetime: '04/08/24 15:00:18', session: '12', access: '234:456', operation: 'LUNA_MODIFY_OBJECT', result: 'LUNA_RET_SUCCESS' });
  });

  it('rejects a layout with a group that is not a field, naming the fields', () => {
    expect(configError(() => compileLayouts({ layouts: [{ name: 'x', pattern: '(?P<hsm>\\d+)' }] }))).toMatch(/group "hsm" is not a field; use seq, datetime/);
  });

  it('rejects a layout that names no field, a bad pattern, a duplicate name and unknown keys', () => {
    expect(configError(() => compileLayouts({ layouts: [{ name: 'x', pattern: '(\\d+)' }] }))).toMatch(/names no field/);
    expect(configError(() => compileLayouts({ layouts: [{ name: 'x', pattern: '(?P<seq>\\d+' }] }))).toMatch(/not a usable regular expression/);
    expect(configError(() => compileLayouts({ layouts: [{ name: 'luna-audit-record', pattern: '(?P<seq>\\d+)' }] }))).toMatch(/used twice/);
    expect(configError(() => compileLayouts({ layouts: [{ name: 'x', pattern: '(?P<seq>\\d+)', regex: 'oops' }] }))).toMatch(/layouts\.0/);
    expect(configError(() => compileLayouts({ dateOrder: 'YDM' }))).toMatch(/dateOrder/);
  });
});

describe('layoutsFromEnv', () => {
  it('uses the built-in layouts when the variable is unset', () => {
    expect(layoutsFromEnv({}).layouts.map((l) => l.name)).toEqual(BUILT_IN_LAYOUTS.map((l) => l.name));
  });

  it('reads a file path or inline JSON', () => {
    const path = join(dir.path, 'layouts.json');
    writeFileSync(path, JSON.stringify({ layouts: [{ name: 'from-file', pattern: '^(?P<seq>\\d+)' }] }));
    expect(layoutsFromEnv({ [LAYOUTS_ENV]: path }).layouts[0]?.name).toBe('from-file');
    expect(layoutsFromEnv({ [LAYOUTS_ENV]: '{"dateOrder":"DMY"}' }).dateOrder).toBe('DMY');
  });

  it('says which file could not be read or parsed', () => {
    expect(configError(() => layoutsFromEnv({ [LAYOUTS_ENV]: join(dir.path, 'missing.json') }))).toMatch(/cannot read .*missing\.json: ENOENT/);
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, '{ not json');
    expect(configError(() => layoutsFromEnv({ [LAYOUTS_ENV]: bad }))).toMatch(/not valid JSON/);
  });
});

describe('configureLunaHsmLayouts', () => {
  it('makes the registered collector build its SQL with the configured layouts', async () => {
    const { configureLunaHsmLayouts, lunaHsmCollector } = await import('./collector.ts');
    expect(lunaHsmCollector.classifySql('st')).not.toContain('configured-relay');
    configureLunaHsmLayouts(compileLayouts({ layouts: [{ name: 'configured-relay', pattern: '^hsm=(?P<serial>\\d+)' }] }));
    expect(lunaHsmCollector.classifySql('st')).toContain("'configured-relay'");
    expect(lunaHsmCollector.normalizeSql('st')).toContain('^hsm=(?P<serial>\\\\d+)');
  });
});
