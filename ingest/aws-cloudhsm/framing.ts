import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Framed } from '../framing.ts';

/**
 * Framing for AWS CloudHSM audit logs: turns an input into one record per audit entry.
 *
 * CloudHSM writes one multi-line text entry per management command into CloudWatch Logs, one log
 * stream per HSM (named by the HSM id) in the log group `/aws/cloudhsm/<cluster-id>`. The entry
 * itself never names its HSM or cluster, so each record is wrapped into a small JSON document that
 * keeps the entry and where it came from (see `CloudHsmRecord`). Inputs:
 *  - JSON (first byte `{` or `[`): CloudWatch Logs subscription deliveries
 *    (`{"messageType", "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents": [...]}`,
 *    one or many documents, concatenated or one per line, gzip already removed by the transport),
 *    Lambda's `{"awslogs": {"data": "<base64 gzip>"}}`, the output of `aws logs filter-log-events`
 *    or `get-log-events` (`{"events": [...]}`), and single event objects;
 *  - anything else: text, the entries one after another, each starting at a `Time:` line that may
 *    carry a CloudWatch timestamp prefix (S3 export: `<ISO time> Time: ...`; `aws logs tail`:
 *    `<ISO time> <stream> Time: ...`).
 * Positions: `logEvents[i]` / `events[i]` (with `doc:N/` from the second document of an input on),
 * `line:N` for text. Memory stays bounded: an entry, or a JSON value read for the envelope, larger
 * than `maxRecordBytes` is reported as oversized with its first bytes.
 */

const PREFIX_KEEP = 64 * 1024;
/** Bound for a Lambda `awslogs.data` payload once gunzipped (CloudWatch sends at most about 1 MB). */
const MAX_AWSLOGS_BYTES = 64 * 1024 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * One audit entry as keywatch stores it in `raw_events.record`. Only `via`, `stream` and `message`
 * are always present; the rest appear when the input says them.
 *
 * @example {"via":"subscription","stream":"hsm-abcde123456","hsm":"hsm-abcde123456","cluster":"cluster-igklspoyj5v","log_group":"/aws/cloudhsm/cluster-igklspoyj5v","owner":"111122223333","cw_id":"3793...","cw_timestamp":1772439501005,"message":"Time: 03/02/26 08:18:21.004512, usecs:1772439501004512\nSequence No : 0x3a1\n..."}
 */
export interface CloudHsmRecord {
  /** How the entry arrived: subscription, filter-log-events, get-log-events, json (a bare event object), text. */
  via: 'subscription' | 'filter-log-events' | 'get-log-events' | 'json' | 'text';
  /** The log stream the entry belongs to: the HSM id, the cluster id (certificate-storage stream), or the file name. */
  stream: string;
  hsm?: string;
  cluster?: string;
  log_group?: string;
  /** The AWS account that owns the log group (subscription deliveries). */
  owner?: string;
  message_type?: string;
  subscription_filters?: string[];
  cw_id?: string;
  /** CloudWatch's event timestamp, ms since the epoch. */
  cw_timestamp?: number;
  cw_ingestion_time?: number;
  /** The timestamp (and stream) prefix of a text line, as written. */
  line_prefix?: string;
  /** Set when framing already knows the record is bad; the normalizer quarantines it with this reason. */
  error_reason?: string;
  error?: string;
  message: string;
}

const HSM_ID = /(?:^|[^A-Za-z0-9])(hsm-[A-Za-z0-9]{3,})/g;
const CLUSTER_ID = /(?:^|[^A-Za-z0-9])(cluster-[A-Za-z0-9]{3,})/g;

const lastMatch = (re: RegExp, s: string): string => {
  let last = '';
  for (const m of s.matchAll(re)) last = m[1] ?? last;
  return last;
};

/**
 * What an input's name says about its stream: the HSM id is the last `hsm-<id>` in the path, the
 * cluster id the last `cluster-<id>` (each preceded by a separator, so `cloudhsm-audit` is not an
 * HSM id); without an HSM id the stream is the file name itself (for a Kafka message, its topic and
 * partition). normalize-sql.ts applies the HSM and cluster rule to the origin of records that
 * arrive framed by someone else.
 *
 * @example streamFromOrigin('exports/cluster-igklspoyj5v/hsm-abcde123456.log.gz') // { stream: 'hsm-abcde123456', hsm: 'hsm-abcde123456', cluster: 'cluster-igklspoyj5v' }
 */
