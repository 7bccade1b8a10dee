import { createReadStream, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { KeywatchError } from '../../core/errors.ts';
import type { Framed } from '../framing.ts';

/** One input to ingest: where it came from and its bytes, gunzipped when they are gzip. */
export interface Input {
  transport: 'file' | 'stdin' | 'http' | 'kafka' | 'probe';
  origin: string;
  chunks: AsyncIterable<Buffer>;
  /**
   * Records already framed by the transport (a Kafka message is one record); when present,
   * `chunks` is not read and framing is skipped.
   */
  framed?: AsyncIterable<Framed[]>;
  /** The format the transport knows its records to be in (a Kafka topic's format), used for `auto`. */
  format?: string;
  /** Size on disk, when known, for the progress bar. */
  sizeBytes?: number;
  /** Compressed bytes read so far (for progress on gzip files). */
  bytesRead(): number;
  /**
   * Resume support (ingest/checkpoint.ts): the first `skip` framed records were stored by an
   * earlier run and are passed over; `onDurable(n, done)` is called once the first `n` records
   * are stored (their batch's write returned), with `done` when that is all of the input.
   */
  checkpoint?: { skip: number; onDurable(records: number, done: boolean): void };
}

/** Expands PATHs: files as given, directories recursively (sorted, hidden files skipped), `-` for stdin. */
export function listInputs(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new KeywatchError('INPUT_NOT_FOUND', `cannot read ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : String((e as Error).message)}`, { cause: e });
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!name.startsWith('.')) walk(join(p, name));
    } else {
      out.push(p);
    }
  };
  for (const p of paths) {
    if (p === '-') out.push('-');
    else walk(p);
  }
  return out;
}

/**
 * Bounds on gzip input, against gzip bombs. Deflate cannot do better than about 1032:1, and real
 * audit logs compress 5-50:1 (CloudTrail about 15:1), so past `GZIP_RATIO_FLOOR_BYTES` of output a
 * ratio over `GZIP_MAX_RATIO` means data made to expand: the input is stopped as unreadable (its
 * records read so far are kept, the pipeline quarantines the rest as `input_unreadable`).
 */
export const GZIP_MAX_RATIO = 200;
export const GZIP_RATIO_FLOOR_BYTES = 64 * 1024 * 1024;

/** Reads a stream, passing it through gunzip when it starts with the gzip magic bytes. */
async function* maybeGunzip(stream: Readable, origin: string, counter: { read: number }): AsyncGenerator<Buffer> {
  const raw = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const it: AsyncIterator<Buffer> = {
    next: async () => {
      const n = await raw.next();
      if (!n.done) counter.read += n.value.length;
      return n;
    },
  };
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    const feed = (async () => {
      gunzip.write(head);
      for (;;) {
        const n = await it.next();
        if (n.done) break;
        if (!gunzip.write(n.value)) await new Promise((r) => gunzip.once('drain', r));
      }
      gunzip.end();
    })();
    feed.catch((e) => gunzip.destroy(e as Error));
    let out = 0;
    try {
      for await (const chunk of gunzip) {
        out += (chunk as Buffer).length;
        if (out > GZIP_RATIO_FLOOR_BYTES && out > GZIP_MAX_RATIO * counter.read) {
          gunzip.destroy();
          stream.destroy();
          throw new KeywatchError('INPUT_UNREADABLE', `${origin}: gzip data expands more than ${GZIP_MAX_RATIO}:1 (${out} bytes from ${counter.read}); refused as a likely gzip bomb`);
        }
        yield chunk as Buffer;
      }
    } catch (e) {
      if (e instanceof KeywatchError) throw e;
      throw new KeywatchError('INPUT_UNREADABLE', `${origin}: gzip data is corrupt or truncated (${(e as Error).message})`, { cause: e });
    }
    await feed;
    return;
  }
  yield head;
  for (;;) {
    const n = await it.next();
    if (n.done) return;
    yield n.value;
  }
}

export function openInput(path: string, stdin: Readable = process.stdin): Input {
  const counter = { read: 0 };
  if (path === '-') {
    return { transport: 'stdin', origin: 'stdin', chunks: maybeGunzip(stdin, 'stdin', counter), bytesRead: () => counter.read };
  }
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  return { transport: 'file', origin: path, chunks: maybeGunzip(stream, path, counter), sizeBytes: statSync(path).size, bytesRead: () => counter.read };
}
