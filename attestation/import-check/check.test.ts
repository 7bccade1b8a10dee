import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkImport, type ImportCheckInput } from './check.ts';
import { mapProviderError } from './provider-errors.ts';
import { kwpLength, oaepCapacity } from './specs.ts';
import { kwpWrap, oaepWrap, pemOf, pkcs8, rsaAesWrap, rsaPair, spkiBase64 } from './testing.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const W2048 = rsaPair(2048);
const W3072 = rsaPair(3072);
const OTHER = rsaPair(2048);
const RSA2048_MATERIAL = pkcs8({ rsa: 2048 });
const P256_MATERIAL = pkcs8({ ec: 'prime256v1' });
const P521_MATERIAL = pkcs8({ ec: 'secp521r1' });
const AES256 = randomBytes(32);

function awsParams(pub = W2048.publicKey, validTo = '2026-06-02T08:00:00Z') {
  return { KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', ImportToken: randomBytes(64).toString('base64'), PublicKey: spkiBase64(pub), ParametersValidTo: validTo };
}

function gcpJob(over: Record<string, unknown> = {}) {
  return {
    name: 'projects/p/locations/europe-west1/keyRings/r/importJobs/j1',
    importMethod: 'RSA_OAEP_3072_SHA256_AES_256',
    protectionLevel: 'HSM',
    state: 'ACTIVE',
    createTime: '2026-05-31T12:00:00Z',
    expireTime: '2026-06-03T12:00:00Z',
    publicKey: { pem: pemOf(W3072.publicKey) },
    ...over,
  };
}

const KID = 'https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef';
function byok(ciphertext: Buffer, over: Record<string, unknown> = {}) {
  return { schema_version: '1.0.0', header: { kid: KID, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP', ...over }, ciphertext: ciphertext.toString('base64url'), generator: 'test; node:crypto' };
}
function kekJson(pub = W2048.publicKey, kid = KID) {
  const jwk = pub.export({ format: 'jwk' });
  return { key: { kid, kty: 'RSA-HSM', key_ops: ['import'], n: jwk.n, e: jwk.e } };
}

const codes = (input: ImportCheckInput) => checkImport(input).failures.map((f) => f.code);

describe('import-format checks: AWS KMS', () => {
  it('accepts an RSA-2048 private key wrapped with RSA_AES_KEY_WRAP_SHA_256, and the rehearsal unwraps it', () => {
    const wrapped = rsaAesWrap(W2048.publicKey, 'sha256', RSA2048_MATERIAL);
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', wrappingKeySpec: 'RSA_2048', target: 'RSA_2048', wrapped, oaepHash: 'sha256', rehearsalPrivateKey: pemOf(W2048.privateKey) });
    expect(r.failures).toEqual([]);
    expect(r.verdict).toBe('valid');
    expect(r.evidence).toMatchObject({ scheme: 'rsa-aes-kwp', oaepHash: 'sha256', wrappingKeyBits: 2048, wrappedBytes: wrapped.length, rehearsal: { unwrapped: true, oaepHash: 'sha256', materialBytes: RSA2048_MATERIAL.length } });
    expect(r.evidence.expectedWrappedBytes!.min).toBeLessThanOrEqual(wrapped.length);
    expect(r.evidence.expectedWrappedBytes!.max).toBeGreaterThanOrEqual(wrapped.length);
  });

  it('accepts 256-bit symmetric material under RSAES_OAEP_SHA_1: the blob is exactly the modulus length', () => {
    const wrapped = oaepWrap(W2048.publicKey, 'sha1', AES256);
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_1', target: 'SYMMETRIC_DEFAULT', wrapped, rehearsalPrivateKey: pemOf(W2048.privateKey) });
    expect(r.verdict).toBe('valid');
    expect(r.evidence.expectedWrappedBytes).toEqual({ min: 256, max: 256 });
  });

  it('reports an RSA private key under plain RSAES_OAEP as IMPORT_ALGORITHM_KEY_MISMATCH', () => {
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'RSA_2048' })).toContain('IMPORT_ALGORITHM_KEY_MISMATCH');
  });

  it('reports ECC_NIST_P521 with an RSA_2048 wrapping key and RSAES_OAEP as IMPORT_ALGORITHM_KEY_MISMATCH, but not with RSA_3072', () => {
    expect(P521_MATERIAL.length).toBeGreaterThan(oaepCapacity(2048, 'sha1'));
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_1', target: 'ECC_NIST_P521' })).toEqual(['IMPORT_ALGORITHM_KEY_MISMATCH']);
    const wrapped = oaepWrap(W3072.publicKey, 'sha256', P521_MATERIAL);
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(W3072.publicKey), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'ECC_NIST_P521', wrapped, rehearsalPrivateKey: pemOf(W3072.privateKey) })).toEqual([]);
  });

  it('reports the retired RSAES_PKCS1_V1_5 as IMPORT_ALGORITHM_UNSUPPORTED', () => {
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_PKCS1_V1_5', target: 'SYMMETRIC_DEFAULT' });
    expect(r.failures.map((f) => f.code)).toEqual(['IMPORT_ALGORITHM_UNSUPPORTED']);
    expect(r.failures[0]!.message).toMatch(/2023-10-10/);
  });

  it('reports a key spec KMS cannot import into as IMPORT_TARGET_UNSUPPORTED', () => {
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'RSA_1024' })).toEqual(['IMPORT_TARGET_UNSUPPORTED']);
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'ECC_NIST_P256K1' })).toEqual(['IMPORT_TARGET_UNSUPPORTED']);
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'ECC_SECG_P256K1' })).toEqual([]);
  });

  it('reports a public key that is not the declared WrappingKeySpec as IMPORT_WRAPPING_KEY_MISMATCH', () => {
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096', target: 'SYMMETRIC_DEFAULT' })).toEqual(['IMPORT_WRAPPING_KEY_MISMATCH']);
  });

  it('reports 128-bit material where SYMMETRIC_DEFAULT needs 256 bits as IMPORT_BLOB_LENGTH_MISMATCH (RSA-AES wrap)', () => {
    const wrapped = rsaAesWrap(W2048.publicKey, 'sha256', randomBytes(16));
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', target: 'SYMMETRIC_DEFAULT', wrapped });
    expect(r.failures.map((f) => f.code)).toEqual(['IMPORT_BLOB_LENGTH_MISMATCH']);
    expect(r.evidence.expectedWrappedBytes).toEqual({ min: 256 + kwpLength(32), max: 256 + kwpLength(32) });
  });

  it('reports a blob wrapped under a 3072-bit key but sent with 2048-bit parameters as IMPORT_BLOB_LENGTH_MISMATCH (RSAES_OAEP)', () => {
    const wrapped = oaepWrap(W3072.publicKey, 'sha256', AES256);
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'SYMMETRIC_DEFAULT', wrapped })).toEqual(['IMPORT_BLOB_LENGTH_MISMATCH']);
  });

  it('reports a declared SHA-1 wrap for RSAES_OAEP_SHA_256 as IMPORT_OAEP_HASH_MISMATCH', () => {
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'SYMMETRIC_DEFAULT', oaepHash: 'sha1' })).toEqual(['IMPORT_OAEP_HASH_MISMATCH']);
  });

  it('finds in a rehearsal that the material was wrapped with OAEP/SHA-1 when the algorithm says SHA-256 (IMPORT_OAEP_HASH_MISMATCH)', () => {
    const wrapped = rsaAesWrap(W2048.publicKey, 'sha1', RSA2048_MATERIAL);
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', target: 'RSA_2048', wrapped, rehearsalPrivateKey: pemOf(W2048.privateKey) });
    expect(r.failures.map((f) => f.code)).toEqual(['IMPORT_OAEP_HASH_MISMATCH']);
    expect(r.evidence.rehearsal).toEqual({ unwrapped: true, oaepHash: 'sha1', materialBytes: RSA2048_MATERIAL.length });
  });

  it('reports parameters past ParametersValidTo as IMPORT_TOKEN_EXPIRED (ISO and epoch seconds)', () => {
    const wrapped = oaepWrap(W2048.publicKey, 'sha256', AES256);
    const base = { provider: 'aws' as const, wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'SYMMETRIC_DEFAULT', wrapped };
    expect(codes({ ...base, now: NOW, params: awsParams(W2048.publicKey, '2026-06-01T11:59:59Z') })).toEqual(['IMPORT_TOKEN_EXPIRED']);
    expect(codes({ ...base, now: NOW, params: { ...awsParams(), ParametersValidTo: Date.parse('2026-06-01T11:00:00Z') / 1000 } })).toEqual(['IMPORT_TOKEN_EXPIRED']);
    expect(codes({ ...base, now: NOW, params: { ...awsParams(), ParametersValidTo: Date.parse('2026-06-01T13:00:00Z') / 1000 } })).toEqual([]);
  });

  it('reports a rehearsal blob that was wrapped for another key as IMPORT_UNWRAP_FAILED', () => {
    const wrapped = rsaAesWrap(OTHER.publicKey, 'sha256', RSA2048_MATERIAL);
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', target: 'RSA_2048', wrapped, rehearsalPrivateKey: pemOf(W2048.privateKey) });
    expect(r.failures.map((f) => f.code)).toEqual(['IMPORT_UNWRAP_FAILED']);
    expect(r.evidence.rehearsal).toEqual({ unwrapped: false });
  });

  it('reports a tampered AES-KWP block as IMPORT_UNWRAP_FAILED in a rehearsal', () => {
    const wrapped = rsaAesWrap(W2048.publicKey, 'sha256', AES256);
    wrapped[wrapped.length - 1]! ^= 1;
    expect(codes({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', target: 'SYMMETRIC_DEFAULT', wrapped, rehearsalPrivateKey: pemOf(W2048.privateKey) })).toEqual(['IMPORT_UNWRAP_FAILED']);
  });

  it('reports parameters that are not GetParametersForImport output as DECODE_FAILED', () => {
    expect(codes({ provider: 'aws', now: NOW, params: { KeyId: 'k' }, wrappingAlgorithm: 'RSAES_OAEP_SHA_256' })).toEqual(['DECODE_FAILED']);
  });

  it('warns IMPORT_CHECK_LIMITED when no wrapped blob or algorithm is given, and stays valid', () => {
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), target: 'SYMMETRIC_DEFAULT' });
    expect(r.verdict).toBe('valid');
    expect(r.warnings.map((w) => w.code)).toEqual(['IMPORT_CHECK_LIMITED']);
  });
});

