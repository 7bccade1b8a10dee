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
});
