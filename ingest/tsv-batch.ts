/**
 * Builds the TSV payload `seq \t position \t record \n` for one batch directly in a byte buffer,
 * escaping only what ClickHouse's TabSeparated format requires (backslash, tab, newline, CR).
 * Records are bytes as received; no UTF-8 decoding happens on this path.
 */
const BS = 0x5c;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

export class TsvBatch {
  private buf: Buffer;
  private len = 0;
  count = 0;
  /** Bytes of record content (before escaping), for throughput figures. */
  recordBytes = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  get byteLength(): number {
    return this.len;
  }

  /** Appends one record; `position` must not contain tabs or newlines. */
  add(record: Buffer, position: string): number {
    const seq = this.count++;
    this.recordBytes += record.length;
    const head = `${seq}\t${position}\t`;
    // Worst case every byte doubles when escaped.
    this.ensure(head.length * 3 + record.length * 2 + 1);
    this.len += this.buf.write(head, this.len, 'utf8');
    if (record.indexOf(BS) === -1 && record.indexOf(TAB) === -1 && record.indexOf(LF) === -1 && record.indexOf(CR) === -1) {
      this.len += record.copy(this.buf, this.len);
    } else {
      const out = this.buf;
      let o = this.len;
      for (let i = 0; i < record.length; i++) {
        const c = record[i] as number;
        if (c === BS) {
          out[o++] = BS;
          out[o++] = BS;
        } else if (c === TAB) {
          out[o++] = BS;
          out[o++] = 0x74; // t
        } else if (c === LF) {
          out[o++] = BS;
          out[o++] = 0x6e; // n
        } else if (c === CR) {
          out[o++] = BS;
          out[o++] = 0x72; // r
        } else {
          out[o++] = c;
        }
      }
      this.len = o;
    }
    this.buf[this.len++] = LF;
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
