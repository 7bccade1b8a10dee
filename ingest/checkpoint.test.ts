import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../core/clock.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';
import { openCheckpoint } from './checkpoint.ts';

const dir = tempDir('keywatch-checkpoint-test-');
afterAll(() => dir.remove());
const clock = fixedClock('2026-11-29T12:00:00.000Z');
const cps = join(dir.path, 'checkpoints');

describe('file checkpoints', () => {
  it('starts a new file from the beginning, resumes a partly stored one, and skips a finished one', () => {
    const f = join(dir.path, 'a.ndjson');
    writeFileSync(f, '{"a":1}\n{"a":2}\n{"a":3}\n');
    const first = openCheckpoint(cps, f, clock);
    expect(first.plan).toEqual({ action: 'start', reason: 'new' });
    first.save(2, false);
    expect(openCheckpoint(cps, f, clock)).toMatchObject({ plan: { action: 'resume', records: 2 }, skip: 2 });
    openCheckpoint(cps, f, clock).save(3, true);
    expect(openCheckpoint(cps, f, clock)).toMatchObject({ plan: { action: 'skip', records: 3 }, skip: 0 });
  });

  it('resumes a finished file that was appended to after the records it stored', () => {
    const f = join(dir.path, 'b.ndjson');
    writeFileSync(f, '{"b":1}\n');
    openCheckpoint(cps, f, clock).save(1, true);
    appendFileSync(f, '{"b":2}\n');
    expect(openCheckpoint(cps, f, clock)).toMatchObject({ plan: { action: 'resume', records: 1 }, skip: 1 });
  });

  it('starts over when the file was truncated or replaced by another', () => {
    const f = join(dir.path, 'c.ndjson');
    writeFileSync(f, '{"c":1}\n{"c":2}\n');
    openCheckpoint(cps, f, clock).save(2, true);
    writeFileSync(f, '{"c":1}\n');
    expect(openCheckpoint(cps, f, clock).plan).toEqual({ action: 'start', reason: 'changed' });

    const g = join(dir.path, 'd.ndjson');
    writeFileSync(g, '{"d":1}\n');
    openCheckpoint(cps, g, clock).save(1, true);
    rmSync(g);
    writeFileSync(g, '{"x":9}\n{"x":10}\n');
    expect(openCheckpoint(cps, g, clock).plan).toEqual({ action: 'start', reason: 'changed' });
  });

  it('starts over when a file was rewritten in place, longer, with the same first 4 KiB', () => {
    const f = join(dir.path, 'e.ndjson');
    const head = `{"pad":"${'p'.repeat(5000)}"}\n`;
    writeFileSync(f, head + '{"e":1}\n');
    openCheckpoint(cps, f, clock).save(2, true);
    writeFileSync(f, head + '{"e":2}\n{"e":3}\n');
    expect(openCheckpoint(cps, f, clock).plan).toEqual({ action: 'start', reason: 'changed' });
  });
});