export function streamFromOrigin(origin: string): { stream: string; hsm: string; cluster: string } {
  const hsm = lastMatch(HSM_ID, origin);
  const cluster = lastMatch(CLUSTER_ID, origin);
  // A Kafka message's origin is `kafka:<topic>/<partition>@<offset>`: the topic and partition name the stream.
  const fallback = origin.startsWith('kafka:') ? origin.replace(/@\d+$/, '') : basename(origin) || origin;
  return { stream: hsm !== '' ? hsm : fallback, hsm, cluster };
}

/** The cluster id in a CloudHSM log group name (`/aws/cloudhsm/<cluster-id>`). */
function clusterFromLogGroup(logGroup: string): string {
  return lastMatch(CLUSTER_ID, logGroup);
}

function toRecord(r: CloudHsmRecord): Buffer {
  // Fixed key order, empty fields left out: the record's hash is stable across re-ingest.
  const o: Record<string, unknown> = { via: r.via, stream: r.stream };
  for (const k of ['hsm', 'cluster', 'log_group', 'owner', 'message_type', 'subscription_filters', 'cw_id', 'cw_timestamp', 'cw_ingestion_time', 'line_prefix', 'error_reason', 'error'] as const) {
    const v = r[k];
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    o[k] = v;
  }
  o.message = r.message;
  return Buffer.from(JSON.stringify(o));
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A byte range being collected across chunks, bounded by `limit`. */
class Capture {
  open = false;
  private start = 0;
  private parts: Buffer[] = [];
  private len = 0;
  size = 0;
  over = false;
  constructor(private readonly limit: number) {}
  begin(i: number): void {
    this.open = true;
    this.start = i;
    this.parts = [];
    this.len = 0;
    this.size = 0;
    this.over = false;
  }
  private keep(piece: Buffer, copy: boolean): void {
    this.size += piece.length;
    if (this.over) return;
    this.parts.push(copy ? Buffer.from(piece) : piece);
    this.len += piece.length;
    if (this.len > this.limit) {
      this.over = true;
      const kept = Buffer.concat(this.parts, this.len).subarray(0, Math.min(this.limit, PREFIX_KEEP));
      this.parts = [Buffer.from(kept)];
      this.len = kept.length;
    }
  }
  /** At the end of a chunk: keep what the chunk holds of the open range (copied, the chunk may be reused). */
  carry(chunk: Buffer): void {
    if (!this.open) return;
    this.keep(chunk.subarray(this.start), true);
    this.start = 0;
  }
  end(chunk: Buffer, i: number): Buffer {
    this.keep(chunk.subarray(this.start, i), false);
    this.open = false;
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.len);
  }
  /** What was kept when the input ends inside the range. */
  abandon(): Buffer {
    this.open = false;
    return Buffer.concat(this.parts, this.len);
  }
}

/** Top-level keys whose values the scanner reads; every other value is skipped without being kept. */
const HEADER_KEYS = new Set(['messageType', 'owner', 'logGroup', 'logStream', 'subscriptionFilters', 'awslogs', 'message', 'timestamp', 'logStreamName', 'id', 'eventId', 'ingestionTime']);
const EVENT_ARRAYS = new Set(['logEvents', 'events']);

/**
 * A streaming scanner over concatenated JSON documents. The `logEvents` / `events` array of each
 * document is split into its elements as they pass, so a large `filter-log-events` output never
 * sits in memory whole; the other top-level values it needs (log group, stream, owner ...) are
 * small and kept.
 */
class JsonScanner {
  private depth = 0;
  private base = 0;
  private inString = false;
  private escaped = false;
  private offset = 0;

