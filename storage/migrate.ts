import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Store } from './store.ts';
import { StoreError } from './store-error.ts';
import { toClusterStatements, type ClusterOptions } from './cluster-ddl.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version;`;

/** Migrations on disk, in version order. File names are `NNNN_name.sql`. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .map((f) => /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => {
      const sql = readFileSync(join(dir, m[0]), 'utf8');
      return { version: Number(m[1]), name: m[2] ?? '', sql, checksum: createHash('sha256').update(sql).digest('hex') };
    })
    .sort((a, b) => a.version - b.version);
}

/** Splits a migration into statements: each ends with `;` at the end of a line. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;[ \t]*(?:\r?\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('--')));
}

/** The DDL of every migration as text, for a single node or rewritten for `cluster`. */
export function migrationDdl(cluster?: ClusterOptions, dir?: string): string {
  const out: string[] = [];
  for (const m of loadMigrations(dir)) {
    out.push(`-- ${String(m.version).padStart(4, '0')}_${m.name}`);
    for (const stmt of splitStatements(m.sql)) {
      for (const s of cluster ? toClusterStatements(stmt, cluster) : [stmt]) out.push(`${s};\n`);
    }
  }
  return out.join('\n');
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  applied_at: string;
}

/**
 * Applies every migration not yet recorded in `schema_migrations`, in order, and records each.
 * Running it again changes nothing. A recorded migration whose file changed is refused: the
 * schema on disk would no longer say what the store holds.
 */
export async function migrate(store: Store, opts: { cluster?: ClusterOptions; dir?: string; now?: () => Date } = {}): Promise<{ applied: Migration[] }> {
  const toRun = (stmt: string) => (opts.cluster ? toClusterStatements(stmt, opts.cluster) : [stmt]);
  for (const s of toRun(LEDGER_DDL.replace(/;$/, ''))) await store.exec(s);
  const done = new Map((await listApplied(store)).map((m) => [m.version, m]));
  const applied: Migration[] = [];
  for (const m of loadMigrations(opts.dir)) {
    const prior = done.get(m.version);
    if (prior) {
      if (prior.checksum !== m.checksum) {
        throw new StoreError(
          'MIGRATION_FAILED',
          `migration ${String(m.version).padStart(4, '0')}_${m.name}.sql changed after it was applied (checksum ${prior.checksum.slice(0, 12)} in the store, ${m.checksum.slice(0, 12)} on disk); add a new migration instead of editing an applied one`,
        );
      }
      continue;
    }
    for (const stmt of splitStatements(m.sql)) {
      for (const s of toRun(stmt)) {
        try {
          await store.exec(s);
        } catch (e) {
          throw new StoreError('MIGRATION_FAILED', `migration ${m.version} (${m.name}) failed: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    const at = (opts.now?.() ?? new Date()).toISOString().replace('T', ' ').replace('Z', '');
    await store.insertRows('schema_migrations', [{ version: m.version, name: m.name, checksum: m.checksum, applied_at: at }]);
    applied.push(m);
  }
  return { applied };
}

export async function listApplied(store: Store): Promise<AppliedMigration[]> {
  return store.query<AppliedMigration>('SELECT version, name, checksum, toString(applied_at) AS applied_at FROM schema_migrations ORDER BY version');
}
