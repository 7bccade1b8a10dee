import { awsKmsCollector } from '../../ingest/aws-kms/collector.ts';
import { normalizerFuzzSuite } from './normalize-fuzz.ts';

normalizerFuzzSuite(awsKmsCollector);