describe('import-format checks: GCP import jobs', () => {
  it('accepts an EC P-256 key wrapped with RSA_OAEP_3072_SHA256_AES_256 under the job key', () => {
    const wrapped = rsaAesWrap(W3072.publicKey, 'sha256', P256_MATERIAL);
    const r = checkImport({ provider: 'gcp', now: NOW, params: gcpJob(), target: 'EC_SIGN_P256_SHA256', wrapped, rehearsalPrivateKey: pemOf(W3072.privateKey) });
    expect(r.failures).toEqual([]);
    expect(r.evidence).toMatchObject({ keyId: gcpJob().name, scheme: 'rsa-aes-kwp', oaepHash: 'sha256', wrappingKeyBits: 3072, expiresAt: '2026-06-03T12:00:00.000Z' });
  });

  it('reports RSA_OAEP_3072_SHA256 for an RSA key as IMPORT_ALGORITHM_KEY_MISMATCH', () => {
    expect(codes({ provider: 'gcp', now: NOW, params: gcpJob({ importMethod: 'RSA_OAEP_3072_SHA256' }), target: 'RSA_SIGN_PKCS1_2048_SHA256' })).toContain('IMPORT_ALGORITHM_KEY_MISMATCH');
  });

  it('reports an unknown import method as IMPORT_ALGORITHM_UNSUPPORTED', () => {
    expect(codes({ provider: 'gcp', now: NOW, params: gcpJob({ importMethod: 'RSA_OAEP_2048_SHA1_AES_256' }), target: 'GOOGLE_SYMMETRIC_ENCRYPTION' })).toEqual(['IMPORT_ALGORITHM_UNSUPPORTED']);
  });

  it('reports a job whose public key is not the size its method names as IMPORT_WRAPPING_KEY_MISMATCH', () => {
    expect(codes({ provider: 'gcp', now: NOW, params: gcpJob({ importMethod: 'RSA_OAEP_4096_SHA1_AES_256' }), target: 'GOOGLE_SYMMETRIC_ENCRYPTION' })).toEqual(['IMPORT_WRAPPING_KEY_MISMATCH']);
  });

  it('reports an expired job (past expireTime, past createTime + 3 days, or state EXPIRED) as IMPORT_TOKEN_EXPIRED', () => {
    const base = { provider: 'gcp' as const, target: 'GOOGLE_SYMMETRIC_ENCRYPTION' };
    expect(codes({ ...base, now: new Date('2026-06-03T12:00:01Z'), params: gcpJob() })).toEqual(['IMPORT_TOKEN_EXPIRED']);
    expect(codes({ ...base, now: new Date('2026-06-03T12:00:01Z'), params: gcpJob({ expireTime: undefined }) })).toEqual(['IMPORT_TOKEN_EXPIRED']);
    expect(codes({ ...base, now: NOW, params: gcpJob({ state: 'EXPIRED' }) })).toEqual(['IMPORT_TOKEN_EXPIRED']);
  });

  it('reports direct-OAEP material of the wrong size as IMPORT_MATERIAL_MISMATCH in a rehearsal', () => {
    const wrapped = oaepWrap(W3072.publicKey, 'sha256', randomBytes(16));
    const r = checkImport({ provider: 'gcp', now: NOW, params: gcpJob({ importMethod: 'RSA_OAEP_3072_SHA256' }), target: 'AES_256_GCM', wrapped, rehearsalPrivateKey: pemOf(W3072.privateKey) });
    expect(r.failures.map((f) => f.code)).toEqual(['IMPORT_MATERIAL_MISMATCH']);
    expect(r.evidence.rehearsal).toEqual({ unwrapped: true, oaepHash: 'sha256', materialBytes: 16 });
  });

  it('reports a PKCS#8 key of another curve as IMPORT_MATERIAL_MISMATCH in a rehearsal', () => {
    const wrapped = rsaAesWrap(W3072.publicKey, 'sha256', pkcs8({ ec: 'secp256k1' }));
    expect(codes({ provider: 'gcp', now: NOW, params: gcpJob(), target: 'EC_SIGN_P256_SHA256', wrapped, rehearsalPrivateKey: pemOf(W3072.privateKey) })).toEqual(['IMPORT_MATERIAL_MISMATCH']);
  });
});

