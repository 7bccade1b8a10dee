/**
 * Splits a byte stream into records without holding the whole input in memory. Three layouts are
 * recognised from the first bytes:
 *  - `{"Records": [ ... ]}`: CloudTrail files as S3 delivers them, or `{"records": [ ... ]}`: Azure
 *    diagnostic logs as storage accounts and Event Hubs carry them; each element is a record;
 *  - `[ ... ]`: a JSON array of records (console or query-tool exports);
 *  - anything else: one record per line (NDJSON, EventBridge or CloudWatch Logs exports).
 * A record longer than `maxRecordBytes` is not buffered: it is reported as oversized with its
 * first bytes, so that it can be quarantined without costing memory.
 */
export type Framing = 'records-array' | 'json-array' | 'lines';

export type Framed =
  | { kind: 'record'; record: Buffer; position: string }
  | { kind: 'oversized'; prefix: Buffer; size: number; position: string }
  | { kind: 'truncated'; record: Buffer; position: string };

export interface FramingOptions {
  maxRecordBytes?: number;
  /** Force a layout instead of detecting it. */
  framing?: Framing;
}

const DEFAULT_MAX_RECORD = 4 * 1024 * 1024;
const PREFIX_KEEP = 64 * 1024;

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Accumulates chunks until `needBytes` or the end of the stream. */
async function peek(it: AsyncIterator<Buffer>, needBytes: number): Promise<{ head: Buffer; done: boolean }> {
  const parts: Buffer[] = [];
  let size = 0;
  while (size < needBytes) {
    const n = await it.next();
    if (n.done) return { head: Buffer.concat(parts), done: true };
    parts.push(n.value);
    size += n.value.length;
  }
  return { head: Buffer.concat(parts), done: false };
}

/**
 * Detects the layout from the start of the input. Returns the layout and, for records-array, the
 * offset just past the opening `[` of the array and its key as written (`Records` or `records`),
 * which names the positions (`records[3]`).
 */
export function detectFraming(head: Buffer): { framing: Framing; bodyStart: number; arrayKey?: string } {
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < head.length && isWs(head[i] as number)) i++;
  if (head[i] === 0x5b /* [ */) return { framing: 'json-array', bodyStart: i + 1 };
  if (head[i] === 0x7b /* { */) {
    const m = /^\{\s*"([Rr]ecords)"\s*:\s*\[/.exec(head.subarray(i, i + 256).toString('latin1'));
    if (m) return { framing: 'records-array', bodyStart: i + m[0].length, arrayKey: m[1] as string };
  }
  return { framing: 'lines', bodyStart: i };
}

/** Yields the records of each input chunk together: one await per chunk, not per record. */
export async function* frameRecords(input: AsyncIterable<Buffer>, opts: FramingOptions = {}): AsyncGenerator<Framed[]> {
  const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD;
  const it = input[Symbol.asyncIterator]();
  const { head, done } = await peek(it, 512);
  const detected = detectFraming(head);
  const framing = opts.framing ?? detected.framing;
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  }
  if (framing === 'lines') yield* frameLines(rest(), max);
  else yield* frameArray(rest(), framing === opts.framing ? detectFraming(head).bodyStart : detected.bodyStart, framing, max, detected.arrayKey ?? 'Records');
}

