import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { KeywatchError } from './errors.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';

const dir = tempDir();
afterAll(() => dir.remove());

describe('configuration', () => {
  it('uses the documented defaults when nothing is given', () => {
    const c = loadConfig({});
    expect(c.dataDir).toBe('./keywatch-data');
    expect(c.clickhouse).toEqual({ username: 'default', password: '', database: 'keywatch', requestTimeoutMs: 30_000 });
    expect(c.retention).toEqual({ keyEventsDays: 0, rawEventsDays: 0, quarantineDays: 0 });
    expect(c.ingest).toEqual({ batchBytes: 16 * 1024 * 1024, maxRecordBytes: 4 * 1024 * 1024 });
  });

  it('lets environment variables override the file, and flags override both', () => {
    const file = join(dir.path, 'a.json');
    writeFileSync(file, JSON.stringify({ dataDir: '/from/file', tenants: { '111122223333': 'acme' } }));
    const env = { KEYWATCH_DATA_DIR: '/from/env', KEYWATCH_CLICKHOUSE_DATABASE: 'kw2' };
    expect(loadConfig({ configPath: file }).dataDir).toBe('/from/file');
    expect(loadConfig({ configPath: file, env }).dataDir).toBe('/from/env');
    const c = loadConfig({ configPath: file, env, flags: { dataDir: '/from/flag' } });
    expect(c.dataDir).toBe('/from/flag');
    expect(c.clickhouse.database).toBe('kw2');
    expect(c.tenants).toEqual({ '111122223333': 'acme' });
  });

  it('moves credentials out of a ClickHouse URL so the URL can be shown', () => {
    const c = loadConfig({ env: { KEYWATCH_CLICKHOUSE_URL: 'https://ops:s%3Acret@ch.example.internal:8443/' } });
    expect(c.clickhouse.url).toBe('https://ch.example.internal:8443');
    expect(c.clickhouse.username).toBe('ops');
    expect(c.clickhouse.password).toBe('s:cret');
  });

  it('rejects a misspelt key and a bad value with a message naming them', () => {
    const file = join(dir.path, 'b.json');
    writeFileSync(file, JSON.stringify({ ingest: { batchBytes: 10, maxRecordByte: 5 } }));
    const e = (() => {
      try {
        loadConfig({ configPath: file });
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(KeywatchError);
    expect((e as KeywatchError).code).toBe('CONFIG_INVALID');
    expect((e as KeywatchError).message).toMatch(/ingest\.batchBytes/);
    expect((e as KeywatchError).message).toMatch(/maxRecordByte/);
  });

  it('reports a config file that is not JSON', () => {
    const file = join(dir.path, 'c.json');
    writeFileSync(file, '{ not json');
    expect(() => loadConfig({ configPath: file })).toThrow(/is not valid JSON/);
  });

  it('reads YAML, with the service defaults in the schema and report paths relative to the file', () => {
    const file = join(dir.path, 'd.yaml');
    writeFileSync(file, 'dataDir: /srv/kw\nservice:\n  ops: { listen: "0.0.0.0:9464" }\n  schedules:\n    report: { outDir: reports }\n');
    const c = loadConfig({ configPath: file });
    expect(c.dataDir).toBe('/srv/kw');
    expect(c.service.ops.listen).toBe('0.0.0.0:9464');
    expect(c.service.schedules).toEqual({ detect: '* * * * *', deliver: '* * * * *', slo: '*/5 * * * *', report: { cron: '0 6 1 1,4,7,10 *', outDir: join(dir.path, 'reports'), pdf: false } });
    expect(c.service.shutdownTimeoutMs).toBe(10_000);
    expect(c.service.detectOnIngest).toEqual({ enabled: true, debounceMs: 1_000, pollMs: 250, detectors: 'signatures' });
  });

  it('names each unknown key at its own path, and a bad cron expression at its key', () => {
    const file = join(dir.path, 'e.yml');
    writeFileSync(file, 'service:\n  ops: { lisen: "127.0.0.1:1" }\n  schedules: { detect: "sometimes", probe: { module: /x.so, wrapKey: a, cryptoKey: b } }\n  bogus: 1\n');
    let message = '';
    try {
      loadConfig({ configPath: file });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('service.ops.lisen: unknown key');
    expect(message).toContain('service.bogus: unknown key');
    expect(message).toContain('service.schedules.detect: a cron expression');
    expect(message).toContain('service.schedules.probe.token: give exactly one of slot, slotId or token');
    expect(message).toContain('service.schedules.probe.pinEnv: give exactly one of pinEnv or pinFile');
  });

  it('reports a YAML config file that does not parse, in one line', () => {
    const file = join(dir.path, 'f.yaml');
    writeFileSync(file, 'service:\n  ops: [unclosed\n');
    expect(() => loadConfig({ configPath: file })).toThrow(/^config file .*f\.yaml is not valid YAML: [^\n]+$/);
  });

  it('accepts the docker-compose service config deploy/keywatch/keywatch.yaml', () => {
    const c = loadConfig({ configPath: new URL('../deploy/keywatch/keywatch.yaml', import.meta.url).pathname });
    expect(c.service.ops.listen).toBe('0.0.0.0:9464');
    expect(c.kafka.topics).toEqual([{ topic: 'keywatch.audit', format: 'auto' }]);
    expect(c.service.schedules.report?.outDir).toBe('/var/lib/keywatch/reports');
  });

  it('accepts the shipped example config examples/keywatch.yaml', () => {
    const c = loadConfig({ configPath: new URL('../examples/keywatch.yaml', import.meta.url).pathname });
    expect(c.tenants).toEqual({ '111122223333': 'acme' });
    expect(c.service.schedules.slo).toBe('*/5 * * * *');
    expect(c.service.collector.enabled).toBe('auto');
  });
});

describe('security settings', () => {
  const fromFile = (value: unknown) => {
    const file = join(dir.path, `s-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(value));
    return () => loadConfig({ configPath: file });
  };

  it('gives the HTTP limits their documented defaults', () => {
    expect(loadConfig({}).http).toMatchObject({
      rateLimit: { max: 600, windowMs: 60_000 },
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 72_000,
      maxConnections: 1024,
      maxHeaderBytes: 16 * 1024,
    });
  });

  it('refuses a header timeout longer than the request timeout', () => {
    expect(fromFile({ http: { headersTimeoutMs: 5000, requestTimeoutMs: 1000 } })).toThrow(/http\.headersTimeoutMs: headersTimeoutMs must not exceed requestTimeoutMs/);
  });

  it('refuses a webhook URL with a password, without repeating the password', () => {
    const load = fromFile({ alerts: { webhook: { url: 'https://hooks:pw-0123456789abcdef@soar.example.com/hook', secret: 'a-secret-of-16-chars' } } });
    expect(load).toThrow(/alerts\.webhook\.url: no user:password@ in the URL/);
    try {
      load();
    } catch (e) {
      expect((e as Error).message).not.toContain('pw-0123456789abcdef');
    }
  });

  it('refuses a ClickHouse cluster name that would need quoting in DDL', () => {
    expect(fromFile({ clickhouse: { cluster: "prod' ON CLUSTER x --" } })).toThrow(/clickhouse\.cluster/);
    expect(fromFile({ clickhouse: { cluster: 'prod-eu.1' } })().clickhouse.cluster).toBe('prod-eu.1');
  });
});
