import type { Clock } from '../../core/clock.ts';
import type { Config } from '../../core/config.ts';
import { isKeywatchError } from '../../core/errors.ts';
import { isRetryable } from '../../storage/store-error.ts';
import type { Store } from '../../storage/store.ts';
import { ingest, type IngestSummary } from '../pipeline.ts';
import type { BatchResult, RetryPolicy } from '../sink.ts';
import type { Input } from './file.ts';
import { fitJsonFraming } from './http-body.ts';

const SLICE = 1 << 20;

/**
 * Stores the records of one decoded HTTP body. Shared by the request handler and the spool
 * replayer, so that a spooled body is stored exactly as it would have been when it arrived.
 */
export async function ingestHttpBody(o: {
  store: Store;
  config: Config;
  clock: Clock;
  format: string;
  tenant: string | undefined;
  origin: string;
  body: Buffer;
  /** More bodies of the same format and tenant, stored in the same run after `body` (spool replay). */
  more?: readonly { origin: string; body: Buffer }[];
  retry: RetryPolicy;
  receivedAt?: Date;
  onBatch?: (r: BatchResult) => void;
}): Promise<IngestSummary> {
  const toInput = (origin: string, body: Buffer): Input => {
    const bytes = fitJsonFraming(body, o.config.ingest.maxRecordBytes);
    let consumed = 0;
    return {
      transport: 'http',
      origin,
      sizeBytes: bytes.length,
      bytesRead: () => consumed,
      chunks: (async function* () {
        for (let i = 0; i < bytes.length; i += SLICE) {
          const slice = bytes.subarray(i, i + SLICE);
          consumed += slice.length;
          yield slice;
        }
      })(),
    };
  };
  const inputs = [toInput(o.origin, o.body), ...(o.more ?? []).map((m) => toInput(m.origin, m.body))];
  return ingest(inputs, {
    store: o.store,
    clock: o.clock,
    format: o.format,
    tenants: o.config.tenants,
    defaultTenant: o.config.defaultTenant,
    ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
    batchBytes: o.config.ingest.batchBytes,
    maxRecordBytes: o.config.ingest.maxRecordBytes,
    ...(o.onBatch ? { onBatch: o.onBatch } : {}),
    ...(o.receivedAt ? { receivedAt: o.receivedAt } : {}),
    retry: o.retry,
  });
}

/** A failure that says the store cannot be reached now (as opposed to bad data or a rejected query). */
export function storeUnavailable(e: unknown): boolean {
  return isRetryable(e) || (isKeywatchError(e) && e.code === 'STORE_UNAVAILABLE');
}