async function* frameLines(chunks: AsyncIterable<Buffer>, max: number): AsyncGenerator<Framed[]> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  let oversized = false;
  let line = 0;
  const emit = (parts: Buffer[], len: number): Framed | null => {
    line++;
    let rec = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, len);
    if (oversized || len > max) {
      oversized = false;
      return { kind: 'oversized', prefix: Buffer.from(rec.subarray(0, PREFIX_KEEP)), size: len, position: `line:${line}` };
    }
    if (rec.length > 0 && rec[rec.length - 1] === 0x0d) rec = rec.subarray(0, rec.length - 1);
    let j = 0;
    while (j < rec.length && isWs(rec[j] as number)) j++;
    if (j === rec.length) return null; // blank line
    if (line === 1 && rec[0] === 0xef && rec[1] === 0xbb && rec[2] === 0xbf) rec = rec.subarray(3);
    return { kind: 'record', record: rec, position: `line:${line}` };
  };
  for await (const chunk of chunks) {
    const batch: Framed[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      let out: Framed | null;
      if (carryLen === 0) {
        out = emit([piece], piece.length);
      } else {
        if (!oversized) carry.push(piece);
        out = emit(carry, carryLen + piece.length);
        carry = [];
        carryLen = 0;
      }
      if (out) batch.push(out);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const piece = chunk.subarray(start);
      if (!oversized) {
        // Copy: the chunk's memory may be reused by the stream.
        carry.push(Buffer.from(piece));
        if (carryLen + piece.length > max) {
          oversized = true;
          const kept = Buffer.concat(carry).subarray(0, PREFIX_KEEP);
          carry = [Buffer.from(kept)];
        }
      }
      carryLen += piece.length;
    }
    if (batch.length > 0) yield batch;
  }
  if (carryLen > 0) {
    const out = emit(carry, carryLen);
    if (out) yield [out];
  }
}

async function* frameArray(chunks: AsyncIterable<Buffer>, bodyStart: number, framing: Framing, max: number, arrayKey: string): AsyncGenerator<Framed[]> {
  let depth = 0; // container depth relative to the array's elements
  let inString = false;
  let escaped = false;
  let inElement = false;
  let ended = false;
  let index = 0;
  let parts: Buffer[] = [];
  let partsLen = 0;
  let size = 0;
  let oversized = false;
  const label = (i: number) => (framing === 'records-array' ? `${arrayKey}[${i}]` : `[${i}]`);
  let first = true;

  const finish = (): Framed => {
    const position = label(index++);
    const rec = Buffer.concat(parts, partsLen);
    const out: Framed = oversized ? { kind: 'oversized', prefix: rec.subarray(0, PREFIX_KEEP), size, position } : { kind: 'record', record: rec, position };
    parts = [];
    partsLen = 0;
    size = 0;
    oversized = false;
    inElement = false;
    return out;
  };
  const keep = (piece: Buffer) => {
    size += piece.length;
    if (oversized) return;
    parts.push(Buffer.from(piece));
    partsLen += piece.length;
    if (partsLen > max) {
      oversized = true;
      const kept = Buffer.concat(parts).subarray(0, PREFIX_KEEP);
      parts = [kept];
      partsLen = kept.length;
    }
  };

  for await (const chunk0 of chunks) {
    if (ended) continue; // drain the input after the array closes
    const chunk = first ? chunk0.subarray(bodyStart) : chunk0;
    first = false;
    const batch: Framed[] = [];
    let elementStart = inElement ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (!inElement) {
        if (isWs(c) || c === 0x2c /* , */) continue;
        if (c === 0x5d /* ] */) {
          ended = true;
          break;
        }
        inElement = true;
        elementStart = i;
        depth = 0;
      }
      if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        depth--;
        if (depth === 0) {
          keep(chunk.subarray(elementStart, i + 1));
          batch.push(finish());
          elementStart = -1;
        } else if (depth < 0) {
          // A scalar element directly followed by the closing bracket.
          depth = 0;
          keep(chunk.subarray(elementStart, i));
          batch.push(finish());
          ended = true;
          break;
        }
      } else if (depth === 0 && (c === 0x2c || isWs(c))) {
        // End of a scalar element.
        keep(chunk.subarray(elementStart, i));
        batch.push(finish());
        elementStart = -1;
      }
    }
    if (!ended && inElement && elementStart !== -1) keep(chunk.subarray(elementStart));
    if (batch.length > 0) yield batch;
  }
  if (inElement && size > 0) {
    const out = finish();
    yield [out.kind === 'record' ? { kind: 'truncated', record: out.record, position: out.position } : out];
  }
}
