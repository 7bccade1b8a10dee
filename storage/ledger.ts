import { createHash } from 'node:crypto';
import type { Store } from './store.ts';

/**
 * The ingest ledger: one `ingest_batches` row per batch, each carrying the hash of the previous
 * row, so that altering or deleting a batch (its ledger row or its raw records) breaks the chain.
 * A chain can be rewritten from the altered point by someone with write access to the store; to
 * rule that out, record the head (`keywatch status`) somewhere the store's writers cannot change
 * and check it with `keywatch verify-chain --expect-head`.
 */
export interface LedgerRow {
  seqno: number;
  batch_id: string;
  source: string;
  transport: string;
  origin: string;
  first_position: string;
  last_position: string;
  started_at: string;
  finished_at: string;
  records: number;
  normalized: number;
  inserted: number;
  duplicates: number;
  quarantined: number;
  dropped: number;
  dropped_by_reason: Record<string, number>;
  content_sha256: string;
  prev_hash: string;
  batch_hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** The hash of a ledger row: sha256 over its fields (fixed order) and the previous hash. */
export function batchHash(row: Omit<LedgerRow, 'batch_hash'>): string {
  const reasons = Object.keys(row.dropped_by_reason)
    .sort()
    .map((k) => `${k}=${row.dropped_by_reason[k]}`)
    .join(',');
  const fields = [
    row.prev_hash,
    row.seqno,
    row.batch_id,
    row.source,
    row.transport,
    row.origin,
    row.first_position,
    row.last_position,
    row.started_at,
    row.finished_at,
    row.records,
    row.normalized,
    row.inserted,
    row.duplicates,
    row.quarantined,
    row.dropped,
    reasons,
    row.content_sha256,
  ];
  return createHash('sha256').update(fields.join('\n')).digest('hex');
}

/** Content hash of a batch as ClickHouse computes it: sha256 over the records' sha256 in seq order. */
export const CONTENT_HASH_SQL = `lower(hex(SHA256(arrayStringConcat(arrayMap(x -> x.2, arraySort(groupArray((seq, sha256))))))))`;

export async function chainHead(store: Store): Promise<{ seqno: number; hash: string }> {
  const rows = await store.query<{ seqno: string; batch_hash: string }>('SELECT seqno, batch_hash FROM ingest_batches ORDER BY seqno DESC LIMIT 1');
  const r = rows[0];
  return r ? { seqno: Number(r.seqno), hash: r.batch_hash } : { seqno: 0, hash: GENESIS_HASH };
}

export interface ChainFinding {
  seqno: number;
  batch_id: string;
  code: 'ledger_row_altered' | 'chain_link_broken' | 'batch_missing' | 'raw_records_altered' | 'raw_records_missing' | 'raw_count_mismatch' | 'head_mismatch';
  message: string;
}

export interface ChainReport {
  ok: boolean;
  batches: number;
  head: string;
  findings: ChainFinding[];
}

interface StoredLedgerRow extends Omit<LedgerRow, 'seqno' | 'records' | 'normalized' | 'inserted' | 'duplicates' | 'quarantined' | 'dropped' | 'dropped_by_reason'> {
  seqno: string;
  records: string;
  normalized: string;
  inserted: string;
  duplicates: string;
  quarantined: string;
  dropped: string;
  dropped_by_reason: Record<string, string>;
}

/**
 * Walks the whole chain: recomputes every ledger hash, checks each link and the seqno sequence,
 * and recomputes each batch's content hash from the raw records (`SHA256(record)`, not the stored
 * digest column, so an edited record is caught even if its digest column was edited too).
 */
export async function verifyChain(store: Store, opts: { expectHead?: string } = {}): Promise<ChainReport> {
  const findings: ChainFinding[] = [];
  const rows = await store.query<StoredLedgerRow>(
    `SELECT seqno, batch_id, source, transport, origin, first_position, last_position,
            toString(started_at) AS started_at, toString(finished_at) AS finished_at,
            records, normalized, inserted, duplicates, quarantined, dropped, dropped_by_reason,
            content_sha256, prev_hash, batch_hash
     FROM ingest_batches ORDER BY seqno`,
  );
  const raw = await store.query<{ batch_id: string; n: string; altered: string; content: string }>(
    `SELECT batch_id, count() AS n, countIf(SHA256(record) != sha256) AS altered,
            lower(hex(SHA256(arrayStringConcat(arrayMap(x -> x.2, arraySort(groupArray((seq, SHA256(record))))))))) AS content
     FROM raw_events GROUP BY batch_id`,
  );
  const rawByBatch = new Map(raw.map((r) => [r.batch_id, r]));
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  for (const s of rows) {
    const row: LedgerRow = {
      ...s,
      seqno: Number(s.seqno),
      records: Number(s.records),
      normalized: Number(s.normalized),
      inserted: Number(s.inserted),
      duplicates: Number(s.duplicates),
      quarantined: Number(s.quarantined),
      dropped: Number(s.dropped),
      dropped_by_reason: Object.fromEntries(Object.entries(s.dropped_by_reason).map(([k, v]) => [k, Number(v)])),
    };
    const at = { seqno: row.seqno, batch_id: row.batch_id };
    if (row.seqno !== expectedSeq) {
      findings.push({ ...at, code: 'batch_missing', message: `ledger jumps from batch ${expectedSeq - 1} to ${row.seqno}: ${row.seqno - expectedSeq} batch(es) deleted` });
    }
    expectedSeq = row.seqno + 1;
    if (row.prev_hash !== prevHash) {
      findings.push({ ...at, code: 'chain_link_broken', message: `batch ${row.seqno} points at previous hash ${row.prev_hash.slice(0, 12)}, but the previous batch hashes to ${prevHash.slice(0, 12)}` });
    }
    const recomputed = batchHash(row);
    if (recomputed !== row.batch_hash) {
      findings.push({ ...at, code: 'ledger_row_altered', message: `ledger row of batch ${row.seqno} (${row.batch_id}) was changed after it was written` });
    }
    const r = rawByBatch.get(row.batch_id);
    const expectedRaw = row.records - 0;
    if (!r) {
      if (row.content_sha256 !== EMPTY_CONTENT) findings.push({ ...at, code: 'raw_records_missing', message: `raw records of batch ${row.seqno} (${row.batch_id}) are gone` });
    } else {
      if (Number(r.altered) > 0) findings.push({ ...at, code: 'raw_records_altered', message: `${r.altered} raw record(s) of batch ${row.seqno} (${row.batch_id}) no longer match their digest` });
      else if (r.content !== row.content_sha256) findings.push({ ...at, code: 'raw_records_altered', message: `raw records of batch ${row.seqno} (${row.batch_id}) differ from what was ingested` });
      if (Number(r.n) > expectedRaw) findings.push({ ...at, code: 'raw_count_mismatch', message: `batch ${row.seqno} has ${r.n} raw records, the ledger says ${expectedRaw}` });
    }
    rawByBatch.delete(row.batch_id);
    prevHash = row.batch_hash;
  }
  for (const [batchId, r] of rawByBatch) {
    findings.push({ seqno: 0, batch_id: batchId, code: 'batch_missing', message: `${r.n} raw records of batch ${batchId} have no ledger row: an ingest was interrupted before the batch finished, or its ledger row was deleted` });
  }
  if (opts.expectHead !== undefined && opts.expectHead !== prevHash) {
    findings.push({ seqno: rows.length, batch_id: '', code: 'head_mismatch', message: `chain head is ${prevHash}, expected ${opts.expectHead}` });
  }
  return { ok: findings.length === 0, batches: rows.length, head: prevHash, findings };
}

/** sha256 of the empty string: the content hash of a batch with no raw records. */
export const EMPTY_CONTENT = createHash('sha256').update('').digest('hex');