  private docIndex = -1;
  private expectKey = true;
  private valuePending = false;
  private curKey = '';
  private keyCap: Capture;
  private valueCap: Capture;
  private elemCap: Capture;
  private docCap: Capture;
  private garbage: Capture;
  private garbageAt = 0;
  private header: Record<string, unknown> = {};
  private eventsKey = '';
  private inEvents = false;
  private sawEvents = false;
  private elemIndex = 0;
  private pending: { ev: Record<string, unknown>; position: string }[] = [];
  private pendingBytes = 0;
  private out: Framed[] = [];
  /** What the input's name says (the stream when the JSON does not say it). */
  private readonly o: { stream: string; hsm: string; cluster: string };

  constructor(
    private readonly max: number,
    private readonly origin: string,
    private readonly prefix = '',
  ) {
    this.o = streamFromOrigin(origin);
    this.keyCap = new Capture(1024);
    this.valueCap = new Capture(max);
    this.elemCap = new Capture(max);
    this.docCap = new Capture(Math.min(max, PREFIX_KEEP));
    this.garbage = new Capture(max);
  }

  private label(inner: string): string {
    const doc = this.base === 1 ? `[${this.docIndex}]` : this.docIndex > 0 ? `doc:${this.docIndex + 1}` : '';
    const parts = [this.prefix, doc, inner].filter((p) => p !== '');
    return parts.length > 0 ? parts.join('/') : 'doc:1';
  }

  push(chunk: Buffer): Framed[] {
    for (let i = 0; i < chunk.length; i++) {
      if (this.inString) {
        const q = this.stringEnd(chunk, i);
        if (q === -1) break;
        i = q;
        this.inString = false;
        if (this.keyCap.open) this.curKey = this.keyCap.end(chunk, i).toString('utf8');
        continue;
      }
      const c = chunk[i] as number;
      if (isWs(c)) continue;
      const d = this.depth;
      const D = this.base;
      if (d === D) {
        this.between(chunk, i, c);
        continue;
      }
      if (d === D + 1) {
        this.inDocument(chunk, i, c);
        continue;
      }
      // Deeper: inside a top-level value, or inside the events array.
      const atElements = this.inEvents && d === D + 2;
      if (c === QUOTE) {
        if (atElements && !this.elemCap.open) this.elemCap.begin(i);
        this.inString = true;
      } else if (c === LBRACE || c === LBRACKET) {
        if (atElements && !this.elemCap.open) this.elemCap.begin(i);
        this.depth++;
      } else if (c === RBRACE || c === RBRACKET) {
        this.depth--;
        if (atElements) {
          // The events array closes.
          if (this.elemCap.open) this.element(this.elemCap.end(chunk, i));
          this.inEvents = false;
        } else if (this.depth === D + 1 && this.valueCap.open) {
          this.value(this.valueCap.end(chunk, i + 1));
        } else if (this.inEvents && this.depth === D + 2 && this.elemCap.open) {
          this.element(this.elemCap.end(chunk, i + 1));
        }
      } else if (c === COMMA) {
        if (atElements && this.elemCap.open) this.element(this.elemCap.end(chunk, i));
      } else if (atElements && !this.elemCap.open) {
        this.elemCap.begin(i);
      }
    }
    for (const cap of [this.keyCap, this.valueCap, this.elemCap, this.docCap, this.garbage]) cap.carry(chunk);
    this.offset += chunk.length;
    const out = this.out;
    this.out = [];
    return out;
  }

  /**
   * The index of the quote that closes the string the scanner is in, searching from `from`; -1
   * when the string runs past the chunk (then `escaped` says whether the chunk ended on an escape).
   * Log messages are most of the bytes, so strings are skipped with indexOf, not byte by byte.
   */
  private stringEnd(chunk: Buffer, from: number): number {
    let k = from;
    if (this.escaped) {
      this.escaped = false;
      k++;
    }
    for (;;) {
      const q = chunk.indexOf(QUOTE, k);
      const stop = q === -1 ? chunk.length : q;
      let backslashes = 0;
      for (let p = stop - 1; p >= k && chunk[p] === BACKSLASH; p--) backslashes++;
      if (q === -1) {
        this.escaped = backslashes % 2 === 1;
        return -1;
      }
      if (backslashes % 2 === 0) return q;
      k = q + 1;
    }
  }

