import { gcpKmsCollector } from '../../ingest/gcp-kms/collector.ts';
import { normalizerFuzzSuite } from './normalize-fuzz.ts';

normalizerFuzzSuite(gcpKmsCollector);
