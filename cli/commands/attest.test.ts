import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { oaepWrap, pemOf, rsaAesWrap, rsaPair } from '../../attestation/import-check/testing.ts';
import { spkiFromRsa } from '../../attestation/spki.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SAMPLES = join(ROOT, 'attestation', 'marvell', 'fixtures', 'gcp-cloud-hsm');
// Until `attest` is registered in cli/main.ts, run it through a test entry with the same error handling.
const ENTRY = [join(ROOT, 'bin', 'keywatch.js')];
const dir = tempDir('keywatch-attest-cli-');
afterAll(() => dir.remove());

function kw(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...ENTRY, '--data-dir', join(dir.path, 'store'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, KEYWATCH_DATA_DIR: '' } }, (error, out, err) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

const sample = (name: string) => ['--attestation', join(SAMPLES, `${name}.dat`), '--certs', join(SAMPLES, `${name}.certs`)];

describe('keywatch attest marvell (real Google Cloud HSM samples)', () => {
  it('passes the RSA sample at a time inside its validity, bound to the attested key, under generated-in-hsm, and records it', async () => {
    // The sample has no public key file; take the attested modulus from an unrecorded run, then bind to it.
    const probe = await kw(['attest', 'marvell', ...sample('rsa'), '--now', '2025-06-01T00:00:00Z', '--json', '--no-record']);
    expect(probe.code).toBe(0);
    const obj = (JSON.parse(probe.out) as { evidence: { blobs: { evidence: { objects: { modulus?: string; publicExponent?: string }[] } }[] } }).evidence.blobs[0]!.evidence.objects.find((o) => o.publicExponent)!;
    const spki = spkiFromRsa(Buffer.from(obj.modulus!, 'hex'), Buffer.from(obj.publicExponent!, 'hex'));
    if (!spki.ok) throw new Error('cannot rebuild the attested key');
    const pem = `-----BEGIN PUBLIC KEY-----\n${spki.value.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PUBLIC KEY-----\n`;
    writeFileSync(join(dir.path, 'rsa.pub.pem'), pem);

    const r = await kw(['attest', 'marvell', ...sample('rsa'), '--now', '2025-06-01T00:00:00Z', '--public-key', join(dir.path, 'rsa.pub.pem'), '--policy', 'generated-in-hsm', '--key-id', 'projects/p/locations/l/keyRings/r/cryptoKeys/rsa/cryptoKeyVersions/1', '--tenant', 'acme']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ {2}binding +pass$/m);
    expect(r.out).toMatch(/^ {2}signature +pass$/m);
    expect(r.out).toContain('verdict: PASS');
    expect(r.out).toContain('residency: EXTRACTABLE=0 NEVER_EXTRACTABLE=1 LOCAL=1 SENSITIVE=1 ALWAYS_SENSITIVE=1');
    expect(r.out).toContain('anchors: marvell-ls1, google-hawksbill-v1');
  });

  it('fails (exit 7) when the Hawksbill owner root has expired, and says which check failed', async () => {
    const r = await kw(['attest', 'marvell', ...sample('aes'), '--now', '2031-01-01T00:00:00Z', '--key-id', 'aes-key', '--tenant', 'acme']);
    expect(r.code).toBe(7);
    expect(r.out).toMatch(/^ {2}CHAIN_CERT_EXPIRED: /m);
    expect(r.out).toContain('verdict: FAIL');
  });

  it('policy-fails (exit 8) under byok-imported when the customer KCV differs, and passes with the attested KCV', async () => {
    const denied = await kw(['attest', 'marvell', ...sample('rsa'), '--now', '2025-06-01T00:00:00Z', '--policy', 'byok-imported', '--customer-kcv', '000000', '--key-id', 'rsa-byok', '--tenant', 'acme']);
    expect(denied.code).toBe(8);
    expect(denied.out).toMatch(/^ {2}POLICY_KCV_MISMATCH: /m);
    const allowed = await kw(['attest', 'marvell', ...sample('rsa'), '--now', '2025-06-01T00:00:00Z', '--policy', 'byok-imported', '--customer-kcv', 'cfbab3', '--no-record', '--json']);
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.out)).toMatchObject({ outcome: 'pass', recorded: false, evidence: { policy: { name: 'byok-imported', outcome: 'allowed', kcv: 'match' } } });
  });

  it('is a usage error (exit 2) to give a raw blob without its certificates', async () => {
    const r = await kw(['attest', 'marvell', '--attestation', join(SAMPLES, 'rsa.dat'), '--no-record']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--certs/);
  });
});