  /** A byte between documents (depth = base). */
  private between(chunk: Buffer, i: number, c: number): void {
    if (c === LBRACE) {
      this.flushGarbage(chunk, i);
      this.startDocument(i);
      this.depth++;
    } else if (c === LBRACKET && this.base === 0 && this.docIndex === -1 && !this.garbage.open) {
      // A JSON array of documents (or of events).
      this.base = 1;
      this.depth = 1;
    } else if (c === RBRACKET && this.base === 1) {
      this.flushGarbage(chunk, i);
      this.base = 0;
      this.depth = 0;
    } else if (c === COMMA && this.base === 1) {
      this.flushGarbage(chunk, i);
    } else if (!this.garbage.open) {
      this.garbage.begin(i);
      this.garbageAt = this.offset + i;
    }
  }

  /** A byte at the top level of a document (depth = base + 1). */
  private inDocument(chunk: Buffer, i: number, c: number): void {
    if (this.expectKey) {
      if (c === QUOTE) {
        this.keyCap.begin(i + 1);
        this.inString = true;
      } else if (c === COLON) {
        this.expectKey = false;
        this.valuePending = true;
      } else if (c === RBRACE) {
        this.depth--;
        this.endDocument(chunk, i);
      }
      return;
    }
    if (this.valuePending) {
      this.valuePending = false;
      if (EVENT_ARRAYS.has(this.curKey) && c === LBRACKET) {
        this.eventsKey = this.curKey;
        this.inEvents = true;
        this.sawEvents = true;
        this.elemIndex = 0;
        this.depth++;
        return;
      }
      if (HEADER_KEYS.has(this.curKey)) this.valueCap.begin(i);
      if (c === LBRACE || c === LBRACKET) this.depth++;
      else if (c === QUOTE) this.inString = true;
      return;
    }
    if (c === COMMA) {
      if (this.valueCap.open) this.value(this.valueCap.end(chunk, i));
      this.expectKey = true;
    } else if (c === RBRACE) {
      if (this.valueCap.open) this.value(this.valueCap.end(chunk, i));
      this.depth--;
      this.endDocument(chunk, i);
    }
  }

  private startDocument(i: number): void {
    this.docIndex++;
    this.expectKey = true;
    this.valuePending = false;
    this.curKey = '';
    this.header = {};
    this.eventsKey = '';
    this.inEvents = false;
    this.sawEvents = false;
    this.elemIndex = 0;
    this.pending = [];
    this.pendingBytes = 0;
    this.docCap.begin(i);
  }

  private value(buf: Buffer): void {
    const key = this.curKey;
    if (this.valueCap.over) {
      this.header[key] = undefined;
      return;
    }
    try {
      this.header[key] = JSON.parse(buf.toString('utf8')) as unknown;
    } catch {
      this.header[key] = undefined;
    }
  }

  private headerComplete(): boolean {
    return this.eventsKey === 'events' || ('logStream' in this.header && 'logGroup' in this.header && 'messageType' in this.header);
  }

  private element(buf: Buffer): void {
    const position = this.label(`${this.eventsKey}[${this.elemIndex++}]`);
    if (this.elemCap.over) {
      this.out.push({ kind: 'oversized', prefix: Buffer.from(buf), size: this.elemCap.size, position });
      return;
    }
    let ev: unknown;
    try {
      ev = JSON.parse(buf.toString('utf8'));
    } catch (e) {
      this.emitError('invalid_json', `${this.eventsKey}[${this.elemIndex - 1}] is not valid JSON: ${(e as Error).message}`, buf.toString('utf8'), position);
      return;
    }
    if (typeof ev !== 'object' || ev === null || Array.isArray(ev)) {
      this.emitError('not_an_object', `${this.eventsKey}[${this.elemIndex - 1}] is not a log event object`, buf.toString('utf8'), position);
      return;
    }
    if (this.headerComplete()) {
      this.flushPending();
      this.emitEvent(ev as Record<string, unknown>, position);
      return;
    }
    // The envelope's stream and group come after its events (CloudWatch writes them before):
    // hold the events until the document ends, within the record bound.
    this.pending.push({ ev: ev as Record<string, unknown>, position });
    this.pendingBytes += buf.length;
    if (this.pendingBytes > this.max) this.flushPending();
  }

