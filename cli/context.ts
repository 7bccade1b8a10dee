import { existsSync } from 'node:fs';
import { loadConfig, type Config } from '../core/config.ts';
import { configureLunaHsmLayouts } from '../ingest/luna-hsm/collector.ts';
import { LAYOUTS_ENV, layoutsFromEnv } from '../ingest/luna-hsm/layouts.ts';
import { isKeywatchError } from '../core/errors.ts';
import { openStore } from '../storage/open.ts';
import { localApiOffered, localApiPaths, openRemoteStore } from '../storage/remote-store.ts';
import { StoreError } from '../storage/store-error.ts';
import type { Store } from '../storage/store.ts';

export interface GlobalOptions {
  dataDir?: string;
  clickhouseUrl?: string;
  config?: string;
  verbose?: boolean;
}

const DEFAULT_CONFIG_FILES = ['keywatch.config.json', 'keywatch.yaml', 'keywatch.yml'];

/** Configuration from --config (or the first of ./keywatch.config.json, ./keywatch.yaml, ./keywatch.yml that exists), env and flags. */
export function configFrom(g: GlobalOptions): Config {
  const configPath = g.config ?? DEFAULT_CONFIG_FILES.find((f) => existsSync(f));
  const config = loadConfig({
    ...(configPath ? { configPath } : {}),
    env: process.env,
    flags: { ...(g.dataDir ? { dataDir: g.dataDir } : {}), ...(g.clickhouseUrl ? { clickhouseUrl: g.clickhouseUrl } : {}) },
  });
  if (config.ingest.lunaLayoutsFile) configureLunaHsmLayouts(layoutsFromEnv({ [LAYOUTS_ENV]: config.ingest.lunaLayoutsFile }));
  return config;
}

/**
 * Opens the configured store for the length of `fn` and always closes it. When a running
 * `keywatch serve` holds the embedded store, its local API is used instead (storage/remote-store.ts),
 * unless `remote` gives the reason this command must not run through it.
 */
export async function withStore<T>(g: GlobalOptions, fn: (store: Store, config: Config) => Promise<T>, opts: { remote?: true | { refuse: string } } = {}): Promise<T> {
  const config = configFrom(g);
  let store: Store;
  try {
    store = await openStore(config);
  } catch (e) {
    if (!(isKeywatchError(e) && e.code === 'STORE_LOCKED') || config.clickhouse.url) throw e;
    // Held by a process without a local API (another command, or serve with localApi off): its own message says what to do.
    if (!localApiOffered(config.dataDir)) throw e;
    if (opts.remote && opts.remote !== true) throw new StoreError('STORE_LOCKED', `keywatch serve holds the embedded store ${config.dataDir}; ${opts.remote.refuse}`, { cause: e });
    try {
      store = await openRemoteStore(localApiPaths(config.dataDir));
    } catch {
      // A socket left by a service that was killed, while another process holds the store now.
      throw e;
    }
  }
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}
