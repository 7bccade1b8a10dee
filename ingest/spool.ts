import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';

/**
 * A bounded on-disk spool of accepted HTTP bodies, kept while the store is unreachable and
 * replayed in order when it returns (ingest/spool-replayer.ts). One file per entry, named by a
 * sequence number so that the directory listing is the replay order:
 *
 *   magic "KWSPOOL1" | u32 meta length | u32 body length | 32-byte SHA-256 of meta+body | meta JSON | body
 *
 * An entry is written to a temporary name, fsync'd, renamed, and the directory fsync'd before
 * `append` returns, so an acknowledged entry survives a crash or power loss. A torn or corrupt
 * file (wrong length or checksum) is moved to `corrupt/` with a log line, never replayed.
 *
 * @example
 *   const spool = openSpool({ dir: '/var/lib/keywatch/spool', maxBytes: 1 << 30, clock: systemClock, logger });
 *   const r = await spool.append({ format: 'aws-cloudtrail', tenant: 'acme', origin, requestId, receivedAt: new Date() }, body);
 *   if (!r.ok) // answer 503 spool_full
 */
const MAGIC = Buffer.from('KWSPOOL1', 'latin1');
const HEADER = MAGIC.length + 4 + 4 + 32;
const SUFFIX = '.entry';
const NAME = /^(\d{16})\.entry$/;

/** What an entry needs to be ingested later exactly as if it were written when it was received. */
export const SpoolMeta = z
  .object({
    format: z.string().min(1),
    /** The tenant the request's token fixed; null without authentication. */
    tenant: z.string().min(1).nullable(),
    origin: z.string().min(1),
    requestId: z.string().min(1),
    /** ISO time the request was received; becomes the batch's received_time. */
    receivedAt: z.string().datetime(),
  })
  .strict();
export type SpoolMeta = z.infer<typeof SpoolMeta>;

export interface SpoolEntry {
  seq: number;
  meta: SpoolMeta;
  /** The decoded (decompressed) request body. */
  body: Buffer;
}

export interface SpoolStats {
  entries: number;
  /** Bytes on disk of the entries waiting. */
  bytes: number;
  maxBytes: number;
  /** Seconds since the oldest waiting entry was received; 0 when empty. */
  oldestAgeSeconds: number;
  /** Entries appended since open. */
  appended: number;
  /** Entries ingested and removed since open. */
  replayed: number;
  /** Appends refused because the spool was full. */
  fullRefusals: number;
  /** Entry files moved aside to corrupt/ (torn writes, bad checksums). */
  corrupt: number;
  /** Entries moved aside to rejected/ because they can never be ingested. */
  rejected: number;
}

export type AppendResult = { ok: true; seq: number } | { ok: false; reason: 'full'; stats: SpoolStats };

export interface Spool {
  readonly dir: string;
  /**
   * Writes the entry durably (file and directory fsync'd) before returning. Refused when the
   * spool would exceed `maxBytes`.
   */
  append(meta: SpoolMeta, body: Buffer): Promise<AppendResult>;
  /** The oldest entry, or undefined when empty; corrupt files met on the way are moved aside. */
  peek(): SpoolEntry | undefined;
  /**
   * The oldest entries in order, as many as fit `maxEntries` and `maxBytes` of body (at least one
   * when any waits); corrupt files met on the way are moved aside.
   */
  peekMany(maxEntries: number, maxBytes: number): SpoolEntry[];
  /** Removes an entry once its ingest returned. */
  remove(seq: number): void;
  /** Removes several entries once their ingest returned, with one directory fsync. */
  removeMany(seqs: readonly number[]): void;
  /** Moves an entry that can never be ingested to rejected/, with the reason logged. */
  reject(seq: number, reason: string): void;
  /** Entries waiting. */
  size(): number;
  stats(): SpoolStats;
  /** Calls `fn` after each append (the replayer wakes on it). */
  onAppend(fn: () => void): () => void;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  clock: Clock;
  logger: Logger;
}