  private flushPending(): void {
    for (const p of this.pending) this.emitEvent(p.ev, p.position);
    this.pending = [];
    this.pendingBytes = 0;
  }

  private emitEvent(ev: Record<string, unknown>, position: string): void {
    const h = this.header;
    const fromSubscription = this.eventsKey === 'logEvents';
    const logStream = str(ev.logStreamName) || str(h.logStream) || str(h.logStreamName);
    const logGroup = str(h.logGroup);
    const o = this.o;
    const stream = logStream !== '' ? logStream : o.stream;
    const hsm = logStream !== '' ? (/^hsm-/.test(logStream) ? logStream : '') : o.hsm;
    const cluster = clusterFromLogGroup(logGroup) || o.cluster;
    const via: CloudHsmRecord['via'] = fromSubscription ? 'subscription' : this.eventsKey === 'events' ? (str(ev.logStreamName) !== '' ? 'filter-log-events' : 'get-log-events') : 'json';
    const filters = Array.isArray(h.subscriptionFilters) ? h.subscriptionFilters.map(str).filter((s) => s !== '') : [];
    const rec: CloudHsmRecord = {
      via,
      stream,
      hsm,
      cluster,
      log_group: logGroup,
      owner: str(h.owner),
      message_type: str(h.messageType),
      subscription_filters: filters,
      cw_id: str(ev.id) || str(ev.eventId),
      message: typeof ev.message === 'string' ? ev.message : '',
    };
    const ts = num(ev.timestamp);
    if (ts !== undefined) rec.cw_timestamp = ts;
    const ing = num(ev.ingestionTime);
    if (ing !== undefined) rec.cw_ingestion_time = ing;
    if (typeof ev.message !== 'string') {
      rec.error_reason = 'missing_message';
      rec.error = 'the log event has no "message" string';
      rec.message = JSON.stringify(ev);
    }
    this.out.push({ kind: 'record', record: toRecord(rec), position });
  }

  private emitError(reason: string, error: string, text: string, position: string): void {
    const o = this.o;
    this.out.push({ kind: 'record', record: toRecord({ via: 'json', stream: o.stream, hsm: o.hsm, cluster: o.cluster, error_reason: reason, error, message: text }), position });
  }

  private endDocument(chunk: Buffer, i: number): void {
    const docText = this.docCap.end(chunk, i + 1);
    const position = this.label('');
    if (this.sawEvents) {
      this.flushPending();
      return;
    }
    const h = this.header;
    if ('awslogs' in h) {
      this.awslogs(h.awslogs, docText, position);
      return;
    }
    if (typeof h.message === 'string') {
      // One log event on its own (a line of NDJSON events, an element of a JSON array).
      this.eventsKey = '';
      this.emitEvent(h, position);
      return;
    }
    if (this.docCap.over) {
      this.out.push({ kind: 'oversized', prefix: Buffer.from(docText), size: this.docCap.size, position });
      return;
    }
    // A document that is no log event: a certificate-storage record written bare, or anything
    // else. The normalizer tells them apart.
    const o = this.o;
    this.out.push({ kind: 'record', record: toRecord({ via: 'json', stream: o.stream, hsm: o.hsm, cluster: o.cluster, message: docText.toString('utf8') }), position });
  }

  /** Lambda's CloudWatch Logs event: `{"awslogs": {"data": base64(gzip(subscription document))}}`. */
  private awslogs(value: unknown, docText: Buffer, position: string): void {
    const data = typeof value === 'object' && value !== null ? (value as { data?: unknown }).data : undefined;
    let decoded: Buffer;
    try {
      if (typeof data !== 'string') throw new Error('awslogs.data is not a string');
      decoded = gunzipSync(Buffer.from(data, 'base64'), { maxOutputLength: MAX_AWSLOGS_BYTES });
    } catch (e) {
      this.emitError('undecodable_payload', `awslogs.data is not base64-encoded gzip: ${(e as Error).message}`, docText.toString('utf8'), position);
      return;
    }
    const inner = new JsonScanner(this.max, this.origin, `${position === 'doc:1' ? '' : `${position}/`}awslogs`);
    this.out.push(...inner.push(decoded), ...inner.end());
  }

