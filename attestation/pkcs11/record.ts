import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { Store } from '../../storage/store.ts';
import type { PolicyName } from '../policy.ts';
import type { Pkcs11Attestation } from './residency.ts';
import { recordAttestation } from '../record.ts';

/**
 * One `attestations` row (storage/migrations/0006_attestations.sql) for a live PKCS#11 check.
 * key_id is `module:token:label` (module file name, token label, key label): the slot id is not
 * used because SoftHSM2 and some HSMs renumber slots when a token is initialised.
 * input_sha256 hashes the evidence record, the "input" of a live check.
 *
 * @example await recordPkcs11Attestation(store, pkcs11AttestationRow(result, { ... }))
 */
export interface AttestationRow {
  verified_at: string;
  tenant: string;
  key_id: string;
  format: 'pkcs11';
  verdict: Pkcs11Attestation['verdict'];
  policy: PolicyName | '';
  failed_checks: string[];
  warnings: string[];
  evidence: string;
  anchors: string[];
  input_sha256: string;
}

/** ClickHouse DateTime64(3) text in UTC. */
function chTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

export function pkcs11KeyId(modulePath: string, tokenLabel: string, keyLabel: string): string {
  return `${basename(modulePath)}:${tokenLabel}:${keyLabel}`;
}

export function pkcs11AttestationRow(
  result: Pkcs11Attestation,
  ctx: { modulePath: string; keyLabel: string; tenant: string; policy?: PolicyName; now: Date },
): AttestationRow {
  const evidence = JSON.stringify({ module: ctx.modulePath, ...result.evidence });
  return {
    verified_at: chTime(ctx.now),
    tenant: ctx.tenant,
    key_id: pkcs11KeyId(ctx.modulePath, result.evidence.tokenLabel, result.evidence.key?.label ?? ctx.keyLabel),
    format: 'pkcs11',
    verdict: result.verdict,
    policy: ctx.policy ?? '',
    failed_checks: [...result.failures, ...(result.policy?.failures ?? [])].map((f) => f.code),
    warnings: result.warnings.map((w) => w.code),
    evidence,
    anchors: [],
    input_sha256: createHash('sha256').update(evidence).digest('hex'),
  };
}

/** Inserts the row through the shared writer (attestation/record.ts), which validates it. */
export async function recordPkcs11Attestation(store: Store, row: AttestationRow): Promise<void> {
  await recordAttestation(store, {
    verifiedAt: new Date(`${row.verified_at.replace(' ', 'T')}Z`),
    tenant: row.tenant,
    keyId: row.key_id,
    format: 'pkcs11',
    verdict: row.verdict,
    policy: row.policy,
    failedChecks: row.failed_checks,
    warnings: row.warnings,
    evidence: JSON.parse(row.evidence) as Record<string, unknown>,
    anchors: row.anchors,
    inputSha256: row.input_sha256,
  });
}
