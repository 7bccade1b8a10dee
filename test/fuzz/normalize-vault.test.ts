import { vaultCollector } from '../../ingest/vault/collector.ts';
import { normalizerFuzzSuite } from './normalize-fuzz.ts';

normalizerFuzzSuite(vaultCollector);
