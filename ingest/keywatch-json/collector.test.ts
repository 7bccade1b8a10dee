import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorGoldenSuite } from '../../test/helpers/collector-golden.ts';
import { keywatchJsonCollector } from './collector.ts';

collectorGoldenSuite({
  collector: keywatchJsonCollector,
  fixturesDir: join(dirname(fileURLToPath(import.meta.url)), 'fixtures'),
  tenants: { 'luna-partition-acme-01': 'acme' },
  requiredCases: ['probe-sign-success', 'probe-failure-other', 'key-events-export-row', 'rfc3339-offset', 'nulls-as-absent', 'json-array'],
  requiredBadCases: [
    'invalid-json',
    'not-an-object',
    'unknown-field',
    'bad-field-type',
    'missing-field',
    'bad-event-time',
    'unknown-operation',
    'operation-class-mismatch',
    'bad-operation-class',
    'other-without-class',
    'bad-outcome',
    'error-code-on-success',
    'bad-principal-type',
    'bad-latency',
  ],
});
