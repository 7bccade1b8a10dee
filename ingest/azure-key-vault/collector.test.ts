import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorGoldenSuite } from '../../test/helpers/collector-golden.ts';
import { azureKeyVaultCollector } from './collector.ts';

// The golden fixtures (see fixtures/README.md). Behaviour over whole files is in collector-behaviour.test.ts:
// chdb allows one store per process, and each test file runs in its own process.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const TENANTS = { '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0': 'acme' };

collectorGoldenSuite({
  collector: azureKeyVaultCollector,
  fixturesDir: FIXTURES,
  tenants: TENANTS,
  requiredCases: [
    'unwrap-sql-tde', 'unwrap-forbidden', 'authentication-missing-token', 'managed-hsm-unwrap', 'records-wrapper-file',
    'log-analytics-azkv-row', 'azure-diagnostics-row', 'key-rotate-if-due', 'key-purge', 'key-delete', 'key-rotation-policy-set',
    'key-import', 'key-backup', 'missing-identity', 'duration-as-string', 'vault-patch-access-policy', 'managed-hsm-role-assignment',
    'storage-pt1h-blob', 'unknown-operation', 'unmapped-subscription',
  ],
  requiredBadCases: ['invalid-json', 'missing-operation-name', 'bad-time', 'impossible-time', 'missing-time', 'not-an-object', 'secret-get', 'certificate-create', 'activity-log-record'],
});
