import type { AttestationCode } from '../codes.ts';
import { inputDigest } from '../record.ts';
import type { AttestationReport } from '../report.ts';
import { checkImport, type ImportCheckInput } from './check.ts';

/**
 * One `keywatch attest import-check` run as a report: the checks in order with their outcome,
 * the verdict (import checks have no policy, so pass or fail), and the evidence.
 *
 * @example runImportCheck({ provider: 'gcp', now, params: job, target: 'EC_SIGN_P256_SHA256', wrapped }, [jobBytes, wrapped])
 */
const CHECKS: { check: string; codes: AttestationCode[]; ran: (i: ImportCheckInput) => boolean }[] = [
  { check: 'parameters', codes: ['DECODE_FAILED', 'IMPORT_BYOK_HEADER_INVALID', 'IMPORT_KEK_MISMATCH'], ran: () => true },
  { check: 'token or job expiry', codes: ['IMPORT_TOKEN_EXPIRED'], ran: (i) => i.provider !== 'azure' },
  { check: 'wrapping algorithm', codes: ['IMPORT_ALGORITHM_UNSUPPORTED'], ran: (i) => i.provider !== 'aws' || i.wrappingAlgorithm !== undefined },
  { check: 'wrapping key', codes: ['IMPORT_WRAPPING_KEY_MISMATCH'], ran: (i) => i.provider !== 'azure' || i.kek !== undefined },
  { check: 'target key', codes: ['IMPORT_TARGET_UNSUPPORTED', 'IMPORT_ALGORITHM_KEY_MISMATCH'], ran: (i) => i.target !== undefined },
  { check: 'blob length', codes: ['IMPORT_BLOB_LENGTH_MISMATCH'], ran: (i) => i.wrapped !== undefined || i.byok !== undefined },
  { check: 'oaep hash', codes: ['IMPORT_OAEP_HASH_MISMATCH'], ran: (i) => i.oaepHash !== undefined || i.rehearsalPrivateKey !== undefined },
  { check: 'rehearsal unwrap', codes: ['IMPORT_UNWRAP_FAILED', 'IMPORT_MATERIAL_MISMATCH'], ran: (i) => i.rehearsalPrivateKey !== undefined },
  {
    check: 'provider error',
    codes: ['IMPORT_PROVIDER_CIPHERTEXT_REJECTED', 'IMPORT_PROVIDER_TOKEN_INVALID', 'IMPORT_PROVIDER_KEY_MATERIAL_REJECTED', 'IMPORT_PROVIDER_BLOB_REJECTED', 'IMPORT_PROVIDER_ERROR_UNKNOWN'],
    ran: (i) => i.providerError !== undefined,
  },
];

export function runImportCheck(input: ImportCheckInput, inputs: readonly Buffer[], keyId?: string): AttestationReport {
  const r = checkImport(input);
  const failed = new Set(r.failures.map((f) => f.code));
  return {
    format: 'import-check',
    keyId: keyId ?? r.evidence.keyId ?? (r.evidence.kekId ? `kek:${r.evidence.kekId}` : `${input.provider}:unknown-key`),
    outcome: r.verdict === 'valid' ? 'pass' : 'fail',
    policy: '',
    checks: CHECKS.map((c) => ({ check: c.check, outcome: c.codes.some((code) => failed.has(code)) ? 'fail' : c.ran(input) ? 'pass' : 'skip' })),
    failures: r.failures,
    policyFailures: [],
    warnings: r.warnings,
    evidence: { ...r.evidence },
    anchors: [],
    inputSha256: inputDigest(inputs),
  };
}