interface Waiting {
  seq: number;
  bytes: number;
  receivedAt: number;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const fileName = (seq: number) => `${String(seq).padStart(16, '0')}${SUFFIX}`;

/** Encodes an entry file (exported for tests that forge torn files). */
export function encodeEntry(meta: SpoolMeta, body: Buffer): Buffer {
  const m = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(m.length, 8);
  head.writeUInt32BE(body.length, 12);
  createHash('sha256').update(m).update(body).digest().copy(head, 16);
  return Buffer.concat([head, m, body]);
}

type Decoded = { ok: true; meta: SpoolMeta; body: Buffer } | { ok: false; reason: string };

function decodeEntry(buf: Buffer): Decoded {
  if (buf.length < HEADER || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, reason: 'no spool header (torn write or foreign file)' };
  const metaLen = buf.readUInt32BE(8);
  const bodyLen = buf.readUInt32BE(12);
  if (buf.length !== HEADER + metaLen + bodyLen) return { ok: false, reason: `length ${buf.length} bytes, header says ${HEADER + metaLen + bodyLen} (torn write)` };
  const m = buf.subarray(HEADER, HEADER + metaLen);
  const body = buf.subarray(HEADER + metaLen);
  if (!createHash('sha256').update(m).update(body).digest().equals(buf.subarray(16, HEADER))) return { ok: false, reason: 'checksum mismatch' };
  let meta: SpoolMeta;
  try {
    const parsed = SpoolMeta.safeParse(JSON.parse(m.toString('utf8')));
    if (!parsed.success) return { ok: false, reason: 'metadata does not validate' };
    meta = parsed.data;
  } catch {
    return { ok: false, reason: 'metadata is not JSON' };
  }
  return { ok: true, meta, body };
}

/**
 * Opens (creating) the spool directory and indexes the entries a previous process left. Leftover
 * temporary files were never acknowledged and are deleted.
 */
export function openSpool(opts: SpoolOptions): Spool {
  const { dir, maxBytes, clock, logger: log } = opts;
  mkdirSync(dir, { recursive: true });
  const waiting: Waiting[] = [];
  const counters = { appended: 0, replayed: 0, fullRefusals: 0, corrupt: 0, rejected: 0 };
  let bytes = 0;
  let next = 1;
  const listeners = new Set<() => void>();
  let appends: Promise<unknown> = Promise.resolve();

  const moveAside = (name: string, into: 'corrupt' | 'rejected', reason: string) => {
    const target = join(dir, into);
    mkdirSync(target, { recursive: true });
    renameSync(join(dir, name), join(target, name));
    fsyncDir(dir);
    if (into === 'corrupt') counters.corrupt++;
    else counters.rejected++;
    log.error({ spool: dir, file: name, movedTo: join(target, name), reason }, into === 'corrupt' ? 'spool entry is corrupt; moved aside, not replayed' : 'spool entry cannot be ingested; moved aside');
  };

  for (const name of readdirSync(dir).sort()) {
    if (name.endsWith('.tmp')) {
      unlinkSync(join(dir, name));
      continue;
    }
    const m = NAME.exec(name);
    if (!m) continue;
    const seq = Number(m[1]);
    next = Math.max(next, seq + 1);
    const size = statSync(join(dir, name)).size;
    // A full check (checksum) happens when the entry is read for replay; the header is enough here.
    let head: Buffer;
    try {
      head = readHead(join(dir, name));
    } catch (e) {
      moveAside(name, 'corrupt', `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    const expected = head.length >= 16 && head.subarray(0, MAGIC.length).equals(MAGIC) ? HEADER + head.readUInt32BE(8) + head.readUInt32BE(12) : -1;
    if (expected !== size) {
      moveAside(name, 'corrupt', expected === -1 ? 'no spool header (torn write or foreign file)' : `length ${size} bytes, header says ${expected} (torn write)`);
      continue;
    }
    let receivedAt = clock.now().getTime();
    const meta = readMetaTime(join(dir, name), head);
    if (meta !== undefined) receivedAt = meta;
    waiting.push({ seq, bytes: size, receivedAt });
    bytes += size;
  }
  if (waiting.length > 0) log.warn({ spool: dir, entries: waiting.length, bytes }, 'spool holds entries from before; they are replayed before new records');

  const stats = (): SpoolStats => ({
    entries: waiting.length,
    bytes,
    maxBytes,
    oldestAgeSeconds: waiting.length === 0 ? 0 : Math.max(0, (clock.now().getTime() - (waiting[0] as Waiting).receivedAt) / 1000),
    ...counters,
  });

  return {
    dir,
    async append(meta, body) {
      const data = encodeEntry(SpoolMeta.parse(meta), body);
      if (bytes + data.length > maxBytes) {
        counters.fullRefusals++;
        return { ok: false, reason: 'full', stats: stats() };
      }
      // Room and a place in the order are taken now; writes run one at a time, off the event
      // loop, so that an entry becomes visible to the replayer only after all older ones.
      const seq = next++;
      bytes += data.length;
      const write = appends.then(async () => {
        const name = fileName(seq);
        const tmp = join(dir, `${name}.tmp`);
        const fh = await open(tmp, 'w');
        try {
          await fh.writeFile(data);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, join(dir, name));
        const d = await open(dir, 'r');
        try {
          await d.sync();
        } finally {
          await d.close();
        }
        waiting.push({ seq, bytes: data.length, receivedAt: Date.parse(meta.receivedAt) });
        counters.appended++;
        for (const fn of listeners) fn();
      });
      appends = write.catch(() => undefined);
      try {
        await write;
      } catch (e) {
        bytes -= data.length;
        throw e;
      }
      return { ok: true, seq };
    },
    peek() {
      while (waiting.length > 0) {
        const w = waiting[0] as Waiting;
        const name = fileName(w.seq);
        let decoded: Decoded;
        try {
          decoded = decodeEntry(readFileSync(join(dir, name)));
        } catch (e) {
          decoded = { ok: false, reason: `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
        }
        if (decoded.ok) return { seq: w.seq, meta: decoded.meta, body: decoded.body };
        waiting.shift();
        bytes -= w.bytes;
        try {
          moveAside(name, 'corrupt', decoded.reason);
        } catch (e) {
          log.error({ spool: dir, file: name, err: (e as Error).message }, 'spool entry is corrupt and could not be moved aside; skipped');
        }
      }
      return undefined;
    },
    peekMany(maxEntries, maxBytes) {
      const out: SpoolEntry[] = [];
      let size = 0;
      let i = 0;
      while (i < waiting.length && out.length < maxEntries) {
        const w = waiting[i] as Waiting;
        const name = fileName(w.seq);
        let decoded: Decoded;
        try {
          decoded = decodeEntry(readFileSync(join(dir, name)));
        } catch (e) {
          decoded = { ok: false, reason: `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
        }
        if (!decoded.ok) {
          waiting.splice(i, 1);
          bytes -= w.bytes;
          try {
            moveAside(name, 'corrupt', decoded.reason);
          } catch (e) {
            log.error({ spool: dir, file: name, err: (e as Error).message }, 'spool entry is corrupt and could not be moved aside; skipped');
          }
          continue;
        }
        if (out.length > 0 && size + decoded.body.length > maxBytes) break;
        out.push({ seq: w.seq, meta: decoded.meta, body: decoded.body });
        size += decoded.body.length;
        i++;
      }
      return out;
    },
    removeMany(seqs) {
      const drop = new Set(seqs);
      for (let i = waiting.length - 1; i >= 0; i--) {
        const w = waiting[i] as Waiting;
        if (!drop.has(w.seq)) continue;
        waiting.splice(i, 1);
        bytes -= w.bytes;
        unlinkSync(join(dir, fileName(w.seq)));
        counters.replayed++;
      }
      fsyncDir(dir);
    },
    remove(seq) {
      this.removeMany([seq]);
    },
    reject(seq, reason) {
      const i = waiting.findIndex((w) => w.seq === seq);
      if (i === -1) return;
      const [w] = waiting.splice(i, 1);
      bytes -= (w as Waiting).bytes;
      moveAside(fileName(seq), 'rejected', reason);
    },
    size: () => waiting.length,
    stats,
    onAppend(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(HEADER);
    const n = readSyncAll(fd, b, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function readSyncAll(fd: number, b: Buffer, position: number): number {
  let off = 0;
  for (;;) {
    const n = readSyncAt(fd, b, off, position + off);
    if (n === 0 || off + n >= b.length) return off + n;
    off += n;
  }
}

/** The received time from an entry's metadata, for the age statistic; undefined when unreadable. */
function readMetaTime(path: string, head: Buffer): number | undefined {
  const len = head.readUInt32BE(8);
  if (len > 64 * 1024) return undefined;
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(len);
    readSyncAll(fd, b, HEADER);
    const t = Date.parse((JSON.parse(b.toString('utf8')) as { receivedAt?: string }).receivedAt ?? '');
    return Number.isNaN(t) ? undefined : t;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const readSyncAt = (fd: number, b: Buffer, off: number, position: number) => readSync(fd, b, off, b.length - off, position);

/** The spool directory a configuration names: `spool.dir`, else `<dataDir>/spool`. */
export function spoolDir(config: { dataDir: string; spool: { dir?: string | undefined } }): string {
  return config.spool.dir ?? join(config.dataDir, 'spool');
}
