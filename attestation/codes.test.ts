import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALL_CODES, ATTESTATION_CODES } from './codes.ts';

const ROOT = fileURLToPath(new URL('.', import.meta.url));

function testSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : testSources(p);
    return e.name.endsWith('.test.ts') && e.name !== 'codes.test.ts' ? [readFileSync(p, 'utf8')] : [];
  });
}

describe('attestation codes', () => {
  it('are upper snake case with a one-line description', () => {
    for (const code of ALL_CODES) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(ATTESTATION_CODES[code].length).toBeGreaterThan(10);
    }
  });

  it('each have a test that expects them (the negative suite covers every code)', () => {
    const sources = testSources(ROOT).join('\n');
    const untested = ALL_CODES.filter((c) => !sources.includes(`'${c}'`));
    expect(untested).toEqual([]);
  });

  it('are all listed in README.md', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(ALL_CODES.filter((c) => !readme.includes(`\`${c}\``))).toEqual([]);
  });
});
