import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { pinSource, slotSelector } from './cli-options.ts';
import { readPin } from './pin.ts';

const dir = tempDir('keywatch-pin-');
afterAll(() => dir.remove());

describe('PIN sources', () => {
  it('reads the PIN from the named environment variable and refuses an unset or empty one without echoing values', () => {
    expect(readPin({ env: 'HSM_PIN' }, { HSM_PIN: '9876' })).toEqual({ ok: true, value: '9876' });
    const unset = readPin({ env: 'HSM_PIN' }, {});
    expect(unset).toEqual({ ok: false, error: 'environment variable HSM_PIN is not set or empty' });
    expect(readPin({ env: 'HSM_PIN' }, { HSM_PIN: '' }).ok).toBe(false);
  });

  it('reads a one-line PIN file without its trailing newline, and never puts the file content in an error', () => {
    const f = join(dir.path, 'pin');
    writeFileSync(f, 'secret-1\n');
    expect(readPin({ file: f }, {})).toEqual({ ok: true, value: 'secret-1' });
    writeFileSync(f, '\n');
    expect(readPin({ file: f }, {})).toEqual({ ok: false, error: `the PIN file ${f} is empty` });
    const missing = readPin({ file: join(dir.path, 'nope') }, {});
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.error).toContain('ENOENT');
  });
});

describe('token flags', () => {
  it('need exactly one slot selector and exactly one PIN source', () => {
    expect(slotSelector({ module: 'm', slot: '1' })).toEqual({ index: 1 });
    expect(slotSelector({ module: 'm', slotId: '609229050' })).toEqual({ id: '609229050' });
    expect(slotSelector({ module: 'm', token: 'prod' })).toEqual({ label: 'prod' });
    expect(() => slotSelector({ module: 'm' })).toThrow(/exactly one of --slot/);
    expect(() => slotSelector({ module: 'm', slot: '0', token: 'prod' })).toThrow(/exactly one of --slot/);
    expect(() => slotSelector({ module: 'm', slot: 'first' })).toThrow(/--slot must be the index/);
    expect(pinSource({ module: 'm', pinEnv: 'X' })).toEqual({ env: 'X' });
    expect(pinSource({ module: 'm', pinFile: '/p' })).toEqual({ file: '/p' });
    expect(() => pinSource({ module: 'm' })).toThrow(/never the PIN itself/);
    expect(() => pinSource({ module: 'm', pinEnv: 'X', pinFile: '/p' })).toThrow(/exactly one/);
  });
});
