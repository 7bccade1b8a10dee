import { SloSpec } from '../../slo/spec.ts';

/**
 * The bench's 50 SLOs, each grouped by key over about 1,000 keys of the bench store
 * (bench/detect/generate.ts: 40% of the 5,000 keys are aws-kms, 20% gcp-kms, 18% azure-key-vault,
 * 18% vault, 2% each HSM; tenants by key). Kinds, objectives and periods vary as a real estate's
 * would: success ratios (any failure, or only the service's fault), decrypt only, latency under
 * 20, 50 or 100 ms; 30, 28 and 7 days.
 */
const SCOPES: { name: string; filter: Record<string, string[]> }[] = [
  { name: 'gcp', filter: { source: ['gcp-kms'] } },
  { name: 'azure-hsm', filter: { source: ['azure-key-vault', 'aws-cloudhsm', 'luna-hsm'] } },
  { name: 'vault-cloudhsm', filter: { source: ['vault', 'aws-cloudhsm'] } },
  { name: 'aws-acme-globex', filter: { source: ['aws-kms'], tenant: ['acme', 'globex'] } },
  { name: 'aws-globex-initech', filter: { source: ['aws-kms'], tenant: ['globex', 'initech'] } },
];

const KINDS: { name: string; objective: number; indicator: (scope: Record<string, string[]>) => unknown }[] = [
  { name: 'success', objective: 0.9995, indicator: (f) => ({ ratio: { total: { ...f, operationClass: ['crypto'] }, good: { outcome: ['success'] } } }) },
  { name: 'availability', objective: 0.999, indicator: (f) => ({ ratio: { total: { ...f, operationClass: ['crypto'] }, good: { not: { errorKind: ['server'] } } } }) },
  { name: 'decrypt', objective: 0.9999, indicator: (f) => ({ ratio: { total: { ...f, operation: ['decrypt'] }, good: { not: { errorKind: ['server'] } } } }) },
  { name: 'all-ops', objective: 0.995, indicator: (f) => ({ ratio: { total: { ...f, not: { principalType: ['internal', 'service'] } }, good: { not: { outcome: ['failure'], errorKind: ['server'] } } } }) },
  { name: 'latency-20', objective: 0.9, indicator: (f) => ({ latency: { thresholdMs: 20, filter: f } }) },
  { name: 'latency-50', objective: 0.95, indicator: (f) => ({ latency: { thresholdMs: 50, filter: f } }) },
  { name: 'latency-100', objective: 0.99, indicator: (f) => ({ latency: { thresholdMs: 100, filter: { ...f, operationClass: ['crypto'] } } }) },
  { name: 'encrypt', objective: 0.999, indicator: (f) => ({ ratio: { total: { ...f, operation: ['encrypt', 'generate_data_key'] }, good: { outcome: ['success'] } } }) },
  { name: 'sign', objective: 0.999, indicator: (f) => ({ ratio: { total: { ...f, operation: ['sign', 'verify'] }, good: { outcome: ['success'] } } }) },
  { name: 'reads', objective: 0.99, indicator: (f) => ({ ratio: { total: { ...f, operationClass: ['read'] }, good: { outcome: ['success'] } } }) },
];

const PERIODS = ['30d', '28d', '7d'] as const;

export function benchSpecs(): SloSpec[] {
  const out: SloSpec[] = [];
  for (const [i, kind] of KINDS.entries()) {
    for (const [j, scope] of SCOPES.entries()) {
      out.push(
        SloSpec.parse({
          apiVersion: 'keywatch/v1',
          kind: 'SLO',
          metadata: { name: `${kind.name}-${scope.name}` },
          spec: {
            timeWindow: [{ duration: PERIODS[(i + j) % PERIODS.length] }],
            objectives: [{ target: kind.objective }],
            groupBy: ['key'],
            indicator: kind.indicator(scope.filter),
          },
        }),
      );
    }
  }
  return out;
}
