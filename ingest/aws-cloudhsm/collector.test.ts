import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorGoldenSuite } from '../../test/helpers/collector-golden.ts';
import { awsCloudHsmCollector } from './collector.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

collectorGoldenSuite({
  collector: awsCloudHsmCollector,
  fixturesDir: FIXTURES,
  tenants: { 'cluster-a1b2c3d4e5f': 'globex', 'hsm-t3s9d2f8g1h': 'initech' },
  requiredCases: [
    'login-success', 'login-failure', 'login-unknown-user', 'create-user', 'delete-user', 'generate-key-pair', 'generate-key',
    'wrap-key', 'unwrap-key', 'destroy-object', 'share-object', 'unknown-opcode', 'extract-masked-object', 'zeroize',
    'subscription-data-message', 'firehose-concatenated', 'lambda-awslogs', 'certificate-storage',
    'filter-log-events-cluster-a1b2c3d4e5f', 'get-log-events-hsm-t3s9d2f8g1h', 'text-hsm-t3s9d2f8g1h', 'export-hsm-t3s9d2f8g1h', 'logs-tail',
  ],
  requiredBadCases: [
    'missing-sequence-no-hsm-t3s9d2f8g1h', 'bad-sequence-no', 'bad-time', 'garbled-text-hsm-t3s9d2f8g1h', 'control-message',
    'unknown-message-type', 'event-not-object', 'missing-message', 'awslogs-undecodable', 'not-a-cloudwatch-document',
  ],
});
