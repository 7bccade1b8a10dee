import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { storeContract } from '../storage/contract.ts';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { localApiPaths, openRemoteStore } from '../storage/remote-store.ts';
import type { Store } from '../storage/store.ts';
import { createLogger } from '../core/logger.ts';
import { tempDir } from '../test/helpers/temp-dir.ts';
import { startLocalApi } from './local-api.ts';

const dir = tempDir();
afterAll(() => dir.remove());

// The remote store (the local API of keywatch serve) must behave as the store it fronts.
storeContract('remote (local API of keywatch serve over the embedded store)', async () => {
  const inner = await openEmbeddedStore({ dataDir: dir.path });
  const api = await startLocalApi({ store: inner, paths: localApiPaths(dir.path), logger: createLogger('silent') });
  const remote = await openRemoteStore(localApiPaths(dir.path));
  return {
    backend: remote.backend,
    database: remote.database,
    exec: (sql, params) => remote.exec(sql, params),
    query: (sql, params) => remote.query(sql, params),
    queryText: (sql, format, params) => remote.queryText(sql, format, params),
    insertRaw: (table, format, payload, columns) => remote.insertRaw(table, format, payload, columns),
    insertRows: (table, rows) => remote.insertRows(table, rows),
    withInput: (input, fn) => remote.withInput(input, fn),
    info: () => remote.info(),
    close: async () => {
      await api.close();
      await inner.close();
    },
  } satisfies Store;
});

describe('local API authentication', () => {
  it('refuses a client whose token is wrong, with STORE_AUTH_FAILED', async () => {
    const sub = tempDir();
    try {
      const paths = { socket: join(sub.path, 's.sock'), token: join(sub.path, 't') };
      // The API of the contract suite's store is closed by now; a fresh one over a stub store suffices for auth.
      const api = await startLocalApi({ store: { backend: 'embedded', database: 'keywatch' } as unknown as Store, paths, logger: createLogger('silent') });
      writeFileSync(paths.token, 'not-the-token\n');
      await expect(openRemoteStore(paths)).rejects.toMatchObject({ code: 'STORE_AUTH_FAILED' });
      await api.close();
    } finally {
      sub.remove();
    }
  });
});
