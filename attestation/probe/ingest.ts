import type { Clock } from '../../core/clock.ts';
import type { Config } from '../../core/config.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import type { Input } from '../../ingest/transports/file.ts';
import type { Store } from '../../storage/store.ts';
import { probeNdjson, type ProbeRecord } from './probe.ts';

/**
 * Stores probe records through the normal ingest pipeline as keywatch-json, so they get the same
 * validation, ledger and quarantine as any other input (transport `probe`, origin `pkcs11-probe:<token>`).
 *
 * @example await ingestProbeRecords(store, config, records, 'prod-token', systemClock)
 */
export async function ingestProbeRecords(store: Store, config: Config, records: readonly ProbeRecord[], tokenLabel: string, clock: Clock): Promise<IngestSummary> {
  return ingestKeyEventRecords(store, config, probeNdjson(records), `pkcs11-probe:${tokenLabel}`, clock);
}

/** Stores keywatch-json records (NDJSON) made by keywatch itself through the ingest pipeline. */
export async function ingestKeyEventRecords(store: Store, config: Config, ndjson: string, origin: string, clock: Clock): Promise<IngestSummary> {
  const body = Buffer.from(ndjson);
  const input: Input = {
    transport: 'probe',
    origin,
    chunks: (async function* () {
      yield body;
    })(),
    sizeBytes: body.length,
    bytesRead: () => body.length,
  };
  return ingest([input], {
    store,
    clock,
    format: 'keywatch-json',
    tenants: config.tenants,
    defaultTenant: config.defaultTenant,
    batchBytes: config.ingest.batchBytes,
    maxRecordBytes: config.ingest.maxRecordBytes,
  });
}
