import type { Readable } from 'node:stream';
import { gunzip } from 'node:zlib';
import { detectFraming } from '../framing.ts';

/**
 * Reading and decoding an HTTP push body, with the size limit applied to the bytes on the wire and
 * again to the decompressed bytes, so that a small gzip body cannot expand past the limit.
 */

/** A request-level failure, answered with `status` and `{ error: { code, message } }`. */
export interface HttpProblem {
  status: 400 | 413 | 415;
  code: string;
  message: string;
}

export type BodyResult = { ok: true; value: Buffer } | { ok: false; error: HttpProblem };

/** What a Content-Type says about the body: JSON or text to frame, or a gzip file. */
export type MediaKind = 'records' | 'gzip';

const MEDIA_TYPES: Readonly<Record<string, MediaKind>> = {
  'application/json': 'records',
  'application/x-ndjson': 'records',
  'application/jsonl': 'records',
  // Text formats (HSM audit logs) arrive as text/plain.
  'text/plain': 'records',
  'application/gzip': 'gzip',
  'application/x-gzip': 'gzip',
  // Accepted only when the body is gzip: arbitrary binary is not a log format keywatch reads.
  'application/octet-stream': 'gzip',
};

export const ACCEPTED_MEDIA_TYPES: readonly string[] = Object.keys(MEDIA_TYPES);

/** The media kind of a Content-Type header (parameters such as charset ignored), or undefined when not accepted. */
export function mediaKind(contentType: string | undefined): MediaKind | undefined {
  if (contentType === undefined) return undefined;
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return Object.hasOwn(MEDIA_TYPES, type) ? MEDIA_TYPES[type] : undefined;
}

/** `gzip` or `identity` from a Content-Encoding header, or undefined for an encoding keywatch does not decode. */
export function contentCoding(header: string | undefined): 'gzip' | 'identity' | undefined {
  if (header === undefined) return 'identity';
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return 'identity';
  if (codings.length === 1 && (codings[0] === 'gzip' || codings[0] === 'x-gzip')) return 'gzip';
  return undefined;
}

export const tooLarge = (maxBytes: number, what: string): HttpProblem => ({
  status: 413,
  code: 'body_too_large',
  message: `the ${what} is over the ${maxBytes}-byte limit (http.maxBodyBytes); send smaller requests`,
});

/**
 * Reads a request body into memory, up to `maxBytes`. Past the limit the rest is read and thrown
 * away (so the 413 can be delivered on the same connection) and nothing is kept.
 */
export function readBody(req: Readable, maxBytes: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (r: BodyResult) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        parts.length = 0;
        settle({ ok: false, error: tooLarge(maxBytes, 'request body') });
        req.resume();
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => settle({ ok: true, value: Buffer.concat(parts, size) });
    const onClose = () => settle({ ok: false, error: { status: 400, code: 'body_incomplete', message: 'the connection closed before the request body ended' } });
    // Errors on the request stream are followed by 'close'; this listener only keeps them from being unhandled.
    req.on('error', () => undefined);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
const isWs = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Makes one pretty-printed JSON record fit the generic framing (framing.ts), which knows
 * `{"Records":[...]}` / `{"records":[...]}`, `[...]` and one record per line: its line breaks
 * become spaces, so it is one line. Raw line breaks cannot occur inside a JSON string, so the
 * document means the same. Tried only when the body starts with `{`, its first line is not a JSON
 * value on its own (as it is in NDJSON), it is no larger than one record may be
 * (`maxRecordBytes`; a larger one would be quarantined as too large anyway) and it parses whole.
 * Anything else is returned as is. The buffer is changed in place.
 */
export function fitJsonFraming(body: Buffer, maxRecordBytes: number): Buffer {
  let i = 0;
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) i = 3;
  while (i < body.length && isWs(body[i])) i++;
  // Arrays and Records wrappers are framed element by element, their bytes untouched.
  if (body[i] !== 0x7b /* { */ || detectFraming(body.subarray(0, 512)).framing !== 'lines') return body;
  const nl = body.indexOf(0x0a, i);
  if (nl === -1 || body.length - i > maxRecordBytes) return body;
  let rest = nl;
  while (rest < body.length && isWs(body[rest])) rest++;
  if (rest === body.length) return body; // one line and trailing blank space
  try {
    JSON.parse(body.subarray(i, nl).toString('utf8'));
    return body; // the first line is a record of its own: NDJSON
  } catch {
    // Not a record on its own: perhaps the first line of a pretty-printed document.
  }
  try {
    JSON.parse(body.subarray(i).toString('utf8'));
  } catch {
    return body; // lines that are not one document: framed per line, bad lines quarantined
  }
  for (let j = i; j < body.length; j++) if (body[j] === 0x0a || body[j] === 0x0d) body[j] = 0x20;
  return body;
}

function gunzipLimited(body: Buffer, maxBytes: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    // maxOutputLength stops inflating as soon as the output passes the limit: a gzip bomb costs
    // at most maxBytes of memory.
    gunzip(body, { maxOutputLength: maxBytes }, (err, out) => {
      if (!err) resolve({ ok: true, value: out });
      else if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') resolve({ ok: false, error: tooLarge(maxBytes, 'decompressed request body') });
      else resolve({ ok: false, error: { status: 400, code: 'invalid_gzip', message: `the gzip body is corrupt or truncated (${err.message})` } });
    });
  });
}

/**
 * Decodes a body: Content-Encoding gzip, then gzip found by its magic bytes (a `.gz` file sent as
 * is), each at most once. `application/gzip` and `application/octet-stream` must turn out gzip.
 */
export async function decodeBody(body: Buffer, opts: { coding: 'gzip' | 'identity'; kind: MediaKind; maxBytes: number }): Promise<BodyResult> {
  let value = body;
  if (opts.coding === 'gzip') {
    const r = await gunzipLimited(value, opts.maxBytes);
    if (!r.ok) return r;
    value = r.value;
  }
  if (isGzip(value)) {
    const r = await gunzipLimited(value, opts.maxBytes);
    if (!r.ok) return r;
    value = r.value;
  } else if (opts.kind === 'gzip' && opts.coding !== 'gzip') {
    return { ok: false, error: { status: 415, code: 'unsupported_media_type', message: 'a body sent as application/gzip or application/octet-stream must be gzip data' } };
  }
  return { ok: true, value };
}
