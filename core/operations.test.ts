import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, OPERATION_CLASS_OF } from './operations.ts';

describe('the operation vocabulary', () => {
  it('is documented in the README, each operation once, with the class the model enforces', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Operation vocabulary'), readme.indexOf('### The other tables'));
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \| ([a-z]+) \|/gm)].map((m) => [m[1], m[2]]);
    expect(rows.map(([op]) => op)).toEqual(OPERATIONS);
    for (const [op, cls] of rows) {
      const expected = OPERATION_CLASS_OF[op as keyof typeof OPERATION_CLASS_OF];
      expect(cls, op).toBe(expected ?? 'any');
    }
  });
});