  private flushGarbage(chunk: Buffer, i: number): void {
    if (!this.garbage.open) return;
    const text = this.garbage.end(chunk, i);
    const position = `byte:${this.garbageAt}`;
    if (this.garbage.over) {
      this.out.push({ kind: 'oversized', prefix: Buffer.from(text), size: this.garbage.size, position });
      return;
    }
    this.emitError('invalid_json', 'text between JSON documents that is not JSON', text.toString('utf8').trimEnd(), position);
  }

  end(): Framed[] {
    if (this.garbage.open) {
      const text = this.garbage.abandon();
      const position = `byte:${this.garbageAt}`;
      if (this.garbage.over) this.out.push({ kind: 'oversized', prefix: text, size: this.garbage.size, position });
      else this.emitError('invalid_json', 'text after the last JSON document that is not JSON', text.toString('utf8').trimEnd(), position);
    }
    if (this.depth > this.base) {
      // The input ended inside a document: keep the complete events, report the cut one.
      this.flushPending();
      if (this.inEvents && this.elemCap.open) {
        this.out.push({ kind: 'truncated', record: this.elemCap.abandon(), position: this.label(`${this.eventsKey}[${this.elemIndex}]`) });
      } else if (!this.sawEvents) {
        this.out.push({ kind: 'truncated', record: this.docCap.abandon(), position: this.label('') });
      }
    }
    const out = this.out;
    this.out = [];
    return out;
  }
}

// A CloudWatch timestamp before an entry's first line, and optionally the stream name after it.
const TS = String.raw`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?`;
const ENTRY_START = new RegExp(String.raw`^(?:(${TS})\s+(?:(?!Time\s*:)(\S+)\s+)?)?(Time\s*:.*)$`);
const JSON_LINE = new RegExp(String.raw`^(?:(${TS})\s+(?:(?!\{)(\S+)\s+)?)?(\{.*)$`);
const TS_ONLY = new RegExp(String.raw`^(${TS})\s+(.*)$`);

interface TextEntry {
  line: number;
  lines: string[];
  /** Bytes of the entry in the input, and of what is kept of it. */
  bytes: number;
  kept: number;
  over: boolean;
  prefix: string;
  ts: string;
  stream: string;
  oneLine: boolean;
}

/**
 * Text: an entry starts at each `Time:` line (after an optional CloudWatch timestamp and stream
 * name) and runs to the next one; a JSON line (a certificate-storage record) is an entry of its
 * own. Lines before the first entry become one record, which the normalizer quarantines.
 */
class TextFramer {
  private carry: Buffer[] = [];
  private carryLen = 0;
  private carryOver = false;
  private lineNo = 0;
  private cur: TextEntry | null = null;
  private out: Framed[] = [];
  private readonly o: { stream: string; hsm: string; cluster: string };

  constructor(
    private readonly max: number,
    origin: string,
  ) {
    this.o = streamFromOrigin(origin);
  }