describe('import-format checks: Azure .byok files', () => {
  it('accepts an RSA-2048 target wrapped per the BYOK specification (OAEP/SHA-1 + AES-KWP) with its KEK', () => {
    const ct = rsaAesWrap(W2048.publicKey, 'sha1', RSA2048_MATERIAL);
    const r = checkImport({ provider: 'azure', now: NOW, byok: byok(ct), kek: { json: kekJson() }, target: 'RSA-HSM:2048', rehearsalPrivateKey: pemOf(W2048.privateKey) });
    expect(r.failures).toEqual([]);
    expect(r.evidence).toMatchObject({ kekId: KID, wrappingAlgorithm: 'CKM_RSA_AES_KEY_WRAP', oaepHash: 'sha1', wrappingKeyBits: 2048, rehearsal: { unwrapped: true } });
  });

  it('reports a header that is not alg "dir" / enc CKM_RSA_AES_KEY_WRAP as IMPORT_BYOK_HEADER_INVALID', () => {
    const ct = rsaAesWrap(W2048.publicKey, 'sha1', AES256);
    expect(codes({ provider: 'azure', now: NOW, byok: byok(ct, { enc: 'RSA-OAEP-256' }), kek: { pem: pemOf(W2048.publicKey) }, target: 'oct:256' })).toEqual(['IMPORT_BYOK_HEADER_INVALID']);
    expect(codes({ provider: 'azure', now: NOW, byok: { header: { kid: KID } }, target: 'oct:256' })).toEqual(['IMPORT_BYOK_HEADER_INVALID']);
  });

  it('reports a .byok file made for another KEK as IMPORT_KEK_MISMATCH', () => {
    const ct = rsaAesWrap(W2048.publicKey, 'sha1', AES256);
    expect(codes({ provider: 'azure', now: NOW, byok: byok(ct), kek: { json: kekJson(W2048.publicKey, `${KID}-other`) }, target: 'oct:256' })).toEqual(['IMPORT_KEK_MISMATCH']);
  });

  it('reports a KEK that is not RSA 2048/3072/4096 as IMPORT_WRAPPING_KEY_MISMATCH', () => {
    const small = rsaPair(1024);
    const ct = rsaAesWrap(small.publicKey, 'sha1', AES256);
    expect(codes({ provider: 'azure', now: NOW, byok: byok(ct), kek: { json: kekJson(small.publicKey) }, target: 'oct:256' })).toEqual(['IMPORT_WRAPPING_KEY_MISMATCH']);
  });

  it('reports a ciphertext too short for the target, with or without the KEK, as IMPORT_BLOB_LENGTH_MISMATCH', () => {
    const aes = randomBytes(32);
    const ct = Buffer.concat([oaepWrap(W2048.publicKey, 'sha1', aes), kwpWrap(aes, randomBytes(16))]);
    expect(codes({ provider: 'azure', now: NOW, byok: byok(ct), kek: { json: kekJson() }, target: 'RSA:2048' })).toEqual(['IMPORT_BLOB_LENGTH_MISMATCH']);
    expect(codes({ provider: 'azure', now: NOW, byok: byok(ct), target: 'RSA:2048' })).toEqual(['IMPORT_BLOB_LENGTH_MISMATCH']);
  });

  it('reports material wrapped with OAEP/SHA-256 as IMPORT_OAEP_HASH_MISMATCH in a rehearsal (the specification says SHA-1)', () => {
    const ct = rsaAesWrap(W2048.publicKey, 'sha256', AES256);
    expect(codes({ provider: 'azure', now: NOW, byok: byok(ct), kek: { json: kekJson() }, target: 'oct:256', rehearsalPrivateKey: pemOf(W2048.privateKey) })).toEqual(['IMPORT_OAEP_HASH_MISMATCH']);
  });

  it('reports an oct key of 512 bits as IMPORT_TARGET_UNSUPPORTED', () => {
    const ct = rsaAesWrap(W2048.publicKey, 'sha1', AES256);
    expect(codes({ provider: 'azure', now: NOW, byok: byok(ct), kek: { json: kekJson() }, target: 'oct:512' })).toEqual(['IMPORT_TARGET_UNSUPPORTED']);
  });
});

