import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ATTESTATION_CODES } from '../../attestation/codes.ts';
import { decodeObject } from '../../attestation/marvell/attributes.ts';
import { parseMarvellLayout } from '../../attestation/marvell/layout.ts';
import { COLLECTORS, sniffCollector } from '../../ingest/collectors.ts';
import { frameRecords, type Framed } from '../../ingest/framing.ts';
import { decodeBody, fitJsonFraming } from '../../ingest/transports/http-body.ts';
import { fixtureFiles } from './corpus.ts';
import { applyPlan, describePlan, fuzzSettings, planArb, type Plan } from './mutate.ts';

// The parsers that run in Node, before ClickHouse sees a record: framing, format sniffing, HTTP
// body decoding and the Marvell attestation layout. Pure functions, so fc.assert drives them
// directly; the seed is fixed (KEYWATCH_FUZZ_SEED / KEYWATCH_FUZZ_RUNS vary it) and fast-check
// prints it with the shrunk counterexample on failure.
// Whole fixture inputs (many records each) cost more per run than one record: a fifth of the
// normalizer fuzz's runs by default, still over 20,000 inputs.
const { seed, runs: baseRuns } = fuzzSettings(100_000);
const runs = Math.ceil(baseRuns / 5);
const MAX_RECORD = 64 * 1024;

const files = COLLECTORS.flatMap((c) => fixtureFiles(c).map((f) => ({ collector: c, name: f, bytes: readFileSync(f) })));
const inputs = files.map((f) => f.bytes);

/** Cut points for splitting an input into stream chunks. */
const cuts = fc.array(fc.nat(), { maxLength: 4 });

function chunked(b: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((n) => (b.length === 0 ? 0 : n % b.length)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(b.subarray(from, p));
    from = p;
  }
  out.push(b.subarray(from));
  return out.filter((c) => c.length > 0);
}

async function* stream(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

async function all(g: AsyncGenerator<Framed[]>): Promise<Framed[]> {
  const out: Framed[] = [];
  for await (const b of g) out.push(...b);
  return out;
}

function checkFramed(out: Framed[]): void {
  for (const f of out) {
    expect(typeof f.position).toBe('string');
    if (f.kind === 'oversized') {
      expect(f.prefix.length).toBeLessThanOrEqual(MAX_RECORD);
      expect(f.size).toBeGreaterThan(MAX_RECORD);
    } else {
      // The CloudHSM framing wraps what it keeps of a bad document (at most the limit) in its own
      // JSON envelope with the reason: a few hundred bytes over the limit, still bounded.
      expect(f.record.length).toBeLessThanOrEqual(MAX_RECORD + 4096);
    }
  }
}

const params = { seed, numRuns: runs, endOnFailure: true, verbose: 1 } as const;
const mutant = fc.tuple(planArb(inputs.length), cuts);

describe('parsers that run before ClickHouse, under fuzzing', () => {
  it(`frames ${runs} mutated fixture inputs, in random chunks, without throwing and within the record limit`, async () => {
    await fc.assert(
      fc.asyncProperty(mutant, async ([plan, at]: [Plan, number[]]) => {
        const input = applyPlan(inputs, plan);
        const file = files[plan.base] as (typeof files)[number];
        checkFramed(await all(frameRecords(stream(chunked(input, at)), { maxRecordBytes: MAX_RECORD })));
        if (file.collector.frame) checkFramed(await all(file.collector.frame(stream(chunked(input, at)), { maxRecordBytes: MAX_RECORD, origin: file.name })));
      }),
      params,
    );
  }, 300_000);

  it(`sniffs ${runs} mutated inputs and records without throwing`, () => {
    fc.assert(
      fc.property(planArb(inputs.length), (plan: Plan) => {
        const input = applyPlan(inputs, plan);
        const found = sniffCollector(input.subarray(0, 64 * 1024).toString('utf8'));
        expect(found === undefined || COLLECTORS.includes(found)).toBe(true);
        for (const c of COLLECTORS) expect(typeof c.sniffRecord(input)).toBe('boolean');
      }),
      params,
    );
  }, 300_000);

  it(`decodes ${Math.ceil(runs / 2)} mutated gzip and plain HTTP bodies to a body or a request problem, never an exception`, async () => {
    const gz = inputs.map((b) => gzipSync(b));
    await fc.assert(
      fc.asyncProperty(planArb(gz.length), fc.constantFrom<'gzip' | 'identity'>('gzip', 'identity'), fc.constantFrom<'records' | 'gzip'>('records', 'gzip'), fc.boolean(), async (plan: Plan, coding, kind, zipped) => {
        const body = applyPlan(zipped ? gz : inputs, plan);
        const r = await decodeBody(Buffer.from(body), { coding, kind, maxBytes: 1 << 20 });
        if (r.ok) {
          expect(r.value.length).toBeLessThanOrEqual(1 << 20);
          const fitted = fitJsonFraming(Buffer.from(r.value), 1 << 20);
          expect(fitted.length).toBe(r.value.length);
        } else {
          expect([400, 413, 415]).toContain(r.error.status);
          expect(r.error.code.length).toBeGreaterThan(0);
          expect(r.error.message.length).toBeGreaterThan(0);
        }
      }),
      { ...params, numRuns: Math.ceil(runs / 2) },
    );
  }, 300_000);

  it(`parses ${Math.ceil(baseRuns / 2)} mutated Marvell attestation blobs to a layout or a coded issue, never an exception`, () => {
    const dir = join(import.meta.dirname, '..', '..', 'attestation', 'marvell', 'fixtures', 'gcp-cloud-hsm');
    const blobs = ['aes', 'ec', 'rsa'].map((n) => gunzipSync(readFileSync(join(dir, `${n}.dat`))));
    let parsed = 0;
    fc.assert(
      fc.property(planArb(blobs.length), (plan: Plan) => {
        const r = parseMarvellLayout(applyPlan(blobs, plan));
        if (!r.ok) {
          expect(Object.keys(ATTESTATION_CODES), describePlan(plan)).toContain(r.error.code);
          return;
        }
        parsed++;
        for (const o of r.value.objects) {
          const d = decodeObject(o);
          if (!d.ok) expect(Object.keys(ATTESTATION_CODES)).toContain(d.error.code);
        }
      }),
      { ...params, numRuns: Math.ceil(baseRuns / 2) },
    );
    expect(parsed, 'some mutants still parse, so the object decoder is fuzzed too').toBeGreaterThan(0);
  }, 300_000);
});