  push(chunk: Buffer): Framed[] {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.carryLen === 0) this.line(piece, piece.length);
      else {
        if (!this.carryOver) this.carry.push(piece);
        this.line(Buffer.concat(this.carry), this.carryLen + piece.length);
        this.carry = [];
        this.carryLen = 0;
        this.carryOver = false;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const piece = chunk.subarray(start);
      if (!this.carryOver) {
        this.carry.push(Buffer.from(piece));
        if (this.carryLen + piece.length > this.max) {
          this.carryOver = true;
          const kept = Buffer.concat(this.carry).subarray(0, PREFIX_KEEP);
          this.carry = [Buffer.from(kept)];
        }
      }
      this.carryLen += piece.length;
    }
    const out = this.out;
    this.out = [];
    return out;
  }

  end(): Framed[] {
    if (this.carryLen > 0) {
      this.line(Buffer.concat(this.carry), this.carryLen);
      this.carry = [];
      this.carryLen = 0;
    }
    this.finish();
    const out = this.out;
    this.out = [];
    return out;
  }

  /** One line; `size` is its full length when only its first bytes were kept. */
  private line(buf: Buffer, size: number): void {
    this.lineNo++;
    let text = buf.toString('utf8');
    if (this.lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    const lineOver = size > buf.length || size > this.max;
    // Most lines are an entry's fields: a cheap look for "Time" and "{" spares them the expressions.
    const start = lineOver || !text.includes('Time') ? null : ENTRY_START.exec(text);
    const json = start || lineOver || !text.includes('{') ? null : JSON_LINE.exec(text);
    if (start || json) {
      this.finish();
      const m = (start ?? json) as RegExpExecArray;
      const body = m[3] as string;
      this.cur = { line: this.lineNo, lines: [body], bytes: body.length, kept: body.length, over: false, prefix: text.slice(0, text.length - body.length).trim(), ts: m[1] ?? '', stream: m[2] ?? '', oneLine: json !== null };
      if (json) this.finish();
      return;
    }
    if (!this.cur) {
      if (text.trim() === '') return;
      this.cur = { line: this.lineNo, lines: [], bytes: 0, kept: 0, over: false, prefix: '', ts: '', stream: '', oneLine: false };
    }
    const e = this.cur;
    if (e.ts !== '' && text.charCodeAt(4) === 0x2d /* - */) {
      // Tools that split a multi-line message into lines repeat the timestamp (and stream) on each.
      const t = TS_ONLY.exec(text);
      if (t) {
        text = t[2] as string;
        if (e.stream !== '' && text.startsWith(`${e.stream} `)) text = text.slice(e.stream.length + 1);
      }
    }
    e.bytes += size + 1;
    if (lineOver || e.bytes > this.max) e.over = true;
    if (!e.over || e.kept < PREFIX_KEEP) {
      e.lines.push(e.over ? text.slice(0, PREFIX_KEEP) : text);
      e.kept += text.length + 1;
    }
  }

  private finish(): void {
    const e = this.cur;
    if (!e) return;
    this.cur = null;
    while (e.lines.length > 0 && (e.lines[e.lines.length - 1] as string).trim() === '') e.lines.pop();
    const message = e.lines.join('\n');
    const position = `line:${e.line}`;
    if (e.over) {
      this.out.push({ kind: 'oversized', prefix: Buffer.from(message.slice(0, PREFIX_KEEP)), size: e.bytes, position });
      return;
    }
    const hsm = e.stream !== '' ? (/^hsm-/.test(e.stream) ? e.stream : '') : this.o.hsm;
    const rec: CloudHsmRecord = { via: 'text', stream: e.stream || this.o.stream, hsm, cluster: this.o.cluster, line_prefix: e.prefix, message };
    // A timestamp without a zone is UTC, as CloudWatch prints it.
    const iso = e.ts.replace(' ', 'T').replace(',', '.');
    const ts = e.ts === '' ? Number.NaN : Date.parse(/(?:Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`);
    if (Number.isFinite(ts)) rec.cw_timestamp = ts;
    this.out.push({ kind: 'record', record: toRecord(rec), position });
  }
}

/**
 * The collector's frame hook: chooses JSON or text from the first non-blank byte and yields the
 * records of each input chunk together.
 */
export async function* frameCloudHsm(chunks: AsyncIterable<Buffer>, opts: { maxRecordBytes: number; origin: string }): AsyncGenerator<Framed[]> {
  let framer: JsonScanner | TextFramer | undefined;
  for await (const chunk of chunks) {
    if (!framer) {
      let i = 0;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
      while (i < chunk.length && isWs(chunk[i] as number)) i++;
      if (i === chunk.length) continue; // only blanks so far
      framer = chunk[i] === LBRACE || chunk[i] === LBRACKET ? new JsonScanner(opts.maxRecordBytes, opts.origin) : new TextFramer(opts.maxRecordBytes, opts.origin);
      const out = framer.push(i > 0 && framer instanceof JsonScanner ? chunk.subarray(i) : chunk);
      if (out.length > 0) yield out;
      continue;
    }
    const out = framer.push(chunk);
    if (out.length > 0) yield out;
  }
  if (framer) {
    const out = framer.end();
    if (out.length > 0) yield out;
  }
}