describe('provider error mapping', () => {
  it.each([
    ['aws', 'An error occurred (ExpiredImportTokenException) when calling the ImportKeyMaterial operation', 'IMPORT_TOKEN_EXPIRED'],
    ['aws', 'InvalidCiphertextException', 'IMPORT_PROVIDER_CIPHERTEXT_REJECTED'],
    ['aws', 'InvalidImportTokenException: token is for another key', 'IMPORT_PROVIDER_TOKEN_INVALID'],
    ['aws', 'IncorrectKeyMaterialException', 'IMPORT_PROVIDER_KEY_MATERIAL_REJECTED'],
    ['gcp', 'FAILED_PRECONDITION: ImportJob projects/p/locations/l/keyRings/r/importJobs/j is expired', 'IMPORT_TOKEN_EXPIRED'],
    ['azure', '(BadParameter) Invalid BYOK blob', 'IMPORT_PROVIDER_BLOB_REJECTED'],
    ['aws', 'KMSInternalException', 'IMPORT_PROVIDER_ERROR_UNKNOWN'],
    ['azure', '(BadParameter) key size not supported', 'IMPORT_PROVIDER_ERROR_UNKNOWN'],
  ] as const)('maps %s "%s" to %s', (provider, error, code) => {
    expect(mapProviderError(provider, error).code).toBe(code);
  });

  it('adds the mapped provider error to an otherwise clean check, which turns it invalid', () => {
    const wrapped = oaepWrap(W2048.publicKey, 'sha256', AES256);
    const r = checkImport({ provider: 'aws', now: NOW, params: awsParams(), wrappingAlgorithm: 'RSAES_OAEP_SHA_256', target: 'SYMMETRIC_DEFAULT', wrapped, providerError: 'InvalidCiphertextException' });
    expect(r.verdict).toBe('invalid');
    expect(r.failures.map((f) => f.code)).toEqual(['IMPORT_PROVIDER_CIPHERTEXT_REJECTED']);
  });
});
