/**
 * One batch of raw records encoded as ClickHouse RowBinary rows `(seq UInt32, origin String,
 * position String, record String)`: length-prefixed bytes, so nothing is escaped on the way in and ClickHouse
 * copies rather than parses. Records stay bytes as received; nothing is decoded here.
 */
export const RECORD_BATCH_STRUCTURE = 'seq UInt32, origin String, position String, record String';

export class RecordBatch {
  private buf: Buffer;
  private len = 0;
  count = 0;
  /** Bytes of record content, for throughput figures. */
  recordBytes = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get byteLength(): number {
    return this.len;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.len++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.len++] = n;
  }

  /** Appends one record and returns its seq. */
  add(record: Buffer, origin: string, position: string): number {
    const seq = this.count++;
    this.recordBytes += record.length;
    const originBytes = Buffer.byteLength(origin);
    const posBytes = Buffer.byteLength(position);
    this.ensure(4 + 10 + originBytes + 10 + posBytes + 10 + record.length);
    this.buf.writeUInt32LE(seq, this.len);
    this.len += 4;
    this.varint(originBytes);
    this.len += this.buf.write(origin, this.len, 'utf8');
    this.varint(posBytes);
    this.len += this.buf.write(position, this.len, 'utf8');
    this.varint(record.length);
    this.len += record.copy(this.buf, this.len);
    return seq;
  }

  /** The payload; valid until the next `reset`. */
  payload(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  reset(): void {
    this.len = 0;
    this.count = 0;
    this.recordBytes = 0;
  }
}
