import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attestationRowSchema, inputDigest } from './record.ts';

const row = { verifiedAt: new Date('2026-06-01T12:00:00Z'), keyId: 'k1', format: 'marvell-gcp', verdict: 'pass', inputSha256: 'a'.repeat(64) };

describe('attestation rows', () => {
  it('fill defaults for tenant, policy, lists and evidence', () => {
    expect(attestationRowSchema.parse(row)).toEqual({ ...row, tenant: '', policy: '', failedChecks: [], warnings: [], evidence: {}, anchors: [] });
  });

  it('reject an unknown format, verdict or field, and a digest that is not SHA-256 hex', () => {
    expect(attestationRowSchema.safeParse({ ...row, format: 'tpm' }).success).toBe(false);
    expect(attestationRowSchema.safeParse({ ...row, verdict: 'ok' }).success).toBe(false);
    expect(attestationRowSchema.safeParse({ ...row, keyMaterial: 'x' }).success).toBe(false);
    expect(attestationRowSchema.safeParse({ ...row, inputSha256: 'abc' }).success).toBe(false);
  });
});

describe('input digests', () => {
  it('are the plain SHA-256 of a single input, as sha256sum prints it', () => {
    const b = Buffer.from('attestation bytes');
    expect(inputDigest([b])).toBe(createHash('sha256').update(b).digest('hex'));
  });

  it('change when bytes move from one input to the next', () => {
    expect(inputDigest([Buffer.from('ab'), Buffer.from('c')])).not.toBe(inputDigest([Buffer.from('a'), Buffer.from('bc')]));
  });
});
