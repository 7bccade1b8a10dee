import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorGoldenSuite } from '../../test/helpers/collector-golden.ts';
import { LAYOUTS_ENV } from './layouts.ts';
import { lunaHsmCollector } from './collector.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

// The registered collector reads its layouts from the environment when it first builds SQL, so
// the `alternative-layout` case is read with the example layouts file (fixtures/layouts/).
process.env[LAYOUTS_ENV] = join(FIXTURES, 'layouts', 'example-layouts.json');

collectorGoldenSuite({
  collector: lunaHsmCollector,
  fixturesDir: FIXTURES,
  tenants: {
    '5b1c6a2e-8f3d-4c7a-9e21-0d4f6b8a1c35': 'acme', // a DPoD service (resourceid)
    '4c8e2a6f-1d3b-4e59-a7c1-5e9b3d7f1a06': 'initech', // a DPoD tenant id whose service is not mapped
    '1520001': 'globex', // a Luna Network HSM serial
  },
  requiredCases: [
    'dpod-login-success',
    'dpod-key-create',
    'dpod-failure',
    'syslog-rfc3164-decrypt',
    'syslog-rfc5424-login-failure',
    'no-header-record',
    'generate-key',
    'destroy-object',
    'co-role-change',
    'unknown-event',
    'alternative-layout',
    'tolerant-field-order',
    'hsm_1520001_00000002',
  ],
  requiredBadCases: ['invalid-json', 'garbage-line', 'bad-time', 'dpod-bad-time', 'dpod-missing-status', 'missing-result'],
});
