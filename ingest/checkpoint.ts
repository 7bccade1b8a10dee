import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../core/clock.ts';

/**
 * File ingest checkpoints: per input file, its identity and how many of its records (in framing
 * order) are durably stored. A rerun of `keywatch ingest` over the same file resumes after them,
 * skips a file already finished, and starts over when the file was replaced or truncated. They
 * live in `<dataDir>/checkpoints/`, one JSON file per input path, also with a ClickHouse server
 * store (they describe this machine's files, not the store).
 *
 * The position is a record count, not a byte offset: a CloudTrail or JSON-array file can only be
 * framed from its start, so a resumed run reads (and gunzips) up to the position and passes those
 * records over without storing them. Reading is cheap next to storing.
 *
 * @example
 *   const cp = openCheckpoint(join(dataDir, 'checkpoints'), 'trail.json.gz', systemClock);
 *   if (cp.plan.action === 'skip') ...; else input.checkpoint = { skip: cp.skip, onDurable: cp.save };
 */
const Saved = z
  .object({
    path: z.string(),
    dev: z.string(),
    ino: z.string(),
    size: z.number().int().nonnegative(),
    mtimeMs: z.number(),
    /** SHA-256 of the first 4 KiB, so that a file rewritten in place under the same inode is seen. */
    head: z.string(),
    /** How many bytes `head` covers (less than 4 KiB for a smaller file, which may grow). */
    headBytes: z.number().int().nonnegative(),
    /** SHA-256 of the 4 KiB before `size`: unchanged when the file was only appended to. */
    tail: z.string(),
    /** Records (framed, in order) stored so far. */
    records: z.number().int().nonnegative(),
    done: z.boolean(),
    updatedAt: z.string(),
  })
  .strict();
type Saved = z.infer<typeof Saved>;

export type ResumePlan =
  | { action: 'skip'; records: number }
  | { action: 'resume'; records: number }
  | { action: 'start'; reason: 'new' | 'changed' | 'unreadable-checkpoint' };

export interface FileCheckpoint {
  plan: ResumePlan;
  /** Records to pass over: the saved count when resuming, else 0. */
  skip: number;
  /** Records the first `records` records as stored (atomically: temp file, fsync, rename, directory fsync). */
  save(records: number, done: boolean): void;
}

const HEAD_BYTES = 4096;

/** Hash of `length` bytes at `position` (fewer when the file is shorter). */
function hashRange(fd: number, position: number, length: number): { hash: string; bytes: number } {
  const b = Buffer.alloc(length);
  let n = 0;
  while (n < length) {
    const r = readSync(fd, b, n, length - n, position + n);
    if (r === 0) break;
    n += r;
  }
  return { hash: createHash('sha256').update(b.subarray(0, n)).digest('hex'), bytes: n };
}

/** The identity of a file; `at` gives the size and head length to hash as of an earlier look. */
function identity(path: string, at?: { size: number; headBytes: number }): Omit<Saved, 'path' | 'records' | 'done' | 'updatedAt'> {
  const st = statSync(path, { bigint: true });
  const size = at?.size ?? Number(st.size);
  const fd = openSync(path, 'r');
  try {
    const head = hashRange(fd, 0, at?.headBytes ?? HEAD_BYTES);
    const tailStart = Math.max(0, size - HEAD_BYTES);
    const tail = hashRange(fd, tailStart, size - tailStart);
    return { dev: st.dev.toString(), ino: st.ino.toString(), size: Number(st.size), mtimeMs: Number(st.mtimeMs), head: head.hash, headBytes: head.bytes, tail: tail.hash };
  } finally {
    closeSync(fd);
  }
}

function writeAtomic(dir: string, name: string, text: string): void {
  const tmp = join(dir, `${name}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

/** Reads the checkpoint of `path` (if any) and decides whether to skip, resume or start over. */
export function openCheckpoint(dir: string, path: string, clock: Clock): FileCheckpoint {
  mkdirSync(dir, { recursive: true });
  const abs = resolve(path);
  const name = `${createHash('sha256').update(abs).digest('hex').slice(0, 32)}.json`;
  const now = identity(abs);
  let saved: Saved | undefined;
  let plan: ResumePlan = { action: 'start', reason: 'new' };
  try {
    const parsed = Saved.safeParse(JSON.parse(readFileSync(join(dir, name), 'utf8')));
    if (parsed.success && parsed.data.path === abs) saved = parsed.data;
    else plan = { action: 'start', reason: 'unreadable-checkpoint' };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') plan = { action: 'start', reason: 'unreadable-checkpoint' };
  }
  if (saved) {
    // The same file, or the same file with more appended: its first and last 4 KiB as they were then.
    const then = now.size === saved.size && now.headBytes === saved.headBytes ? now : identity(abs, { size: saved.size, headBytes: saved.headBytes });
    const same = saved.dev === now.dev && saved.ino === now.ino && now.size >= saved.size && saved.head === then.head && then.headBytes === saved.headBytes && saved.tail === then.tail;
    if (!same) plan = { action: 'start', reason: 'changed' };
    else if (saved.done && now.size === saved.size && now.mtimeMs === saved.mtimeMs) plan = { action: 'skip', records: saved.records };
    else plan = { action: 'resume', records: saved.records };
  }
  const skip = plan.action === 'resume' ? plan.records : 0;
  return {
    plan,
    skip,
    save(records, done) {
      const value: Saved = { path: abs, ...now, records, done, updatedAt: clock.now().toISOString() };
      writeAtomic(dir, name, JSON.stringify(value) + '\n');
    },
  };
}
