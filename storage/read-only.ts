import { KeywatchError } from '../core/errors.ts';
import type { Store } from './store.ts';

/** Top-level statement kinds `keywatch sql` lets through (names from ClickHouse's EXPLAIN AST). */
const READ_KINDS = new Set([
  'SelectWithUnionQuery',
  'SelectQuery',
  'SelectIntersectExceptQuery',
  'ShowTablesQuery',
  'ShowColumnsQuery',
  'ShowCreateTableQuery',
  'ShowCreateDatabaseQuery',
  'DescribeQuery',
  'DescribeTableQuery',
  'ExistsTableQuery',
  'ExplainQuery',
]);

/**
 * Refuses anything but a single read statement. ClickHouse's own parser classifies the
 * statement (EXPLAIN AST), so comments, casing or odd spacing cannot disguise a write.
 */
export async function assertReadOnly(store: Store, sql: string): Promise<void> {
  const text = sql.trim().replace(/;\s*$/, '');
  if (text === '') throw new KeywatchError('USAGE', 'no query given');
  let ast: string;
  try {
    ast = await store.queryText(`EXPLAIN AST ${text}`, 'TSV');
  } catch (e) {
    throw new KeywatchError('USAGE', `cannot parse the query: ${(e as Error).message}`, { cause: e });
  }
  const kind = /^\s*(\w+)/.exec(ast)?.[1] ?? 'unknown';
  if (!READ_KINDS.has(kind)) {
    throw new KeywatchError('READ_ONLY_VIOLATION', `keywatch sql is read-only and refuses ${kind.replace(/Query$/, '')} statements; only SELECT, SHOW, DESCRIBE, EXISTS and EXPLAIN run here`);
  }
  if (/\bINTO\s+OUTFILE\b/i.test(text)) {
    throw new KeywatchError('READ_ONLY_VIOLATION', 'keywatch sql is read-only and refuses SELECT ... INTO OUTFILE; use --format csv or json and redirect the output');
  }
}
