import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorGoldenSuite } from '../../test/helpers/collector-golden.ts';
import { vaultCollector } from './collector.ts';

// The fixtures and what each one covers: fixtures/README.md. Behaviour beyond one fixture at a
// time (pairing across batches, re-ingest, mixed files, gzip, path mapping, secrets): collector-behaviour.test.ts.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
collectorGoldenSuite({
  collector: vaultCollector,
  fixturesDir: FIXTURES,
  tenants: { root: 'acme', globex: 'globex' },
  requiredCases: [
    'decrypt-pair', 'encrypt-denied', 'rotate', 'keys-config-auto-rotate', 'export-key', 'backup-key', 'datakey', 'sign',
    'verify', 'hmac', 'policy-write', 'audit-disable', 'approle-login', 'kv-read', 'namespace-encrypt', 'custom-transit-mount',
    'response-without-request', 'request-unanswered', 'error-only-in-response', 'batch-encrypt', 'syslog-line',
    'userpass-login-failed', 'jwt-encrypt', 'cert-login',
  ],
  requiredBadCases: [
    'invalid-json', 'json-array-not-object', 'missing-type', 'missing-request-id', 'unknown-entry-type', 'bad-time',
    'impossible-time', 'kv-list-response',
  ],
});