describe('keywatch attest import-check', () => {
  const job = rsaPair(3072);
  const write = (name: string, data: string | Buffer) => {
    writeFileSync(join(dir.path, name), data);
    return join(dir.path, name);
  };
  const jobJson = (expireTime: string) =>
    JSON.stringify({ name: 'projects/p/locations/l/keyRings/r/importJobs/j1', importMethod: 'RSA_OAEP_3072_SHA256_AES_256', protectionLevel: 'HSM', state: 'ACTIVE', createTime: '2026-05-31T12:00:00Z', expireTime, publicKey: { pem: pemOf(job.publicKey) } });

  it('passes a GCP import of 256-bit AES material wrapped under the job key, and fails (exit 7) once the job has expired', async () => {
    const wrapped = write('wrapped.bin', rsaAesWrap(job.publicKey, 'sha256', randomBytes(32)));
    const params = write('job.json', jobJson('2026-06-03T12:00:00Z'));
    const ok = await kw(['attest', 'import-check', '--provider', 'gcp', '--params', params, '--wrapped', wrapped, '--target', 'GOOGLE_SYMMETRIC_ENCRYPTION', '--now', '2026-06-01T12:00:00Z', '--tenant', 'acme']);
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^ {2}blob length +pass$/m);
    const late = await kw(['attest', 'import-check', '--provider', 'gcp', '--params', params, '--wrapped', wrapped, '--target', 'GOOGLE_SYMMETRIC_ENCRYPTION', '--now', '2026-06-04T12:00:00Z', '--tenant', 'acme']);
    expect(late.code).toBe(7);
    expect(late.out).toMatch(/^ {2}IMPORT_TOKEN_EXPIRED: /m);
  });

  it('fails an AWS RSAES_OAEP wrap of an RSA private key and maps InvalidCiphertextException, without recording', async () => {
    const w = rsaPair(2048);
    const params = write('aws-params.json', JSON.stringify({ KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/k1', ImportToken: randomBytes(32).toString('base64'), PublicKey: w.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), ParametersValidTo: '2026-06-02T00:00:00Z' }));
    const wrapped = write('aws-wrapped.bin', oaepWrap(w.publicKey, 'sha256', randomBytes(32)));
    const r = await kw(['attest', 'import-check', '--provider', 'aws', '--params', params, '--wrapped', wrapped, '--wrapping-algorithm', 'RSAES_OAEP_SHA_256', '--target', 'RSA_2048', '--provider-error', 'InvalidCiphertextException', '--now', '2026-06-01T12:00:00Z', '--json', '--no-record']);
    expect(r.code).toBe(7);
    const report = JSON.parse(r.out) as { failures: { code: string }[]; keyId: string };
    expect(report.failures.map((f) => f.code)).toEqual(['IMPORT_ALGORITHM_KEY_MISMATCH', 'IMPORT_PROVIDER_CIPHERTEXT_REJECTED']);
    expect(report.keyId).toBe('arn:aws:kms:eu-west-1:111122223333:key/k1');
  });
});

describe('the attestations table', () => {
  it('holds one row per recorded run with its verdict and failed checks, readable with keywatch sql', async () => {
    const r = await kw(['sql', 'SELECT key_id, format, verdict, policy, failed_checks FROM attestations WHERE tenant = \'acme\' ORDER BY verified_at', '--format', 'json']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual([
      { key_id: 'projects/p/locations/l/keyRings/r/cryptoKeys/rsa/cryptoKeyVersions/1', format: 'marvell-gcp', verdict: 'pass', policy: 'generated-in-hsm', failed_checks: [] },
      { key_id: 'aes-key', format: 'marvell-gcp', verdict: 'fail', policy: '', failed_checks: ['CHAIN_CERT_EXPIRED'] },
      { key_id: 'rsa-byok', format: 'marvell-gcp', verdict: 'policy-fail', policy: 'byok-imported', failed_checks: ['POLICY_KCV_MISMATCH'] },
      { key_id: 'projects/p/locations/l/keyRings/r/importJobs/j1', format: 'import-check', verdict: 'pass', policy: '', failed_checks: [] },
      { key_id: 'projects/p/locations/l/keyRings/r/importJobs/j1', format: 'import-check', verdict: 'fail', policy: '', failed_checks: ['IMPORT_TOKEN_EXPIRED'] },
    ]);
  });
});
