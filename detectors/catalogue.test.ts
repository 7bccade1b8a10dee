import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../core/clock.ts';
import { Config } from '../core/config.ts';
import { ingest } from '../ingest/pipeline.ts';
import { openInput } from '../ingest/transports/file.ts';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import type { Store } from '../storage/store.ts';
import type { DetectorCase, DetectorCases } from './cases.ts';
import { Severity, type Detector } from './detector.ts';
import { runDetectors } from './engine.ts';
import { DETECTORS, SIGNATURE_DETECTORS } from './registry.ts';

// Every registered detector: its catalogue entry is complete, its file and cases file are where
// the registry says, and each case fires or stays quiet on an otherwise empty store.

const HERE = new URL('.', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const DETECT = Config.parse({}).detect;
let store: Store;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-detectors-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-01-01T00:00:00Z') });
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function casesOf(d: Detector): Promise<DetectorCases> {
  const mod = (await import(`./${d.id}.cases.ts`)) as { cases: DetectorCases };
  return mod.cases;
}

async function runCase(d: Detector, c: DetectorCase) {
  for (const t of ['key_events', 'raw_events', 'quarantine', 'ingest_batches', 'alerts', 'detector_state', 'audit_integrity', 'coverage_gaps']) await store.exec(`TRUNCATE TABLE ${t}`);
  if (c.events?.length) await store.insertRows('key_events', c.events as unknown as Record<string, unknown>[]);
  if (c.records) {
    const path = c.records.fixture ? join(ROOT, c.records.fixture) : join(dir, 'case-records.txt');
    if (!c.records.fixture) writeFileSync(path, (c.records.lines ?? []).join('\n') + '\n');
    const summary = await ingest([openInput(path)], {
      store,
      clock: fixedClock(new Date(new Date(c.now).getTime() - 60_000).toISOString()),
      format: c.records.format,
      tenants: c.records.tenants ?? {},
      defaultTenant: 'acme',
      batchBytes: 8 << 20,
      maxRecordBytes: 1 << 20,
    });
    expect(summary.inserted, `${c.name}: its records become events`).toBeGreaterThan(0);
  }
  return runDetectors({
    store,
    now: new Date(c.now),
    config: { ...DETECT, ...c.config },
    detectors: [d],
    ...(c.range ? { range: { from: new Date(c.range.from), to: new Date(c.range.to) } } : {}),
  });
}

describe('the detector catalogue', () => {
  it('has unique ids, and each detector lives in detectors/<id>.ts with its cases beside it', () => {
    const ids = DETECTORS.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const d of DETECTORS) {
      expect(d.id, 'kebab-case id').toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(existsSync(join(HERE, `${d.id}.ts`)), `${d.id}.ts`).toBe(true);
      expect(existsSync(join(HERE, `${d.id}.cases.ts`)), `${d.id}.cases.ts`).toBe(true);
      expect(readFileSync(join(HERE, `${d.id}.ts`), 'utf8')).toContain(`id: '${d.id}'`);
    }
  });

  it.each(DETECTORS.map((d) => [d.id, d] as const))('%s carries a title, severity, description, runbook, references and known false positives', (_id, d) => {
    expect(d.title.length).toBeGreaterThan(5);
    expect(Severity.options).toContain(d.severity);
    expect(d.description.length).toBeGreaterThan(60);
    expect(d.runbook.length).toBeGreaterThan(60);
    expect(d.references.length).toBeGreaterThan(0);
    expect(d.falsePositives.length).toBeGreaterThan(0);
  });

  it.each(DETECTORS.map((d) => [d.id, d] as const))('%s has cases that fire and cases that stay quiet', async (_id, d) => {
    const cases = await casesOf(d);
    expect(cases.fires.length).toBeGreaterThan(0);
    expect(cases.quiet.length).toBeGreaterThan(0);
  });
});

const allCases = await Promise.all(DETECTORS.map(async (d) => ({ d, cases: await casesOf(d) })));

describe.each(allCases.map(({ d, cases }) => [d.id, d, cases] as const))('detector %s', (_id, d, cases) => {
  it.each(cases.fires.map((c) => [c.name, c] as const))('fires: %s', async (_name, c) => {
    const r = await runCase(d, c);
    const open = r.alerts.filter((a) => a.status === 'open');
    if (c.expect?.alerts !== undefined) expect(open).toHaveLength(c.expect.alerts);
    else expect(open.length).toBeGreaterThan(0);
    for (const a of open) {
      expect(a.detector).toBe(d.id);
      expect(a.event_ids.length).toBeGreaterThan(0);
      expect(a.runbook).toBe(d.runbook);
      if (c.expect?.key_id) expect(a.key_id).toBe(c.expect.key_id);
      if (c.expect?.principal) expect(a.principal).toBe(c.expect.principal);
    }
    if (c.expect?.severity) expect(open.map((a) => a.severity)).toContain(c.expect.severity);
    if (c.expect?.evidenceIncludes) expect(open.map((a) => JSON.parse(a.evidence) as object)).toContainEqual(expect.objectContaining(c.expect.evidenceIncludes));
    const stored = await store.query<{ n: string }>("SELECT count() AS n FROM alerts FINAL WHERE status = 'open'");
    expect(Number(stored[0]?.n)).toBe(open.length);
  });

  it.each(cases.quiet.map((c) => [c.name, c] as const))('stays quiet: %s', async (_name, c) => {
    const r = await runCase(d, c);
    expect(r.alerts.filter((a) => a.status === 'open')).toEqual([]);
  });
});

describe('the signature detectors run on every batch of new events in keywatch serve', () => {
  it('names registered detectors that need no history', () => {
    expect(DETECTORS.map((d) => d.id)).toEqual(expect.arrayContaining([...SIGNATURE_DETECTORS]));
    for (const id of SIGNATURE_DETECTORS) expect(DETECTORS.find((x) => x.id === id)?.historyDays, id).toBeUndefined();
  });
});
