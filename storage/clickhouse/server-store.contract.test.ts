import { afterAll, describe, expect, it } from 'vitest';
import { storeContract } from '../contract.ts';
import { openServerStore } from './server-store.ts';

// The shared contract needs the keywatch schema, so it runs only against a modern server (24.8+)
// named by KEYWATCH_TEST_CLICKHOUSE_URL, e.g. http://default:pw@127.0.0.1:8123. The Debian 18.16
// server on the CI machine is too old; it is covered by server-store.transport.test.ts instead.
const url = process.env.KEYWATCH_TEST_CLICKHOUSE_URL;

if (url) {
  // One database per run, so the suite starts empty and reopening sees the same data; dropped at the end.
  const database = `keywatch_contract_${process.pid}_${Date.now()}`;

  storeContract('ClickHouse server', () => openServerStore({ url, database }));

  afterAll(async () => {
    const admin = await openServerStore({ url, database: 'default', allowUnsupportedVersion: true });
    try {
      await admin.exec(`DROP DATABASE IF EXISTS ${database}`);
    } finally {
      await admin.close();
    }
  });
} else {
  describe('ClickHouse server store contract', () => {
    it('is not run because KEYWATCH_TEST_CLICKHOUSE_URL names no modern ClickHouse server', () => {
      console.warn(
        '[server-store.contract] NOT RUN: set KEYWATCH_TEST_CLICKHOUSE_URL=http://user:password@host:8123 ' +
          '(ClickHouse 24.8 or newer) to run the shared store contract against a server.',
      );
      expect(process.env.KEYWATCH_TEST_CLICKHOUSE_URL ?? '').toBe('');
    });
  });
}
