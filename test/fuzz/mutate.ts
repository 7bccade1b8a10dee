import fc from 'fast-check';

/**
 * Mutations of real records for the fuzzers. A mutant is a plan (which corpus record, which
 * operations with which parameters) drawn by fast-check from a fixed seed, applied to the record's
 * bytes. Plans are plain data, so a failure prints the plan and the seed that reproduces it.
 *
 * Operations: the record as is; JSON-aware ones (drop or rename a key, replace a value by one of
 * another type, a wrong or impossible date, a huge string, unicode and lone surrogates, nested
 * garbage, deep nesting, invalid JSON fragments) that fall back to token replacement on text
 * records; and byte-level ones (truncation at a random byte, bit flips, invalid UTF-8 inserted).
 */

/** Fixed by default so that CI is reproducible; `KEYWATCH_FUZZ_SEED` / `KEYWATCH_FUZZ_RUNS` vary it. */
export function fuzzSettings(defaultRuns: number): { seed: number; runs: number } {
  const seed = process.env.KEYWATCH_FUZZ_SEED === undefined ? 20261129 : Number(process.env.KEYWATCH_FUZZ_SEED);
  const runs = process.env.KEYWATCH_FUZZ_RUNS === undefined ? defaultRuns : Number(process.env.KEYWATCH_FUZZ_RUNS);
  if (!Number.isInteger(seed) || !Number.isInteger(runs) || runs < 1) throw new Error('KEYWATCH_FUZZ_SEED and KEYWATCH_FUZZ_RUNS must be integers (runs >= 1)');
  return { seed, runs };
}

export type Op =
  | { k: 'same' }
  | { k: 'truncate'; at: number }
  | { k: 'flip'; at: number; mask: number }
  | { k: 'insert'; at: number; bytes: readonly number[] }
  | { k: 'dropKey'; pick: number }
  | { k: 'renameKey'; pick: number; name: string }
  | { k: 'setValue'; pick: number; raw: string }
  | { k: 'token'; pick: number; text: string }
  | { k: 'wrap'; depth: number; open: string };

export interface Plan {
  base: number;
  ops: Op[];
}

const WRONG_DATES = [
  '2026-02-30T08:14:52Z',
  '2026-13-01T00:00:00Z',
  '2026-03-02T25:61:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '1969-12-31T23:59:59Z',
  '2262-04-12T00:00:00Z',
  '2026-03-02',
  '2026-03-02T08:14:52',
  '2026-03-02T08:14:52+99:99',
  'yesterday',
  '',
  '1772439292824999',
  '-1',
  '03/02/26 08:14:52.123456',
  '2026-03-02T08:14:52.1234567890123Z',
  ' 2026-03-02T08:14:52Z',
];

// Any UTF-16 code units, lone surrogates included (fast-check's 'binary' unit is slow to generate).
const utf16 = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 30 }).map((units) => String.fromCharCode(...units));

const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);

/** Raw JSON text (sometimes not valid JSON) to put where a value was. */
const rawValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom('null', 'true', 'false', '0', '-1', '1e308', '-0.0', '{}', '[]', '""', '"null"', '[null]', '{"":""}') },
  { weight: 30, arbitrary: fc.double().map((d) => (Number.isFinite(d) ? String(d) : 'NaN')) },
  { weight: 30, arbitrary: fc.integer().map(String) },
  { weight: 40, arbitrary: fc.constantFrom(...WRONG_DATES).map((s) => JSON.stringify(s)) },
  { weight: 40, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => JSON.stringify(s)) },
  { weight: 30, arbitrary: utf16.map((s) => JSON.stringify(s)) },
  // Lone surrogates: JSON.stringify escapes them (`"\ud800"`); the raw forms are CESU-8 bytes in the record.
  { weight: 30, arbitrary: fc.constantFrom('"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\uZZZZ"', '"\\"', '"\ud800"') },
  { weight: 30, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 100_000 }).map((n) => JSON.stringify('x'.repeat(n))) },
  { weight: 3, arbitrary: fc.integer({ min: 100, max: 5_000 }).map((n) => deep(n, '[', ']')) },
  { weight: 3, arbitrary: fc.integer({ min: 100, max: 3_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)) },
  { weight: 20, arbitrary: fc.constantFrom('NaN', 'Infinity', '01', '"unterminated', '{', '[1,', ']', 'nul', "'single'", '{"a":1,}', '"\t"', '0x10') },
);

const keyName = fc.oneof(
  fc.constantFrom('', 'eventTime', 'eventtime', 'EventTime', 'time', 'timestamp', '__proto__', 'constructor', 'records', 'Records', 'a.b', 'key id', '\u0000'),
  fc.string({ maxLength: 12 }),
);

const textValue = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...WRONG_DATES) },
  { weight: 10, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 10, arbitrary: utf16 },
  { weight: 10, arbitrary: fc.constantFrom('\ud800', '\n', '\r\n', ':', '', '0x', '-', '\u0000', 'Time:', '{', '"') },
  { weight: 1, arbitrary: fc.integer({ min: 5_000, max: 50_000 }).map((n) => 'y'.repeat(n)) },
);

