import { awsCloudHsmCollector } from '../../ingest/aws-cloudhsm/collector.ts';
import { normalizerFuzzSuite } from './normalize-fuzz.ts';

normalizerFuzzSuite(awsCloudHsmCollector);
