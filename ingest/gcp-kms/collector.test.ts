import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorGoldenSuite } from '../../test/helpers/collector-golden.ts';
import { gcpKmsCollector } from './collector.ts';

// The fixtures and what each one covers: fixtures/README.md. Behaviour beyond one fixture at a
// time (mixed files, gzip, re-ingest, routing): collector-behaviour.test.ts.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
collectorGoldenSuite({
  collector: gcpKmsCollector,
  fixturesDir: FIXTURES,
  tenants: { 'acme-kms-prod': 'acme' },
  requiredCases: [
    'decrypt-data-access', 'encrypt-permission-denied', 'asymmetric-sign-version', 'update-rotation-period', 'clear-rotation',
    'primary-version-change', 'version-disabled', 'destroy-version', 'restore-version', 'create-import-job', 'import-key-version',
    'set-iam-policy-all-users', 'set-iam-policy-external-domain', 'pubsub-push-envelope', 'gcloud-export-array', 'gcs-sink-ndjson',
    'fully-qualified-method-name', 'service-agent-caller', 'missing-principal', 'workload-identity-subject',
    'impersonated-service-account', 'generate-random-bytes', 'unknown-method', 'entry-without-insert-id',
  ],
  requiredBadCases: [
    'invalid-json', 'json-array-not-object', 'missing-proto-payload', 'missing-method-name', 'bad-timestamp', 'impossible-timestamp',
    'non-kms-service', 'text-payload-entry', 'pubsub-data-not-base64', 'pubsub-data-not-json',
  ],
});

