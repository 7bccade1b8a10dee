import { lunaHsmCollector } from '../../ingest/luna-hsm/collector.ts';
import { normalizerFuzzSuite } from './normalize-fuzz.ts';

normalizerFuzzSuite(lunaHsmCollector);
