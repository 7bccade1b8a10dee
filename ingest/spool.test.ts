import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';
import { encodeEntry, openSpool, type SpoolMeta } from './spool.ts';

const clock = fixedClock('2026-11-29T12:00:00.000Z');
const lines: string[] = [];
const logger: Logger = pino({ level: 'info', base: undefined }, { write: (s: string) => void lines.push(s) });
const dirs: { remove(): void }[] = [];
const fresh = () => {
  const d = tempDir('keywatch-spool-test-');
  dirs.push(d);
  return join(d.path, 'spool');
};
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
  lines.length = 0;
});

const meta = (n: number, receivedAt = '2026-11-29T11:59:00.000Z'): SpoolMeta => ({ format: 'aws-cloudtrail', tenant: n % 2 ? 'acme' : null, origin: `http:127.0.0.1#r${n}`, requestId: `r${n}`, receivedAt });

describe('spool', () => {
  it('returns entries oldest first with their metadata and body, and removes one only when asked', async () => {
    const s = openSpool({ dir: fresh(), maxBytes: 1 << 20, clock, logger });
    for (let i = 1; i <= 3; i++) expect((await s.append(meta(i), Buffer.from(`body ${i}\n`))).ok).toBe(true);
    const first = s.peek();
    expect(first?.meta).toEqual(meta(1));
    expect(first?.body.toString()).toBe('body 1\n');
    expect(s.peek()?.seq).toBe(first?.seq);
    s.remove(first!.seq);
    expect(s.peek()?.meta.requestId).toBe('r2');
    expect(s.stats()).toMatchObject({ entries: 2, appended: 3, replayed: 1, oldestAgeSeconds: 60 });
  });

  it('finds its entries again after a restart, in the same order, and keeps numbering after them', async () => {
    const dir = fresh();
    const a = openSpool({ dir, maxBytes: 1 << 20, clock, logger });
    await a.append(meta(1), Buffer.from('one'));
    await a.append(meta(2), Buffer.from('two'));
    const b = openSpool({ dir, maxBytes: 1 << 20, clock, logger });
    expect(b.size()).toBe(2);
    await b.append(meta(3), Buffer.from('three'));
    const seen: string[] = [];
    for (let e = b.peek(); e; e = b.peek()) {
      seen.push(e.body.toString());
      b.remove(e.seq);
    }
    expect(seen).toEqual(['one', 'two', 'three']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.entry'))).toEqual([]);
  });

  it('refuses an entry that would pass maxBytes, counts the refusal, and takes entries again once there is room', async () => {
    const body = Buffer.alloc(40_000, 'x');
    const s = openSpool({ dir: fresh(), maxBytes: 100_000, clock, logger });
    expect((await s.append(meta(1), body)).ok).toBe(true);
    expect((await s.append(meta(2), body)).ok).toBe(true);
    const refused = await s.append(meta(3), body);
    expect(refused.ok).toBe(false);
    expect(s.stats()).toMatchObject({ entries: 2, fullRefusals: 1 });
    s.remove(s.peek()!.seq);
    expect((await s.append(meta(3), body)).ok).toBe(true);
    expect(s.stats().bytes).toBeLessThanOrEqual(100_000);
  });

  it('moves a torn entry file aside with a log line on open and a corrupt one on read, and replays the others', async () => {
    const dir = fresh();
    const a = openSpool({ dir, maxBytes: 1 << 20, clock, logger });
    await a.append(meta(1), Buffer.from('good one'));
    // A torn write: the header promises more bytes than the file holds.
    const torn = encodeEntry(meta(2), Buffer.from('never finished'));
    writeFileSync(join(dir, '0000000000000005.entry'), torn.subarray(0, torn.length - 4));
    // Right length, flipped body byte: only the checksum tells.
    const flipped = encodeEntry(meta(3), Buffer.from('flipped body'));
    flipped.writeUInt8((flipped.at(-1) as number) ^ 0xff, flipped.length - 1);
    writeFileSync(join(dir, '0000000000000006.entry'), flipped);
    writeFileSync(join(dir, '0000000000000007.entry.tmp'), 'half a write');
    await a.append(meta(4), Buffer.from('after them'));

    const b = openSpool({ dir, maxBytes: 1 << 20, clock, logger });
    expect(existsSync(join(dir, 'corrupt', '0000000000000005.entry'))).toBe(true);
    expect(existsSync(join(dir, '0000000000000007.entry.tmp'))).toBe(false);
    const bodies: string[] = [];
    for (let e = b.peek(); e; e = b.peek()) {
      bodies.push(e.body.toString());
      b.remove(e.seq);
    }
    expect(bodies).toEqual(['good one', 'after them']);
    expect(existsSync(join(dir, 'corrupt', '0000000000000006.entry'))).toBe(true);
    expect(b.stats().corrupt).toBe(2);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).filter((l) => l.msg.startsWith('spool entry is corrupt'));
    expect(logged.map((l) => l.reason)).toEqual([expect.stringContaining('torn write'), 'checksum mismatch']);
  });

  it('replays appends made concurrently in the order they were called, whatever their size', async () => {
    const s = openSpool({ dir: fresh(), maxBytes: 64 << 20, clock, logger });
    const sizes = [4 << 20, 10, 1 << 20, 3, 2 << 20, 7];
    const results = await Promise.all(sizes.map((n, i) => s.append(meta(i), Buffer.alloc(n, i))));
    expect(results.every((r) => r.ok)).toBe(true);
    const order: number[] = [];
    for (let e = s.peek(); e; e = s.peek()) {
      order.push(e.body.length);
      s.remove(e.seq);
    }
    expect(order).toEqual(sizes);
  });

  it('keeps the body bytes exactly, binary included', async () => {
    const s = openSpool({ dir: fresh(), maxBytes: 1 << 20, clock, logger });
    const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
    await s.append(meta(1), body);
    expect(s.peek()?.body.equals(body)).toBe(true);
    const file = readdirSync(s.dir).find((f) => f.endsWith('.entry')) as string;
    expect(readFileSync(join(s.dir, file)).subarray(0, 8).toString()).toBe('KWSPOOL1');
  });
});
