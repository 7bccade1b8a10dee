import { keywatchJsonCollector } from '../../ingest/keywatch-json/collector.ts';
import { normalizerFuzzSuite } from './normalize-fuzz.ts';

normalizerFuzzSuite(keywatchJsonCollector);