// Byte sequences that are not UTF-8: lone continuation bytes, overlong forms, surrogates encoded
// as CESU-8, truncated multi-byte starts, 0xFE/0xFF.
const invalidUtf8: fc.Arbitrary<readonly number[]> = fc.constantFrom<readonly number[]>([0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe], [0xff], [0xe2, 0x82], [0xf0, 0x9f], [0x00], [0x1f, 0x8b]);

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Op>({ k: 'same' }) },
  { weight: 2, arbitrary: fc.nat().map((at): Op => ({ k: 'truncate', at })) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(invalidUtf8, fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 })) }) },
  { weight: 4, arbitrary: fc.nat().map((pick): Op => ({ k: 'dropKey', pick })) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('renameKey' as const), pick: fc.nat(), name: keyName }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('setValue' as const), pick: fc.nat(), raw: rawValue }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('token' as const), pick: fc.nat(), text: textValue }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('wrap' as const), depth: fc.integer({ min: 1, max: 2_000 }), open: fc.constantFrom('[', '{"a":', '{"Records":[') }) },
);

/** Plans over a corpus of `size` records: one to three operations each. */
export const planArb = (size: number): fc.Arbitrary<Plan> => fc.record({ base: fc.nat({ max: size - 1 }), ops: fc.array(op, { minLength: 1, maxLength: 3 }) });

/** `count` plans drawn from `seed`: the same seed gives the same plans. */
export function samplePlans(size: number, count: number, seed: number): Plan[] {
  return fc.sample(planArb(size), { numRuns: count, seed });
}

const PLACEHOLDER = '\u0000kw-fuzz-slot\u0000';
const SLOT = JSON.stringify(PLACEHOLDER);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Slot {
  parent: Json[] | { [k: string]: Json };
  key: string | number;
}

function slots(v: Json, out: Slot[], depth = 0): Slot[] {
  if (depth > 64 || v === null || typeof v !== 'object') return out;
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push({ parent: v, key: i });
      slots(x, out, depth + 1);
    });
  } else {
    for (const k of Object.keys(v)) {
      out.push({ parent: v, key: k });
      slots(v[k] as Json, out, depth + 1);
    }
  }
  return out;
}

function parseJson(b: Buffer): Json | undefined {
  const c = b[0];
  if (c !== 0x7b && c !== 0x5b) return undefined;
  // Deeply nested mutants are mutated as text: JSON.stringify recurses and would overflow.
  let depth = 0;
  let inString = false;
  for (let i = 0; i < b.length; i++) {
    const x = b[i] as number;
    if (inString) {
      if (x === 0x5c) i++;
      else if (x === 0x22) inString = false;
    } else if (x === 0x22) inString = true;
    else if (x === 0x7b || x === 0x5b) {
      if (++depth > 256) return undefined;
    } else if (x === 0x7d || x === 0x5d) depth--;
  }
  try {
    return JSON.parse(b.toString('utf8')) as Json;
  } catch {
    return undefined;
  }
}

function tokenReplace(b: Buffer, pick: number, text: string): Buffer {
  const s = b.toString('latin1');
  const re = /[A-Za-z0-9_.:+/-]+/g;
  const spans: [number, number][] = [];
  for (let m = re.exec(s); m !== null && spans.length < 4096; m = re.exec(s)) spans.push([m.index, m.index + m[0].length]);
  if (spans.length === 0) return Buffer.concat([b, Buffer.from(text)]);
  const [from, to] = spans[pick % spans.length] as [number, number];
  return Buffer.concat([b.subarray(0, from), Buffer.from(text, 'utf8'), b.subarray(to)]);
}

function applyOp(b: Buffer, o: Op): Buffer {
  switch (o.k) {
    case 'same':
      return b;
    case 'truncate':
      return b.subarray(0, b.length === 0 ? 0 : o.at % b.length);
    case 'flip': {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      const i = o.at % c.length;
      c[i] = (c[i] as number) ^ o.mask;
      return c;
    }
    case 'insert': {
      const i = b.length === 0 ? 0 : o.at % (b.length + 1);
      return Buffer.concat([b.subarray(0, i), Buffer.from(o.bytes), b.subarray(i)]);
    }
    case 'wrap':
      return Buffer.concat([Buffer.from(o.open.repeat(o.depth)), b, Buffer.from((o.open === '[' ? ']' : o.open === '{"a":' ? '}' : ']}').repeat(o.depth))]);
    case 'token':
      return tokenReplace(b, o.pick, o.text);
    default: {
      const doc = parseJson(b);
      if (doc === undefined) return tokenReplace(b, o.pick, o.k === 'setValue' ? o.raw : o.k === 'renameKey' ? o.name : '');
      const all = slots(doc, []);
      if (all.length === 0) return b;
      const s = all[o.pick % all.length] as Slot;
      if (o.k === 'dropKey') {
        if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
        else delete s.parent[s.key as string];
        return Buffer.from(JSON.stringify(doc));
      }
      if (o.k === 'renameKey') {
        if (Array.isArray(s.parent)) return b;
        const v = s.parent[s.key as string] as Json;
        delete s.parent[s.key as string];
        s.parent[o.name] = v;
        return Buffer.from(JSON.stringify(doc));
      }
      if (Array.isArray(s.parent)) s.parent[s.key as number] = PLACEHOLDER;
      else s.parent[s.key as string] = PLACEHOLDER;
      return Buffer.from(JSON.stringify(doc).replace(SLOT, () => o.raw));
    }
  }
}

/** The mutant a plan makes of its corpus record. */
export function applyPlan(corpus: readonly Buffer[], plan: Plan): Buffer {
  let b = corpus[plan.base] as Buffer;
  for (const o of plan.ops) b = applyOp(b, o);
  return b;
}

/** A short, printable description of a plan for failure messages (huge values elided). */
export function describePlan(plan: Plan): string {
  return JSON.stringify(plan, (_k, v: unknown) => (typeof v === 'string' && v.length > 120 ? `${v.slice(0, 40)}...(${v.length} chars)` : v));
}
