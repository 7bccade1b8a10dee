import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MISSING_SERVER_MESSAGE,
  clickhouseServerAvailable,
  missingServerMustFail,
  startClickHouseServer,
  type ClickHouseServer,
} from '../../test/helpers/clickhouse-server.ts';
import { StoreError } from '../store-error.ts';
import type { Store } from '../store.ts';
import { openServerStore } from './server-store.ts';

// Transport only: Debian's clickhouse-server is 18.16, too old for the keywatch schema, so these
// tests open it with allowUnsupportedVersion and use plain MergeTree tables in `default`.
const available = clickhouseServerAvailable();

if (!available) {
  if (missingServerMustFail()) {
    describe('ClickHouse server transport', () => {
      it('requires clickhouse-server to be installed in CI', () => {
        throw new Error(MISSING_SERVER_MESSAGE);
      });
    });
  } else {
    console.warn('[server-store.transport] skipped: clickhouse-server is not installed (bash .ci/install-apt.sh installs it)');
  }
}

async function caught(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw new Error(`expected a StoreError, got: ${String(e)}`, { cause: e });
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

async function closedLoopbackPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe.skipIf(!available)('ClickHouse server transport (Debian clickhouse-server 18.16)', () => {
  let server: ClickHouseServer;
  let store: Store;

  beforeAll(async () => {
    server = await startClickHouseServer();
    store = await openServerStore({
      url: server.url,
      password: server.password,
      database: 'default',
      allowUnsupportedVersion: true,
    });
  });

  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it('reports the server backend, its credential-free URL, the database and the server version', async () => {
    expect(await store.info()).toEqual({
      backend: 'server',
      location: server.url,
      database: 'default',
      serverVersion: server.version,
    });
    expect(server.version).toMatch(/^18\.16\./);
  });

  it('round-trips rows written by insertRaw (TSV, with escapes) and insertRows exactly', async () => {
    await store.exec('DROP TABLE IF EXISTS rt');
    await store.exec('CREATE TABLE rt (id UInt32, name String, n UInt64) ENGINE = MergeTree ORDER BY id');
    const tsv = Buffer.from('1\talpha\t10\n2\ttab\\there\t18446744073709551615\n');
    await store.insertRaw('rt', 'TSV', tsv, ['id', 'name', 'n']);
    await store.insertRaw('rt', 'JSONEachRow', Buffer.from('{"id":3,"name":"json raw","n":"3"}\n'));
    await store.insertRows('rt', [
      { id: 4, name: 'quote " and \\ backslash', n: '4' },
      { id: 5, name: 'ünïcödé', n: 5 },
    ]);

    const rows = await store.query<{ id: number; name: string; n: string }>('SELECT id, name, n FROM rt ORDER BY id');
    expect(rows).toEqual([
      { id: 1, name: 'alpha', n: '10' },
      { id: 2, name: 'tab\there', n: '18446744073709551615' },
      { id: 3, name: 'json raw', n: '3' },
      { id: 4, name: 'quote " and \\ backslash', n: '4' },
      { id: 5, name: 'ünïcödé', n: '5' },
    ]);
    expect(await store.queryText('SELECT id, name FROM rt WHERE id <= 2 ORDER BY id', 'TSV')).toBe('1\talpha\n2\ttab\\there\n');
  });

  it('rejects a wrong password as STORE_AUTH_FAILED without putting the password in the message', async () => {
    const wrong = 'not-the-password-' + server.password.slice(0, 4);
    const err = await caught(openServerStore({ url: server.url, password: wrong, database: 'default', allowUnsupportedVersion: true }));
    expect(err.code).toBe('STORE_AUTH_FAILED');
    expect(err.message).toBe(`ClickHouse server at ${server.url} rejected user 'default': wrong user name or password`);
    expect(err.message).not.toContain(wrong);
    expect(err.message).not.toContain(server.password);
    expect(err.clickhouseCode).toBe(193);
  });

  it('rejects a missing password as STORE_AUTH_FAILED', async () => {
    const err = await caught(openServerStore({ url: server.url, database: 'default', allowUnsupportedVersion: true }));
    expect(err.code).toBe('STORE_AUTH_FAILED');
    expect(err.clickhouseCode).toBe(194);
  });

  it('strips credentials given in the URL from the location it reports and from error messages', async () => {
    const withCreds = server.url.replace('http://', `http://default:${server.password}@`);
    const s = await openServerStore({ url: withCreds, database: 'default', allowUnsupportedVersion: true });
    try {
      expect((await s.info()).location).toBe(server.url);
      const err = await caught(s.query('SELECT * FROM no_such_table'));
      expect(err.message).not.toContain(server.password);
    } finally {
      await s.close();
    }
  });

  it('reports a closed loopback port as STORE_UNAVAILABLE with connection refused', async () => {
    const port = await closedLoopbackPort();
    const url = `http://127.0.0.1:${port}`;
    const err = await caught(openServerStore({ url, password: 'x', allowUnsupportedVersion: true }));
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toBe(`cannot reach ClickHouse server at ${url}: connection refused`);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('turns a query that outlives requestTimeoutMs into STORE_TIMEOUT', async () => {
    const s = await openServerStore({
      url: server.url,
      password: server.password,
      database: 'default',
      allowUnsupportedVersion: true,
      requestTimeoutMs: 500,
    });
    try {
      const started = Date.now();
      const err = await caught(s.query('SELECT sleep(3)'));
      expect(err.code).toBe('STORE_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(2_500);
    } finally {
      await s.close();
    }
  });

  it('refuses an 18.16 server with STORE_UNSUPPORTED_VERSION naming its version and the minimum 24.8', async () => {
    const err = await caught(openServerStore({ url: server.url, password: server.password }));
    expect(err.code).toBe('STORE_UNSUPPORTED_VERSION');
    expect(err.message).toBe(
      `ClickHouse server at ${server.url} is version ${server.version}; keywatch needs ClickHouse 24.8 or newer (DateTime64, Map, LowCardinality, TTL, projections)`,
    );
    expect(err.message).toContain('18.16');
  });

  it('reports a syntax error as STORE_QUERY_FAILED with ClickHouse code 62 on one line', async () => {
    const err = await caught(store.query('SELEC 1'));
    expect(err.code).toBe('STORE_QUERY_FAILED');
    expect(err.clickhouseCode).toBe(62);
    expect(err.message).toMatch(/^ClickHouse query failed \(code 62\): Syntax error/);
    expect(err.message).not.toContain('\n');
    expect(err.message).not.toContain('e.what()');
  });

  it('renders Pretty formats without the ANSI colour escapes 18.16 adds over HTTP by default', async () => {
    expect(await store.queryText('SELECT 1 AS a', 'PrettyCompactMonoBlock')).toBe('┌─a─┐\n│ 1 │\n└───┘\n');
  });

  it('sends query parameters as param_<name>, which 18.16 rejects with code 115 because binding came in 19.x', async () => {
    const err = await caught(store.query('SELECT {a:UInt8} AS a', { a: 1 }));
    expect(err.code).toBe('STORE_QUERY_FAILED');
    expect(err.clickhouseCode).toBe(115);
    expect(err.message).toBe('ClickHouse query failed (code 115): Unknown setting param_a');
  });

  it('stages a payload for several statements with withInput and drops it afterwards', async () => {
    await store.exec('CREATE TABLE IF NOT EXISTS via_input (id UInt32, name String) ENGINE = MergeTree ORDER BY id');
    let relation = '';
    const counted = await store.withInput({ structure: 'id UInt32, name String', format: 'TSV', payload: Buffer.from('1\ta\n2\tb\n') }, async (rel) => {
      relation = rel;
      await store.exec(`INSERT INTO via_input SELECT id, upper(name) FROM ${rel}`);
      return store.query<{ n: string }>(`SELECT count() AS n FROM ${rel}`);
    });
    expect(counted).toEqual([{ n: '2' }]);
    expect(await store.query('SELECT id, name FROM via_input ORDER BY id')).toEqual([
      { id: 1, name: 'A' },
      { id: 2, name: 'B' },
    ]);
    expect(await store.query('SELECT count() AS n FROM system.tables WHERE name = {t:String}'.replace('{t:String}', `'${relation}'`))).toEqual([{ n: '0' }]);
  });

  it('reports unparsable TSV in insertRaw as STORE_QUERY_FAILED with ClickHouse code 27', async () => {
    await store.exec('CREATE TABLE IF NOT EXISTS bad_input (id UInt32) ENGINE = MergeTree ORDER BY id');
    const err = await caught(store.insertRaw('bad_input', 'TSV', Buffer.from('not-a-number\n')));
    expect(err.code).toBe('STORE_QUERY_FAILED');
    expect(err.clickhouseCode).toBe(27);
  });
});
