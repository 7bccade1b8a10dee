import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policiesOf, windowsOf } from './engine.ts';
import { EXAMPLES_DIR, loadSpecs, parseSpecs } from './spec.ts';
import { loadWindowTables, parseWindowTable, windowTableFor } from './windows.ts';

const MIN = `apiVersion: keywatch/v1
kind: SLO
metadata: { name: s }
spec:
  timeWindow: [{ duration: 30d }]
  objectives: [{ target: 0.999 }]
  indicator: { ratio: { total: { operation: [decrypt] }, good: { outcome: [success] } } }
`;

describe('SLO spec files', () => {
  it('ships the nine example specs, each valid, with a window table for its period', () => {
    const specs = loadSpecs([EXAMPLES_DIR]);
    expect(specs.map((s) => [s.metadata.name, s.spec.objectives[0]?.target, s.spec.timeWindow[0]?.duration])).toEqual([
      ['audit-log-completeness', 0.9999, '30d'],
      ['decrypt-failure-rate', 0.9999, '30d'],
      ['hsm-probe-availability', 0.999, '7d'],
      ['incident-recovery', 0.9, '30d'],
      ['key-import-success', 1, '30d'],
      ['key-operation-latency', 0.95, '28d'],
      ['key-operation-success', 0.9995, '30d'],
      ['probe-latency', 0.99, '7d'],
      ['rotation-completion', 0.99, '30d'],
    ]);
    const tables = loadWindowTables();
    for (const s of specs) expect(policiesOf(s, tables).length).toBeGreaterThan(0);
  });

  it('reads JSON as well as YAML, and several documents from one file', () => {
    const json = JSON.stringify({ apiVersion: 'keywatch/v1', kind: 'SLO', metadata: { name: 'j' }, spec: { timeWindow: [{ duration: '7d' }], objectives: [{ target: 0.99 }], indicator: { latency: { thresholdMs: 20 } } } });
    expect(parseSpecs(json, 'a.json')[0]?.metadata.name).toBe('j');
    expect(parseSpecs(`${MIN}---\n${MIN.replace('name: s', 'name: t')}`, 'two.yaml').map((s) => s.metadata.name)).toEqual(['s', 't']);
  });

  it('names the bad key when a spec is invalid', () => {
    expect(() => parseSpecs(MIN.replace('target: 0.999', 'target: 1.5'), 'bad.yaml')).toThrow(/bad\.yaml: spec\.objectives\.0\.target/);
    expect(() => parseSpecs(MIN.replace('operation: [decrypt]', 'operation: [decrpyt]'), 'bad.yaml')).toThrow(/bad\.yaml/);
    expect(() => parseSpecs(MIN.replace('indicator:', 'groupBy: [principal]\n  indicator:'), 'bad.yaml')).toThrow(/groupBy/);
    expect(() => parseSpecs(MIN.replace('kind: SLO', 'kind: SLO\nextra: 1'), 'bad.yaml')).toThrow(/extra/);
    expect(() => parseSpecs('a: [', 'broken.yaml')).toThrow(/broken\.yaml is not valid YAML or JSON/);
    expect(() => parseSpecs(MIN.replace('indicator:', 'groupBy: [region]\n  indicator:').replace(/indicator:.*/, 'indicator: { alertRecovery: { thresholdMinutes: 60 } }'), 'bad.yaml')).toThrow(/alertRecovery indicators group by tenant, not region/);
  });

  it('refuses a period without a window table instead of extrapolating one', () => {
    const [s] = parseSpecs(MIN.replace('duration: 30d', 'duration: 14d'), 'x.yaml');
    expect(() => policiesOf(s!, loadWindowTables())).toThrow(/SLO period 14d is not supported: burn-rate window tables exist for 7d, 28d, 30d/);
    expect(() => windowTableFor('90d')).toThrow(/Add a table for 90d/);
  });

  it('rejects two specs of the same name across files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keywatch-specs-'));
    try {
      writeFileSync(join(dir, 'a.yaml'), MIN);
      writeFileSync(join(dir, 'b.yml'), MIN);
      expect(() => loadSpecs([dir])).toThrow(/SLO s is defined twice/);
      expect(() => loadSpecs([join(dir, 'missing.yaml')])).toThrow(/does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds extra policies to the window table and evaluates every window they need', () => {
    const [s] = parseSpecs(MIN.replace('indicator:', 'alerting: { policies: [{ name: fast-5x, action: page, burnRate: 5, longWindow: 15m, shortWindow: 5m }] }\n  indicator:'), 'x.yaml');
    const policies = policiesOf(s!, loadWindowTables());
    expect(policies.map((p) => p.name)).toEqual(['page-fast', 'page-slow', 'ticket', 'fast-5x']);
    expect(windowsOf(s!, policies)).toEqual(['30d', '3d', '6h', '1h', '30m', '15m', '5m']);
  });
});

describe('window tables', () => {
  const table = (policies: object[], period = '30d') => JSON.stringify({ period, source: 'test', policies });
  const ok = { name: 'p', action: 'page', burnRate: 14.4, longWindow: '1h', shortWindow: '5m' };

  it('accepts the shipped tables, one per supported period', () => {
    expect([...loadWindowTables().keys()].sort()).toEqual(['28d', '30d', '7d']);
  });

  it('rejects a short window not shorter than the long one, duplicate names, and a policy that would spend more than the budget', () => {
    expect(() => parseWindowTable(table([{ ...ok, shortWindow: '1h' }]), '30d.json')).toThrow(/shortWindow must be shorter than longWindow/);
    expect(() => parseWindowTable(table([ok, ok]), '30d.json')).toThrow(/duplicate policy name p/);
    expect(() => parseWindowTable(table([{ ...ok, burnRate: 800 }]), '30d.json')).toThrow(/would spend 111% of the budget/);
    expect(() => parseWindowTable(table([ok], '7d'), '30d.json')).toThrow(/must be named 7d\.json/);
  });
});
