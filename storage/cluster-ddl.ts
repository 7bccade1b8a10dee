import { KeywatchError } from '../core/errors.ts';

/**
 * Rewrites the single-node migration DDL for a ClickHouse cluster: every MergeTree-family table
 * becomes `<name>_local ON CLUSTER` with the Replicated engine, plus a Distributed table `<name>`
 * over it, so the rest of keywatch keeps querying the same names. Sharding keys come from the
 * `-- shard-key:` comment above each CREATE TABLE. Golden-tested; it cannot run here (no cluster).
 *
 * @example toClusterStatements('CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = MergeTree ORDER BY x', { cluster: 'prod', database: 'keywatch' })
 */
export interface ClusterOptions {
  cluster: string;
  database: string;
  /** ZooKeeper/Keeper path prefix; ClickHouse expands the {shard} and {replica} macros. */
  zooPath?: string;
}

const CREATE_RE = /^((?:\s*--[^\n]*\n)*)\s*CREATE TABLE IF NOT EXISTS\s+([A-Za-z_][A-Za-z0-9_]*)\s*\n?([\s\S]*?)\bENGINE\s*=\s*(\w*MergeTree)(?:\(([^)]*)\))?([\s\S]*)$/;

// Names are written into the DDL as they are, so only names that need no quoting get through.
const CLUSTER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ZOO_PATH = /^[A-Za-z0-9_/{}.-]+$/;

export function toClusterStatements(statement: string, opts: ClusterOptions): string[] {
  if (!CLUSTER_NAME.test(opts.cluster)) throw new KeywatchError('USAGE', `cluster name "${opts.cluster.slice(0, 100)}": only letters, digits, _, - and . are allowed`);
  if (!IDENTIFIER.test(opts.database)) throw new KeywatchError('USAGE', `database name "${opts.database.slice(0, 100)}" must be a plain identifier`);
  if (opts.zooPath !== undefined && !ZOO_PATH.test(opts.zooPath)) throw new KeywatchError('USAGE', 'the Keeper path may hold only letters, digits, _, -, ., / and {macros}');
  const onCluster = `ON CLUSTER '${opts.cluster}'`;
  const m = CREATE_RE.exec(statement.trim());
  if (m) {
    const [, comments = '', name = '', columns = '', engine = '', args = '', rest = ''] = m;
    const shardKey = /^\s*--\s*shard-key:\s*(.+)$/m.exec(comments)?.[1]?.trim() ?? 'rand()';
    const local = `${name}_local`;
    const path = `'${opts.zooPath ?? '/clickhouse/tables/{shard}'}/${opts.database}/${local}', '{replica}'`;
    const replicatedArgs = args.trim() === '' ? path : `${path}, ${args.trim()}`;
    return [
      `CREATE TABLE IF NOT EXISTS ${opts.database}.${local} ${onCluster}\n${columns.trim()}\nENGINE = Replicated${engine}(${replicatedArgs})${rest.trimEnd()}`,
      `CREATE TABLE IF NOT EXISTS ${opts.database}.${name} ${onCluster}\nAS ${opts.database}.${local}\nENGINE = Distributed('${opts.cluster}', '${opts.database}', '${local}', ${shardKey})`,
    ];
  }
  const alter = /^ALTER TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s+([\s\S]*)$/.exec(statement.replace(/^(\s*--[^\n]*\n)+/, '').trim());
  if (alter) {
    const local = `ALTER TABLE ${opts.database}.${alter[1]}_local ${onCluster} ${alter[2]}`;
    // A column change must reach the Distributed table too: it keeps the columns it was created with.
    if (/^(ADD|DROP|MODIFY|RENAME) COLUMN\b/i.test(alter[2] ?? '')) return [local, `ALTER TABLE ${opts.database}.${alter[1]} ${onCluster} ${alter[2]}`];
    return [local];
  }
  const db = /^CREATE DATABASE IF NOT EXISTS\s+(\w+)\s*$/.exec(statement.trim());
  if (db) return [`CREATE DATABASE IF NOT EXISTS ${db[1]} ${onCluster}`];
  throw new Error(`cluster DDL: no rule for statement: ${statement.slice(0, 80)}`);
}
