import type { Issue } from './codes.ts';
import type { AttestationRow } from './record.ts';

/**
 * The outcome of one `keywatch attest ...` run, whatever the proof format: what the CLI prints
 * (as text or JSON), records in the `attestations` table, and turns into an exit code.
 *
 * @example process.stdout.write(renderReport(report)); await recordAttestation(store, reportRow(report, now, tenant))
 */
export interface AttestationReport {
  format: AttestationRow['format'];
  keyId: string;
  outcome: 'pass' | 'fail' | 'policy-fail';
  policy: '' | 'generated-in-hsm' | 'byok-imported';
  /** Checks in the order they ran, per blob when a proof has several ("attestation: signature"). */
  checks: { check: string; outcome: 'pass' | 'fail' | 'skip' }[];
  failures: Issue[];
  policyFailures: Issue[];
  warnings: Issue[];
  /** Public facts only: attributes, sizes, check values, subjects. Never key material. */
  evidence: Record<string, unknown>;
  /** A shorter view of the evidence for the human summary; the full record is `evidence`. */
  summary?: Record<string, unknown>;
  anchors: string[];
  inputSha256: string;
}

export function reportRow(r: AttestationReport, verifiedAt: Date, tenant: string): AttestationRow {
  return {
    verifiedAt,
    tenant,
    keyId: r.keyId,
    format: r.format,
    verdict: r.outcome,
    policy: r.policy,
    failedChecks: [...new Set([...r.failures, ...r.policyFailures].map((f) => f.code))],
    warnings: [...new Set(r.warnings.map((w) => w.code))],
    evidence: r.evidence,
    anchors: r.anchors,
    inputSha256: r.inputSha256,
  };
}

const VERDICT_TEXT = { pass: 'PASS', fail: 'FAIL (the proof or import material is invalid)', 'policy-fail': 'POLICY-FAIL (valid, but not allowed by the policy)' } as const;

function flat(value: unknown, prefix: string, out: string[]): void {
  if (value === undefined) return;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flat(v, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  const text = Array.isArray(value) ? value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ') : String(value);
  out.push(`  ${prefix}: ${text.length > 160 ? `${text.slice(0, 157)}...` : text}`);
}

/** The human summary: checks in order, verdict, failures, warnings, evidence. */
export function renderReport(r: AttestationReport): string {
  const width = Math.max(0, ...r.checks.map((c) => c.check.length));
  const lines = [
    `${r.format} ${r.keyId}`,
    ...r.checks.map((c) => `  ${c.check.padEnd(width)}  ${c.outcome}`),
    ...(r.policy ? [`  policy ${r.policy}`.padEnd(width + 2) + `  ${r.outcome === 'fail' ? 'not evaluated' : r.policyFailures.length ? 'denied' : 'allowed'}`] : []),
    `verdict: ${VERDICT_TEXT[r.outcome]}`,
  ];
  if (r.failures.length) lines.push('failed checks:', ...r.failures.map((f) => `  ${f.code}: ${f.message}${f.certificate ? ` [${f.certificate}]` : ''}`));
  if (r.policyFailures.length) lines.push('policy:', ...r.policyFailures.map((f) => `  ${f.code}: ${f.message}`));
  if (r.warnings.length) lines.push('warnings:', ...r.warnings.map((w) => `  ${w.code}: ${w.message}`));
  const ev: string[] = [];
  flat(r.summary ?? r.evidence, '', ev);
  if (ev.length) lines.push('evidence:', ...ev);
  if (r.anchors.length) lines.push(`anchors: ${r.anchors.join(', ')}`);
  lines.push(`input sha256: ${r.inputSha256}`);
  return lines.join('\n') + '\n';
}
