import { azureKeyVaultCollector } from '../../ingest/azure-key-vault/collector.ts';
import { normalizerFuzzSuite } from './normalize-fuzz.ts';

normalizerFuzzSuite(azureKeyVaultCollector);
