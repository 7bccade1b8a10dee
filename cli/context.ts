import { existsSync } from 'node:fs';
import { loadConfig, type Config } from '../core/config.ts';
import { configureLunaHsmLayouts } from '../ingest/luna-hsm/collector.ts';
import { LAYOUTS_ENV, layoutsFromEnv } from '../ingest/luna-hsm/layouts.ts';
import { openStore } from '../storage/open.ts';
import type { Store } from '../storage/store.ts';

export interface GlobalOptions {
  dataDir?: string;
  clickhouseUrl?: string;
  config?: string;
  verbose?: boolean;
}

/** Configuration from --config (or ./keywatch.config.json when it exists), env and flags. */
export function configFrom(g: GlobalOptions): Config {
  const configPath = g.config ?? (existsSync('keywatch.config.json') ? 'keywatch.config.json' : undefined);
  const config = loadConfig({
    ...(configPath ? { configPath } : {}),
    env: process.env,
    flags: { ...(g.dataDir ? { dataDir: g.dataDir } : {}), ...(g.clickhouseUrl ? { clickhouseUrl: g.clickhouseUrl } : {}) },
  });
  if (config.ingest.lunaLayoutsFile) configureLunaHsmLayouts(layoutsFromEnv({ [LAYOUTS_ENV]: config.ingest.lunaLayoutsFile }));
  return config;
}

/** Opens the configured store for the length of `fn` and always closes it. */
export async function withStore<T>(g: GlobalOptions, fn: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = configFrom(g);
  const store = await openStore(config);
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}
