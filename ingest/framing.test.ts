import { describe, expect, it } from 'vitest';
import { detectFraming, frameRecords, type Framed } from './framing.ts';

async function frame(chunks: string[], maxRecordBytes = 1 << 20): Promise<Framed[]> {
  const out: Framed[] = [];
  const source = (async function* () {
    for (const c of chunks) yield Buffer.from(c);
  })();
  for await (const batch of frameRecords(source, { maxRecordBytes })) out.push(...batch);
  return out;
}

const text = (f: Framed) => (f.kind === 'oversized' ? f.prefix.toString() : f.record.toString());

describe('framing', () => {
  it('recognises S3 CloudTrail files, JSON arrays and line-delimited input from their first bytes', () => {
    expect(detectFraming(Buffer.from('  {"Records" : [ {"a":1}]}')).framing).toBe('records-array');
    expect(detectFraming(Buffer.from('\ufeff[{"a":1}]')).framing).toBe('json-array');
    expect(detectFraming(Buffer.from('{"eventVersion":"1.11"}\n')).framing).toBe('lines');
    expect(detectFraming(Buffer.from('2026-03-02T08:14:52.000Z {"a":1}')).framing).toBe('lines');
  });

  it('splits lines across chunk boundaries, numbers them, skips blank lines and strips CR', async () => {
    const got = await frame(['{"a":1}\r\n{"b"', ':2}\n\n   \n{"c":3}']);
    expect(got.map((f) => [f.kind, f.position, text(f)])).toEqual([
      ['record', 'line:1', '{"a":1}'],
      ['record', 'line:2', '{"b":2}'],
      ['record', 'line:5', '{"c":3}'],
    ]);
  });

  it('yields each element of a Records array, with braces and brackets inside strings left alone', async () => {
    const got = await frame(['{"Records":[{"x":"a}b]c\\"{"},', ' {"y":[1,{"z":2}]}', ' ,{"w":3}]}']);
    expect(got.map((f) => [f.position, text(f)])).toEqual([
      ['Records[0]', '{"x":"a}b]c\\"{"}'],
      ['Records[1]', '{"y":[1,{"z":2}]}'],
      ['Records[2]', '{"w":3}'],
    ]);
  });

  it('yields scalars in a JSON array as records so they can be quarantined, not dropped', async () => {
    const got = await frame(['[{"a":1}, 42, "s"]']);
    expect(got.map(text)).toEqual(['{"a":1}', '42', '"s"']);
  });

  it('reports a record cut off by the end of the input as truncated', async () => {
    const got = await frame(['{"Records":[{"a":1},{"b":']);
    expect(got.map((f) => [f.kind, f.position])).toEqual([
      ['record', 'Records[0]'],
      ['truncated', 'Records[1]'],
    ]);
  });

  it('reports an oversized line with its size and a prefix, and goes on with the next line', async () => {
    const big = 'x'.repeat(5000);
    const got = await frame([`{"a":1}\n{"big":"${big.slice(0, 2000)}`, `${big.slice(2000)}"}\n{"b":2}\n`], 1024);
    expect(got.map((f) => f.kind)).toEqual(['record', 'oversized', 'record']);
    const o = got[1];
    expect(o?.kind === 'oversized' && o.size).toBe(5000 + 10);
    expect(text(got[2] as Framed)).toBe('{"b":2}');
  });
});
