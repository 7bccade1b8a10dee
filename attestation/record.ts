import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Store } from '../storage/store.ts';

/**
 * One row of the `attestations` table (storage/migrations/0006_attestations.sql): the outcome of
 * one `keywatch attest ...` check. Field names are camelCase here; `recordAttestation` maps them
 * to the snake_case columns, the one place that mapping lives.
 *
 * @example await recordAttestation(store, { verifiedAt: new Date(), keyId: 'projects/p/.../cryptoKeyVersions/1', format: 'marvell-gcp', verdict: 'pass', ... })
 */
export const ATTESTATION_FORMATS = ['marvell-gcp', 'marvell-gcp-import-job', 'marvell-azure', 'pkcs11', 'import-check'] as const;

export const attestationRowSchema = z
  .object({
    verifiedAt: z.date(),
    tenant: z.string().default(''),
    /** The provider's key id / resource name, or module:slot:label for PKCS#11. */
    keyId: z.string().min(1),
    format: z.enum(ATTESTATION_FORMATS),
    verdict: z.enum(['pass', 'fail', 'policy-fail']),
    /** 'generated-in-hsm', 'byok-imported', or '' when no policy was applied. */
    policy: z.enum(['generated-in-hsm', 'byok-imported', '']).default(''),
    /** Stable codes (attestation/codes.ts) of the failed checks, policy failures included. */
    failedChecks: z.array(z.string()).default([]),
    warnings: z.array(z.string()).default([]),
    /** The evidence record; stored as JSON. Never key material (public keys and check values only). */
    evidence: z.record(z.string(), z.unknown()).default({}),
    anchors: z.array(z.string()).default([]),
    /** SHA-256 (hex) of the verified input(s); see `inputDigest`. */
    inputSha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export type AttestationRow = z.input<typeof attestationRowSchema>;

const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

/** Validates the row and inserts it. A row that does not fit the schema is a programmer error (zod throws). */
export async function recordAttestation(store: Store, row: AttestationRow): Promise<void> {
  const r = attestationRowSchema.parse(row);
  await store.insertRows('attestations', [
    {
      verified_at: chTime(r.verifiedAt),
      tenant: r.tenant,
      key_id: r.keyId,
      format: r.format,
      verdict: r.verdict,
      policy: r.policy,
      failed_checks: r.failedChecks,
      warnings: r.warnings,
      evidence: JSON.stringify(r.evidence),
      anchors: r.anchors,
      input_sha256: r.inputSha256,
    },
  ]);
}

/**
 * SHA-256 over several inputs, each length-prefixed so that moving bytes from one input to the
 * next changes the digest. One input hashes to its plain SHA-256, which `sha256sum` reproduces.
 */
export function inputDigest(inputs: readonly Buffer[]): string {
  if (inputs.length === 1) return createHash('sha256').update(inputs[0]!).digest('hex');
  const h = createHash('sha256');
  for (const b of inputs) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(b.length));
    h.update(len).update(b);
  }
  return h.digest('hex');
}
